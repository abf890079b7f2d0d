//! `v0-1-adapter-loopback`: the loopback adapter (`plugins/adapter-loopback`) built against
//! `windlass:plugin@0.1.0` with the 0.1.0 SDK. It speaks the same protocol through the same
//! module (`adapter-loopback/src/protocol.rs`); only the 0.1.0 entry points differ: `deploy`
//! takes the bare service (the host puts the engine's labels into its labels), and there is no
//! `describe` or any other 0.2.0 function.

#[path = "../../../adapter-loopback/src/protocol.rs"]
mod protocol;

use windlass_plugin_sdk::types::{
    AdapterError, ContainerFilter, ContainerInfo, DeploymentRef, DeploymentStatus, ServiceSpec,
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
    fn deploy(service: ServiceSpec) -> Result<DeploymentRef, AdapterError> {
        client()?.deploy(&service, &[])
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
