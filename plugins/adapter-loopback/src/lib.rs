//! `adapter-loopback`: the reference cloud adapter. It drives a platform speaking a small JSON
//! REST protocol at the base URL in plugin config `endpoint` (e.g. `http://127.0.0.1:8123`;
//! the operator must also grant the adapter that host).
//!
//! # Protocol
//!
//! All bodies are JSON (`content-type: application/json`); `{id}` and `{name}` are
//! percent-encoded path segments. Unknown response fields are ignored.
//!
//! | call              | request                                              | success response |
//! |-------------------|------------------------------------------------------|------------------|
//! | `deploy`          | `PUT /v1/deployments/{service name}` with `{"name": s, "image": s, "replicas": n, "env": {k: v}, "labels": {k: v}}` | 200 or 201, `{"id": s, "name": s}` |
//! | `status`          | `GET /v1/deployments/{id}`                           | 200, `{"id": s, "name": s, "desired": n, "running": n, "phase": "pending"\|"running"\|"degraded"\|"failed", "message": s or null}` |
//! | `scale`           | `POST /v1/deployments/{id}/scale` with `{"replicas": n}` | 200 (any 2xx; the body is ignored) |
//! | `remove`          | `DELETE /v1/deployments/{id}`                        | 200 (any 2xx), or 404: removing a missing deployment succeeds |
//! | `list-containers` | `GET /v1/containers`                                 | 200, `[{"id": s, "name": s, "image": s, "state": s, "labels": {k: v}, "created_ms": n}]` |
//!
//! `deploy` is idempotent by service name: the platform creates or updates. `env` and `labels`
//! are objects (a key given twice keeps its last value; `labels` are the service's, then the
//! deploy request's engine labels over them). `status` fields `id`,
//! `name` and `message` may be omitted (the reference's `id` and `name` are used);
//! `list-containers` fields `labels` and `created_ms` may be omitted. The adapter applies the
//! container filter itself (all filter labels must match exactly; `name-prefix` is a prefix of
//! `name`).
//!
//! # Errors
//!
//! | what happened                                         | `adapter-error`                  |
//! |-------------------------------------------------------|----------------------------------|
//! | HTTP 404 (except for `remove`)                        | `not-found`                      |
//! | HTTP 429                                              | `rate-limited`: `retry-after` seconds × 1000 ms (1000 without the header) |
//! | HTTP 401, 403                                         | `denied`                         |
//! | other HTTP 4xx                                        | `invalid`                        |
//! | HTTP 5xx, connection/DNS/TLS/timeout failures, a 2xx body that does not parse | `unavailable` |
//! | the host refuses the request (host not granted)       | `denied`, with the host's message verbatim |
//! | config `endpoint` missing or not an `http(s)://` URL  | `invalid`                        |
//!
//! (The status and transport mapping is the SDK's: `windlass_plugin_sdk::http`.)
//!
//! The functions `windlass:plugin@0.2.0` added beyond those above (rollback, logs, networks,
//! nodes, inventory) answer `unsupported` (the SDK's defaults), and `describe` says so.

mod protocol;

use windlass_plugin_sdk::types::{
    AdapterError, AdapterInfo, Capabilities, ContainerFilter, ContainerInfo, DeployRequest,
    DeploymentRef, DeploymentStatus,
};

/// The adapter.
struct Loopback;

fn client() -> Result<protocol::Client<protocol::WasiHttp>, AdapterError> {
    protocol::Client::new(
        windlass_plugin_sdk::config::get("endpoint"),
        protocol::WasiHttp,
    )
}

impl windlass_plugin_sdk::CloudAdapter for Loopback {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "loopback".into(),
            platform: "loopback".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: Capabilities::NONE,
        }
    }

    fn deploy(request: DeployRequest) -> Result<DeploymentRef, AdapterError> {
        client()?.deploy(&request.service, &request.labels)
    }

    fn status(deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError> {
        client()?.status(&deployment)
    }

    fn scale(deployment: DeploymentRef, replicas: u32) -> Result<(), AdapterError> {
        client()?.scale(&deployment, replicas)
    }

    fn remove(deployment: DeploymentRef) -> Result<(), AdapterError> {
        client()?.remove(&deployment)
    }

    fn list_containers(filter: ContainerFilter) -> Result<Vec<ContainerInfo>, AdapterError> {
        client()?.list_containers(&filter)
    }
}

windlass_plugin_sdk::export_cloud_adapter!(Loopback);
