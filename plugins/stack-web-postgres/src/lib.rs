//! `stack-web-postgres`: a stack template for a three-tier web application.
//!
//! It renders three services:
//!
//! - `db`: PostgreSQL (image `postgres_image`), data in the named volume `pgdata` at
//!   `/var/lib/postgresql/data`, ready when `pg_isready` (run inside it) says it accepts queries; it `provides`
//!   `DATABASE_URL=postgres://USER:PASSWORD@db:5432/NAME` (user and password percent-encoded) to
//!   the services depending on it;
//! - `api`: the backend (image `api_image`, or built from `api_repository` by the engine's
//!   build strategies, with `PORT=8080`; it has no image until its first build succeeds) on
//!   port 8080, ready when `GET /healthz` answers
//!   2xx/3xx (it checks the database), live while `GET /livez` does, started once `db` is
//!   healthy;
//! - `web`: the frontend (image `web_image`) on port 80, ready and live when `GET /` answers,
//!   published on the Docker host at `web_port` (or a port Docker picks), with
//!   `API_URL=http://api:8080`, started once `api` is healthy.
//!
//! # Parameters
//!
//! | name             | type    | default                    | notes                          |
//! |------------------|---------|----------------------------|--------------------------------|
//! | `web_replicas`   | integer | `1`                        | 1 to 20                        |
//! | `api_replicas`   | integer | `1`                        | 1 to 20                        |
//! | `db_name`        | text    | `app`                      | identifier: `[a-z][a-z0-9_]*`, at most 63 characters |
//! | `db_user`        | text    | `app`                      | identifier, as `db_name`       |
//! | `db_password`    | text    | required                   | secret; no control characters  |
//! | `postgres_image` | text    | config `default_postgres_image`, else `local/postgres:15` | |
//! | `api_image`      | text    | `local/windlass-demo-api:1` |                               |
//! | `api_repository` | text    | empty: run `api_image`     | build `api` from this git repository (https, ssh, a path) instead |
//! | `api_ref`        | text    | empty: the default branch  | branch, tag or commit; needs `api_repository` |
//! | `api_subdirectory` | text  | empty: the top             | relative, no `..`; needs `api_repository` |
//! | `web_image`      | text    | `local/windlass-demo-web:1` |                               |
//! | `web_port`       | integer | empty: Docker picks a port | 1 to 65535; needs `web_replicas` = 1 |
//!
//! The contract has no "optional without default" parameter, so `web_port` defaults to the
//! empty string, which means "not set".
//!
//! Errors are `plugin-error`s with `field` = the parameter: `unknown-parameter` for a name not
//! in the table, `missing-parameter` for `db_password`, `invalid-parameter` for a value that
//! does not parse, is out of range or is not a valid identifier or image (also for a parameter
//! given twice).
//!
//! `$` in the password is written `$$` in `POSTGRES_PASSWORD`, since the engine interpolates
//! `${...}` in environment values.

mod template;

use windlass_plugin_sdk::types::{PluginError, StackSpec, TemplateInfo};

/// The template.
struct WebPostgres;

impl windlass_plugin_sdk::StackTemplate for WebPostgres {
    fn describe() -> TemplateInfo {
        template::describe(&windlass_plugin_sdk::config::get)
    }

    fn render(params: Vec<(String, String)>) -> Result<StackSpec, PluginError> {
        template::render(&windlass_plugin_sdk::config::get, &params)
    }
}

windlass_plugin_sdk::export_stack_template!(WebPostgres);
