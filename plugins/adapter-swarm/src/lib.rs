//! `adapter-swarm`: runs services on a Docker Swarm through a manager's Docker Engine API
//! (HTTP, `wasi:http`; the operator grants the manager's `IP:PORT`, or the local engine's Unix
//! socket under a name, e.g. `grants.unix_sockets = { docker = "/var/run/docker.sock" }` with
//! `endpoint = "http://docker"`). Swarm's own scheduler places the tasks. See docs/swarm.md for
//! the operator's side.
//!
//! # Config
//!
//! | key                | meaning                                                              |
//! |--------------------|----------------------------------------------------------------------|
//! | `endpoint`         | required: the manager's API, e.g. `http://10.210.0.11:2375` or `http://docker` |
//! | `api_version`      | Engine API version in the paths (default `1.41`: Docker 20.10)        |
//! | `endpoint_mode`    | `vip` (default) or `dnsrr` for every service                           |
//! | `encrypt_networks` | org overlays with IPsec encryption (default `true`)                    |
//! | `network_prefix`   | org networks are `{prefix}{org}` (default `windlass-org-`)             |
//!
//! # What maps to what
//!
//! A deployment is a replicated service named `{org}-{stack}-{service}` labelled with the
//! engine's labels and `dev.windlass.adapter=swarm` (see [`service`] for the spec mapping);
//! its status is the service's `UpdateStatus` and current tasks; `list-deployments` and
//! `list-containers` filter services by label; an org's network is an attachable overlay
//! `{prefix}{org}`; nodes are the engine's workers (`nodes`, `set-availability` = drain,
//! `remove-node`, `join-instructions`, `rotate-join-token`); the inventory's groups are the
//! engine's services and their containers each slot's current task, with the slot's task
//! history as restarts (see [`inventory`]). Errors follow the SDK's status
//! mapping (`windlass_plugin_sdk::http::status_error`): 404 `not-found`, 409/400 `invalid`,
//! 5xx and unreachable `unavailable`; a host not granted is `denied` before any byte leaves.

mod client;
mod docker;
mod inventory;
mod logs;
mod nodes;
mod service;
mod settings;
mod status;

use windlass_plugin_sdk::types::{
    AdapterError, AdapterInfo, Capabilities, ContainerFilter, ContainerInfo, DeployRequest,
    DeploymentRef, DeploymentStatus, Group, GroupPage, JoinInfo, LogLine, NodeAvailability,
    NodeInfo, NodeRole,
};

use client::Swarm;
use docker::{Docker, WasiHttp};

/// The adapter.
struct SwarmAdapter;

fn swarm() -> Result<Swarm<WasiHttp>, AdapterError> {
    let settings = settings::Settings::from_config(windlass_plugin_sdk::config::get)?;
    Ok(Swarm(Docker::new(settings, WasiHttp)))
}

impl windlass_plugin_sdk::CloudAdapter for SwarmAdapter {
    fn describe() -> AdapterInfo {
        AdapterInfo {
            name: "swarm".into(),
            platform: "docker-swarm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: Capabilities {
                read_only: false,
                rolling_update: true,
                rollback: true,
                networks: true,
                volumes: true,
                logs: true,
                nodes: true,
                inventory: true,
            },
        }
    }

    fn deploy(request: DeployRequest) -> Result<DeploymentRef, AdapterError> {
        swarm()?.deploy(&request)
    }

    fn status(deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError> {
        swarm()?.status(deployment)
    }

    fn scale(deployment: DeploymentRef, replicas: u32) -> Result<(), AdapterError> {
        swarm()?.scale(&deployment, replicas)
    }

    fn remove(deployment: DeploymentRef) -> Result<(), AdapterError> {
        swarm()?.remove(&deployment)
    }

    fn list_containers(filter: ContainerFilter) -> Result<Vec<ContainerInfo>, AdapterError> {
        swarm()?.list_containers(&filter)
    }

    fn rollback(deployment: DeploymentRef) -> Result<(), AdapterError> {
        swarm()?.rollback(&deployment)
    }

    fn list_deployments(labels: Vec<(String, String)>) -> Result<Vec<DeploymentRef>, AdapterError> {
        swarm()?.list_deployments(&labels)
    }

    fn logs(deployment: DeploymentRef, tail: u32) -> Result<Vec<LogLine>, AdapterError> {
        swarm()?.logs(&deployment, tail)
    }

    fn ensure_network(org: String) -> Result<String, AdapterError> {
        swarm()?.ensure_network(&org)
    }

    fn remove_network(org: String) -> Result<(), AdapterError> {
        swarm()?.remove_network(&org)
    }

    fn nodes() -> Result<Vec<NodeInfo>, AdapterError> {
        swarm()?.nodes()
    }

    fn set_availability(
        node_id: String,
        availability: NodeAvailability,
    ) -> Result<(), AdapterError> {
        swarm()?.set_availability(&node_id, availability)
    }

    fn remove_node(node_id: String, force: bool) -> Result<(), AdapterError> {
        swarm()?.remove_node(&node_id, force)
    }

    fn join_instructions(role: NodeRole) -> Result<JoinInfo, AdapterError> {
        swarm()?.join_instructions(role)
    }

    fn rotate_join_token(role: NodeRole) -> Result<(), AdapterError> {
        swarm()?.rotate_join_token(role)
    }

    fn list_groups(
        scope: Option<String>,
        cursor: Option<String>,
    ) -> Result<GroupPage, AdapterError> {
        // One page: the cursor of a first page is never handed out.
        let _ = cursor;
        swarm()?.list_groups(scope.as_deref())
    }

    fn list_group_containers(group: Group) -> Result<Vec<ContainerInfo>, AdapterError> {
        swarm()?.list_group_containers(&group)
    }
}

windlass_plugin_sdk::export_cloud_adapter!(SwarmAdapter);
