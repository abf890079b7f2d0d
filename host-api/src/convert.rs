//! Values of a 0.1.0 component, converted to and from the host's 0.2.0 types.
//!
//! 0.2.0 only adds to 0.1.0 (fields, variant cases, enum cases, functions), and the generated
//! types of both versions derive serde with the same field and case names. So a value goes
//! through `serde_json::Value`:
//!
//! - up (0.1.0 → 0.2.0, what a 0.1.0 guest returns): a field 0.2.0 added is an `option`, which
//!   serde fills with none; the one exception, `deployment-status.tasks`, is converted by hand;
//! - down (0.2.0 → 0.1.0, what the host passes a 0.1.0 guest): the fields 0.2.0 added are
//!   dropped (serde ignores unknown fields).
//!
//! A value that does not convert is a host bug, reported as a failed call (never a panic); the
//! tests of this module convert every type that crosses the boundary.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::v0_1;
use crate::types as v2;

/// The 0.1.0 adapter interface's own types.
pub(crate) use v0_1::cloud_adapter::exports::windlass::plugin::adapter as v1_adapter;
/// The 0.1.0 types (the shared `types` interface).
pub(crate) use v0_1::stack_template::windlass::plugin::types as v1;

/// Converts a value between the two versions' types through its serde form.
pub(crate) fn convert<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value)?;
    serde_json::from_value(json).map_err(|e| {
        wasmtime::format_err!(
            "cannot convert a `{}` between contract versions: {e}",
            std::any::type_name::<B>()
        )
    })
}

/// A 0.1.0 deployment status as 0.2.0's: no update state, no tasks.
pub(crate) fn deployment_status_up(
    status: v1_adapter::DeploymentStatus,
) -> wasmtime::Result<v2::DeploymentStatus> {
    Ok(v2::DeploymentStatus {
        deployment: convert(&status.deployment)?,
        phase: convert(&status.phase)?,
        desired_replicas: status.desired_replicas,
        running_replicas: status.running_replicas,
        message: status.message,
        update_state: None,
        tasks: Vec::new(),
    })
}

/// The 0.1.0 `deploy` argument for a 0.2.0 request: its service, with the engine's labels
/// added to the service's own (0.1.0 has no other place for them). The org, stack, network and
/// update policy have no 0.1.0 form and are dropped.
pub(crate) fn deploy_request_down(
    request: &v2::DeployRequest,
) -> wasmtime::Result<v1::ServiceSpec> {
    let mut service: v1::ServiceSpec = convert(&request.service)?;
    for (key, value) in &request.labels {
        service.labels.retain(|(k, _)| k != key);
        service.labels.push((key.clone(), value.clone()));
    }
    Ok(service)
}

/// What `describe` answers for a 0.1.0 adapter, which has no `describe`: the plugin's name, an
/// empty platform and version (0.1.0 cannot say), and the capabilities of 0.1.0 — deploy,
/// status, scale, remove and list-containers, none of the optional ones.
pub(crate) fn adapter_info_v0_1(plugin: &str) -> v2::AdapterInfo {
    v2::AdapterInfo {
        name: plugin.to_owned(),
        platform: String::new(),
        version: String::new(),
        capabilities: v2::Capabilities {
            read_only: false,
            rolling_update: false,
            rollback: false,
            networks: false,
            volumes: false,
            logs: false,
            nodes: false,
            inventory: false,
        },
    }
}

/// The answer of a 0.2.0-only adapter function on a 0.1.0 adapter.
pub(crate) fn unsupported_v0_1(function: &str, version: &semver::Version) -> v2::AdapterError {
    v2::AdapterError::Unsupported(format!(
        "`{function}` is not in windlass:plugin@{version}, which this adapter was built against \
         (it needs 0.2.0)"
    ))
}
