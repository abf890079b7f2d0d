//! The `cloud-adapter` world.

use super::guest_call;
use crate::types::{
    AdapterError, ContainerFilter, ContainerInfo, DeploymentRef, DeploymentStatus, ServiceSpec,
};
use crate::{CallError, Plugin};

/// A cloud adapter plugin: drives another platform over HTTP, only to granted hosts.
#[derive(Debug, Clone)]
pub struct CloudAdapter(pub(crate) Plugin);

impl CloudAdapter {
    /// The plugin behind the handle.
    pub fn plugin(&self) -> &Plugin {
        &self.0
    }

    /// Creates or updates the deployment of a service.
    pub async fn deploy(
        &self,
        service: &ServiceSpec,
    ) -> Result<Result<DeploymentRef, AdapterError>, CallError> {
        guest_call!(self.0, CloudAdapter, "deploy", &[], |guest, store| guest
            .windlass_plugin_adapter()
            .call_deploy(store, service))
    }

    /// Reads a deployment's status.
    pub async fn status(
        &self,
        deployment: &DeploymentRef,
    ) -> Result<Result<DeploymentStatus, AdapterError>, CallError> {
        guest_call!(self.0, CloudAdapter, "status", &[], |guest, store| guest
            .windlass_plugin_adapter()
            .call_status(store, deployment))
    }

    /// Sets the number of replicas.
    pub async fn scale(
        &self,
        deployment: &DeploymentRef,
        replicas: u32,
    ) -> Result<Result<(), AdapterError>, CallError> {
        guest_call!(self.0, CloudAdapter, "scale", &[], |guest, store| guest
            .windlass_plugin_adapter()
            .call_scale(store, deployment, replicas))
    }

    /// Removes a deployment; removing a missing one succeeds.
    pub async fn remove(
        &self,
        deployment: &DeploymentRef,
    ) -> Result<Result<(), AdapterError>, CallError> {
        guest_call!(self.0, CloudAdapter, "remove", &[], |guest, store| guest
            .windlass_plugin_adapter()
            .call_remove(store, deployment))
    }

    /// Lists containers on the platform.
    pub async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Result<Vec<ContainerInfo>, AdapterError>, CallError> {
        guest_call!(
            self.0,
            CloudAdapter,
            "list-containers",
            &[],
            |guest, store| guest
                .windlass_plugin_adapter()
                .call_list_containers(store, filter)
        )
    }
}
