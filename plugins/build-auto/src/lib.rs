//! `build-auto`: a build strategy in the style of Nixpacks/Railpack. It recognises a source
//! tree by its files and writes a multi-stage Dockerfile for it (returned inline: nothing is
//! pulled or run here; the host builds the plan).
//!
//! # What it recognises
//!
//! | language | files                                        | reads                                                                                     | confidence |
//! |----------|----------------------------------------------|-------------------------------------------------------------------------------------------|------------|
//! | `rust`   | `Cargo.toml`                                 | the binary: `default-run`, `[package] name` with `src/main.rs`, `[[bin]]`, else the first workspace member with one; `rust-toolchain(.toml)` | 95 (package), 85/70 (workspace: one/several binaries), 30 (no binary: plan fails) |
//! | `go`     | `go.mod`                                     | `module` (binary name: last segment, `/vN` dropped), `go` version; `main.go` or `cmd/*/main.go` | 95 (`main.go`), 90 (`cmd/`), 60 |
//! | `node`   | `package.json`                               | package manager from `packageManager` or the lockfile (`bun.lock(b)`, `pnpm-lock.yaml`, `yarn.lock`, `package-lock.json`; else npm); framework `next`, `vite` or `express` from the dependencies; `scripts.start`/`build`; `main`; `engines.node` | 90 with a way to start, else 60 |
//! | `python` | `requirements.txt`, `pyproject.toml`, `Pipfile` | dependencies → framework `django`, `fastapi` or `flask`; the entry (`manage.py`, `app.py`, `main.py`...); `.python-version`/`runtime.txt` | 90 (framework and entry), 75 (entry), 60 |
//! | `static` | `index.html`, and nothing above matched     |                                                                                           | 50 |
//!
//! A manifest that does not parse still detects (confidence 40) so the operator learns what
//! the tree is, but `plan` fails with `invalid-input` saying what is wrong.
//!
//! **Priority.** When several match (a Django app with a `package.json` for its assets), the
//! highest confidence wins; ties go, in order, to rust, go, python, node. `static` only
//! matches when nothing else does.
//!
//! # What it plans
//!
//! | language | build stage                      | runtime stage                       | start | port |
//! |----------|----------------------------------|-------------------------------------|-------|------|
//! | rust     | `rust:1-slim` (or the pinned version): `cargo fetch`, `cargo build --release` | `debian:bookworm-slim` | `/usr/local/bin/BIN` | 8080 |
//! | go       | `golang:X.Y` from `go.mod`: `go mod download`, `CGO_ENABLED=0 go build` | `gcr.io/distroless/static-debian12` | `/usr/local/bin/BIN` | 8080 |
//! | node     | `node:20-slim` (or `engines.node`; `oven/bun:1` for bun): install, `run build` if present | the same image, `NODE_ENV=production` | `scripts.start`, `next start`, `node MAIN` | 8080 |
//! | node + vite without a start script | as above, `run build` | `nginx:alpine` serving `dist/` | nginx | 80 |
//! | python   | `python:3.12-slim` (or the pinned version): a venv, pip/pipenv install | the same image with the venv | gunicorn/uvicorn/flask/`manage.py runserver`/`python main.py` | 8080 |
//! | static   | —                                | `nginx:alpine` serving the tree     | nginx | 80 |
//!
//! A Python application whose only manifest is an empty `requirements.txt` (standard library
//! only) and a Node.js package with no dependencies, lockfile or build script get one stage
//! with no install step (no pip, virtual environment or package manager is needed).
//!
//! # Base images (plugin config)
//!
//! Every image above is a default that the plugin's config replaces (windlass.toml:
//! `[[plugins]] ... config = { python_image = "windlass-test/python:3" }`), so a host without
//! a registry builds from images it has. `{version}` in a value is replaced by the version the
//! tree asks for; a value without it is used as is. An unknown key or a value that is not one
//! word fails the plan with `invalid-config` naming the key.
//!
//! | key | default |
//! |-----|---------|
//! | `rust_image` | `rust:{version}-slim` (the pinned toolchain, else `1`) |
//! | `rust_runtime_image` | `debian:bookworm-slim` |
//! | `go_image` | `golang:{version}` (`X.Y` from `go.mod`, else `1`) |
//! | `go_runtime_image` | `gcr.io/distroless/static-debian12` |
//! | `node_image` | `node:{version}-slim` (the major from `engines.node`, else 20) |
//! | `bun_image`, `bun_runtime_image` | `oven/bun:1`, `oven/bun:1-slim` |
//! | `python_image` | `python:{version}-slim` (from `.python-version`/`runtime.txt`, else 3.12) |
//! | `static_image` | `nginx:alpine` |
//! | `static_server` | `nginx` (files in `/usr/share/nginx/html`); `busybox`: BusyBox `httpd -f -p 80 -h /www` |
//!
//! Applications get `PORT=8080` in their environment. The phases (`install`, `build`,
//! `start`) repeat the Dockerfile's steps for display. Build arguments are passed through and
//! declared with `ARG` in the build stage (names must be `[A-Za-z_][A-Za-z0-9_]*`).
//! `options.subdirectory` (relative, no `..`) selects the directory looked at; it is the
//! build context.
//!
//! An unrecognised tree: `detect` answers none and `plan` fails with `no-match`, listing the
//! files looked for. A Node or Python project without a way to start also fails with
//! `no-match`, saying what to add.

mod detect;
mod images;
mod write;

use std::path::{Path, PathBuf};

use windlass_plugin_sdk::types::{
    BuildOptions, BuildPlan, Detection, DockerfileSource, PluginError,
};

/// The strategy.
struct Auto;

impl windlass_plugin_sdk::BuildStrategy for Auto {
    fn detect(source_dir: String) -> Option<Detection> {
        detect(Path::new(&source_dir))
    }

    fn plan(source_dir: String, options: BuildOptions) -> Result<BuildPlan, PluginError> {
        plan(
            Path::new(&source_dir),
            options,
            &windlass_plugin_sdk::config::all(),
        )
    }
}

windlass_plugin_sdk::export_build_strategy!(Auto);

/// The files whose presence the detectors look for, for the `no-match` message.
const LOOKED_FOR: &str = "Cargo.toml (Rust), go.mod (Go), package.json (Node.js), requirements.txt / pyproject.toml / Pipfile (Python) or index.html (static site)";

fn detect(root: &Path) -> Option<Detection> {
    let project = detect::best(root)?;
    Some(Detection {
        language: project.language.to_owned(),
        framework: project.framework.map(str::to_owned),
        confidence: project.confidence,
        evidence: project.evidence,
    })
}

/// Plans the build of `root` with the plugin's `config` (key, value pairs: the base images).
fn plan(
    root: &Path,
    options: BuildOptions,
    config: &[(String, String)],
) -> Result<BuildPlan, PluginError> {
    let sub = options.checked_subdirectory()?;
    let dir: PathBuf = match &sub {
        Some(sub) => root.join(sub),
        None => root.to_path_buf(),
    };
    for (name, _) in &options.build_args {
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(PluginError::invalid_input(format!(
                "build argument name `{name}` must match [A-Za-z_][A-Za-z0-9_]*"
            ))
            .with_field("build-args"));
        }
    }
    let Some(project) = detect::best(&dir) else {
        let where_ = sub.as_deref().map_or_else(
            || "the root of the source tree".to_owned(),
            |s| format!("`{s}`"),
        );
        return Err(PluginError::no_match(format!(
            "build-auto does not recognise {where_}: looked for {LOOKED_FOR}; add one of them, or a Dockerfile and use build-dockerfile"
        )));
    };
    let recipe = project.recipe?;
    let images = images::Images::load(config)?;
    let arg_names: Vec<String> = options.build_args.iter().map(|(n, _)| n.clone()).collect();
    let written = write::write(&recipe, &images, &arg_names)?;
    windlass_plugin_sdk::debug!(
        "build-auto: {} ({}) with confidence {}",
        project.language,
        project.framework.unwrap_or("no framework"),
        project.confidence
    );
    Ok(BuildPlan {
        language: project.language.to_owned(),
        dockerfile: DockerfileSource::Inline(written.dockerfile),
        context: sub.unwrap_or_else(|| ".".to_owned()),
        build_args: options.build_args,
        phases: written.phases,
        start_command: Some(written.start),
        ports: written.ports,
        image_tag: options.image_tag,
        builder: None,
    })
}

#[cfg(test)]
mod tests;
