//! The daemon's own swarm membership: read it, and make the daemon a single-node swarm (the
//! runner's `[swarm] embedded = true`, a developer's multi-node code path on one machine).
//!
//! Nothing else about swarms goes through bollard: services, tasks and nodes belong to the
//! `adapter-swarm` plugin, through the adapter contract, like any other platform's.

use std::net::IpAddr;

use bollard::models::{LocalNodeState, SwarmInitRequest};
use tracing::instrument;

use super::{DockerRuntime, RuntimeError};

/// What the daemon says about its place in a swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SwarmMembership {
    /// In no swarm.
    Inactive,
    /// A manager of a swarm: its Engine API serves services, tasks and nodes.
    Manager {
        /// Its node id.
        node_id: String,
    },
    /// A worker of a swarm someone else manages.
    Worker {
        /// Its node id.
        node_id: String,
    },
    /// Joining, locked or failed: `state` as Docker spells it, with Docker's error if any.
    Other {
        /// `pending`, `locked`, `error`…
        state: String,
        /// Docker's own words.
        error: Option<String>,
    },
}

impl DockerRuntime {
    /// The daemon's swarm membership (`docker info`'s Swarm section).
    #[instrument(name = "runtime.swarm_membership", skip_all)]
    pub async fn swarm_membership(&self) -> Result<SwarmMembership, RuntimeError> {
        let info = self.docker.info().await.map_err(|e| {
            self.op("inspect the swarm membership of", &self.endpoint)
                .error(e)
        })?;
        let swarm = info.swarm.unwrap_or_default();
        let node_id = swarm.node_id.unwrap_or_default();
        Ok(match swarm.local_node_state {
            None | Some(LocalNodeState::INACTIVE | LocalNodeState::EMPTY) => {
                SwarmMembership::Inactive
            }
            Some(LocalNodeState::ACTIVE) if swarm.control_available == Some(true) => {
                SwarmMembership::Manager { node_id }
            }
            Some(LocalNodeState::ACTIVE) => SwarmMembership::Worker { node_id },
            Some(state) => SwarmMembership::Other {
                state: state.to_string(),
                error: swarm.error.filter(|e| !e.is_empty()),
            },
        })
    }

    /// Makes the daemon the manager of a new single-node swarm that listens and advertises on
    /// `advertise` (`docker swarm init --advertise-addr A --listen-addr A:2377`). Returns the
    /// node id.
    #[instrument(name = "runtime.init_swarm", skip_all, fields(advertise = %advertise))]
    pub async fn init_swarm(&self, advertise: IpAddr) -> Result<String, RuntimeError> {
        let listen = std::net::SocketAddr::new(advertise, 2377).to_string();
        let request = SwarmInitRequest {
            listen_addr: Some(listen),
            advertise_addr: Some(advertise.to_string()),
            ..SwarmInitRequest::default()
        };
        self.docker
            .init_swarm(request)
            .await
            .map_err(|e| self.op("initialise a swarm on", &self.endpoint).error(e))
    }
}
