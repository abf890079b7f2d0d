//! The `cloud-adapter` world.
//!
//! A 0.1.0 adapter has deploy, status, scale, remove and list-containers; the functions 0.2.0
//! added answer [`AdapterError::Unsupported`] for it without calling the guest, and `describe`
//! answers the capabilities 0.1.0 had (`convert::adapter_info_v0_1`).

use super::guest_call;
use crate::convert::{
    adapter_info_v0_1, convert, deploy_request_down, deployment_status_up, unsupported_v0_1, v1,
    v1_adapter,
};
use crate::types::{
    AdapterError, AdapterInfo, ContainerFilter, ContainerInfo, DeployRequest, DeploymentRef,
    DeploymentStatus, Group, GroupPage, JoinInfo, LogLine, NodeAvailability, NodeInfo, NodeRole,
};
use crate::{CallError, Plugin};

/// The answer of an adapter function that may fail on the platform's side.
type Answer<T> = Result<Result<T, AdapterError>, CallError>;

/// A function 0.2.0 added: `Unsupported` for a 0.1.0 adapter, else the 0.2.0 call.
macro_rules! v0_2_only {
    ($self:ident, $function:literal, |$guest:ident, $store:ident| $call:expr) => {{
        if $self.0.is_v0_1() {
            return Ok(Err(unsupported_v0_1(
                $function,
                &$self.0.contract_version(),
            )));
        }
        guest_call!($self.0, $function, &[], {
            CloudAdapter => |$guest, $store| $call,
        })
    }};
}

/// A cloud adapter plugin: drives another platform over HTTP, only to granted hosts.
#[derive(Debug, Clone)]
pub struct CloudAdapter(pub(crate) Plugin);

impl CloudAdapter {
    /// The plugin behind the handle.
    pub fn plugin(&self) -> &Plugin {
        &self.0
    }

    /// What the adapter is and what it can do. A 0.1.0 adapter is not called: the answer is
    /// its plugin name and the capabilities of 0.1.0 (none of the optional ones).
    pub async fn describe(&self) -> Result<AdapterInfo, CallError> {
        if self.0.is_v0_1() {
            return Ok(adapter_info_v0_1(self.0.name()));
        }
        guest_call!(self.0, "describe", &[], {
            CloudAdapter => |guest, store| guest.windlass_plugin_adapter().call_describe(store),
        })
    }

    /// Creates or updates the deployment of a service. A 0.1.0 adapter gets the request's
    /// service, with the request's labels added to the service's (see `convert`).
    pub async fn deploy(&self, request: &DeployRequest) -> Answer<DeploymentRef> {
        guest_call!(self.0, "deploy", &[], {
            CloudAdapter => |guest, store| guest.windlass_plugin_adapter().call_deploy(store, request),
            CloudAdapterV0_1 => |guest, store| async move {
                let service = deploy_request_down(request)?;
                convert(&guest.windlass_plugin_adapter().call_deploy(store, &service).await?)
            },
        })
    }

    /// Reads a deployment's status.
    pub async fn status(&self, deployment: &DeploymentRef) -> Answer<DeploymentStatus> {
        guest_call!(self.0, "status", &[], {
            CloudAdapter => |guest, store| guest.windlass_plugin_adapter().call_status(store, deployment),
            CloudAdapterV0_1 => |guest, store| async move {
                let deployment: v1_adapter::DeploymentRef = convert(deployment)?;
                match guest.windlass_plugin_adapter().call_status(store, &deployment).await? {
                    Ok(status) => Ok(Ok(deployment_status_up(status)?)),
                    Err(error) => Ok(Err(convert(&error)?)),
                }
            },
        })
    }

    /// Sets the number of replicas.
    pub async fn scale(&self, deployment: &DeploymentRef, replicas: u32) -> Answer<()> {
        guest_call!(self.0, "scale", &[], {
            CloudAdapter => |guest, store| guest.windlass_plugin_adapter().call_scale(store, deployment, replicas),
            CloudAdapterV0_1 => |guest, store| async move {
                let deployment: v1_adapter::DeploymentRef = convert(deployment)?;
                convert(&guest.windlass_plugin_adapter().call_scale(store, &deployment, replicas).await?)
            },
        })
    }

    /// Removes a deployment; removing a missing one succeeds.
    pub async fn remove(&self, deployment: &DeploymentRef) -> Answer<()> {
        guest_call!(self.0, "remove", &[], {
            CloudAdapter => |guest, store| guest.windlass_plugin_adapter().call_remove(store, deployment),
            CloudAdapterV0_1 => |guest, store| async move {
                let deployment: v1_adapter::DeploymentRef = convert(deployment)?;
                convert(&guest.windlass_plugin_adapter().call_remove(store, &deployment).await?)
            },
        })
    }

    /// Lists containers on the platform.
    pub async fn list_containers(&self, filter: &ContainerFilter) -> Answer<Vec<ContainerInfo>> {
        guest_call!(self.0, "list-containers", &[], {
            CloudAdapter => |guest, store| guest.windlass_plugin_adapter().call_list_containers(store, filter),
            CloudAdapterV0_1 => |guest, store| async move {
                let filter: v1::ContainerFilter = convert(filter)?;
                convert(&guest.windlass_plugin_adapter().call_list_containers(store, &filter).await?)
            },
        })
    }

    /// Goes back to the deployment's previous version (0.2.0).
    pub async fn rollback(&self, deployment: &DeploymentRef) -> Answer<()> {
        v0_2_only!(self, "rollback", |guest, store| guest
            .windlass_plugin_adapter()
            .call_rollback(store, deployment))
    }

    /// The deployments carrying all these labels (0.2.0).
    pub async fn list_deployments(
        &self,
        labels: &[(String, String)],
    ) -> Answer<Vec<DeploymentRef>> {
        v0_2_only!(self, "list-deployments", |guest, store| guest
            .windlass_plugin_adapter()
            .call_list_deployments(store, labels))
    }

    /// The last `tail` lines the deployment's containers wrote, oldest first (0.2.0).
    pub async fn logs(&self, deployment: &DeploymentRef, tail: u32) -> Answer<Vec<LogLine>> {
        v0_2_only!(self, "logs", |guest, store| guest
            .windlass_plugin_adapter()
            .call_logs(store, deployment, tail))
    }

    /// Creates the organisation's network if it is missing; returns its platform name (0.2.0).
    pub async fn ensure_network(&self, org: &str) -> Answer<String> {
        v0_2_only!(self, "ensure-network", |guest, store| guest
            .windlass_plugin_adapter()
            .call_ensure_network(store, org))
    }

    /// Removes the organisation's network; removing a missing one succeeds (0.2.0).
    pub async fn remove_network(&self, org: &str) -> Answer<()> {
        v0_2_only!(self, "remove-network", |guest, store| guest
            .windlass_plugin_adapter()
            .call_remove_network(store, org))
    }

    /// The platform's nodes (0.2.0).
    pub async fn nodes(&self) -> Answer<Vec<NodeInfo>> {
        v0_2_only!(self, "nodes", |guest, store| guest
            .windlass_plugin_adapter()
            .call_nodes(store))
    }

    /// Sets whether a node takes tasks (0.2.0).
    pub async fn set_availability(
        &self,
        node_id: &str,
        availability: NodeAvailability,
    ) -> Answer<()> {
        v0_2_only!(self, "set-availability", |guest, store| guest
            .windlass_plugin_adapter()
            .call_set_availability(store, node_id, availability))
    }

    /// Removes a node from the cluster; `force` removes one that is still up (0.2.0).
    pub async fn remove_node(&self, node_id: &str, force: bool) -> Answer<()> {
        v0_2_only!(self, "remove-node", |guest, store| guest
            .windlass_plugin_adapter()
            .call_remove_node(store, node_id, force))
    }

    /// How a new node of `role` joins the cluster (0.2.0).
    pub async fn join_instructions(&self, role: NodeRole) -> Answer<JoinInfo> {
        v0_2_only!(self, "join-instructions", |guest, store| guest
            .windlass_plugin_adapter()
            .call_join_instructions(store, role))
    }

    /// Replaces the join token of `role` (0.2.0).
    pub async fn rotate_join_token(&self, role: NodeRole) -> Answer<()> {
        v0_2_only!(self, "rotate-join-token", |guest, store| guest
            .windlass_plugin_adapter()
            .call_rotate_join_token(store, role))
    }

    /// One page of the groups in `scope` (none: the adapter's default), from `cursor` (0.2.0).
    pub async fn list_groups(
        &self,
        scope: Option<&str>,
        cursor: Option<&str>,
    ) -> Answer<GroupPage> {
        v0_2_only!(self, "list-groups", |guest, store| guest
            .windlass_plugin_adapter()
            .call_list_groups(store, scope, cursor))
    }

    /// The containers of one group (0.2.0).
    pub async fn list_group_containers(&self, group: &Group) -> Answer<Vec<ContainerInfo>> {
        v0_2_only!(self, "list-group-containers", |guest, store| guest
            .windlass_plugin_adapter()
            .call_list_group_containers(store, group))
    }
}
