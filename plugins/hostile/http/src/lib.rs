//! `hostile-http`: a cloud adapter that calls a host it was (normally) not granted.
//!
//! Every function 0.1.0 had sends `GET` to the URL in plugin config `target` (default
//! `http://127.0.0.1:9/`) and returns the failure as its `adapter-error`: the host's denial
//! arrives as `denied(message)` with the host's message verbatim (see the SDK's `http`
//! module). Should the request get a response, the call fails with `unavailable` naming the
//! status. Host tests use this plugin to prove that the HTTP allow-list holds.

use windlass_plugin_sdk::types::{
    AdapterError, AdapterInfo, Capabilities, ContainerFilter, ContainerInfo, DeployRequest,
    DeploymentRef, DeploymentStatus,
};

/// The adapter.
struct Reach;

const DEFAULT_TARGET: &str = "http://127.0.0.1:9/";

/// Makes the request; always an error.
fn reach<T>() -> Result<T, AdapterError> {
    let target =
        windlass_plugin_sdk::config::get("target").unwrap_or_else(|| DEFAULT_TARGET.to_owned());
    let response = windlass_plugin_sdk::http::get(&target)?;
    Err(AdapterError::Unavailable(format!(
        "hostile-http: GET {target} was not refused: it answered HTTP {}",
        response.status
    )))
}

impl windlass_plugin_sdk::CloudAdapter for Reach {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "hostile-http".into(),
            platform: "none".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: Capabilities::NONE,
        }
    }

    fn deploy(_request: DeployRequest) -> Result<DeploymentRef, AdapterError> {
        reach()
    }

    fn status(_deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError> {
        reach()
    }

    fn scale(_deployment: DeploymentRef, _replicas: u32) -> Result<(), AdapterError> {
        reach()
    }

    fn remove(_deployment: DeploymentRef) -> Result<(), AdapterError> {
        reach()
    }

    fn list_containers(_filter: ContainerFilter) -> Result<Vec<ContainerInfo>, AdapterError> {
        reach()
    }
}

windlass_plugin_sdk::export_cloud_adapter!(Reach);
