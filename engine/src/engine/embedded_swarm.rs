//! The embedded development swarm (the runner's `[swarm] embedded = true`): the engine's own
//! Docker daemon made the manager of a single-node swarm when it is in none, so a developer
//! runs the multi-node code path (an `adapter-swarm` target) on one machine.

use std::net::IpAddr;

use super::Engine;
use crate::runtime::SwarmMembership;
use crate::{EngineError, NewEvent};

/// What [`Engine::ensure_embedded_swarm`] found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmbeddedSwarm {
    /// The daemon's node id.
    pub node_id: String,
    /// Whether this call made the swarm (`false`: the daemon already managed one).
    pub initialised: bool,
}

impl Engine {
    /// Makes the engine's Docker daemon a single-node swarm advertising `advertise`, unless it
    /// already manages one (then nothing changes: a swarm someone made by hand is kept as it
    /// is). A daemon that is a worker of another swarm, or whose swarm is locked or failing,
    /// is refused with what to do. Emits `swarm-initialised` when it made one.
    pub async fn ensure_embedded_swarm(
        &self,
        advertise: IpAddr,
    ) -> Result<EmbeddedSwarm, EngineError> {
        let runtime = &self.inner.ctx.runtime;
        let endpoint = runtime.endpoint();
        match runtime.swarm_membership().await? {
            SwarmMembership::Manager { node_id } => Ok(EmbeddedSwarm {
                node_id,
                initialised: false,
            }),
            SwarmMembership::Inactive => {
                let node_id = runtime.init_swarm(advertise).await?;
                tracing::info!(%node_id, %advertise, "initialised a single-node swarm on the local Docker engine");
                self.inner
                    .ctx
                    .emit(NewEvent::new("swarm-initialised").with_payload(serde_json::json!({
                        "node": node_id, "advertise": advertise.to_string(), "endpoint": endpoint,
                    })))
                    .await;
                Ok(EmbeddedSwarm {
                    node_id,
                    initialised: true,
                })
            }
            SwarmMembership::Worker { node_id } => Err(EngineError::Conflict {
                what: format!(
                    "swarm.embedded: the Docker engine at {endpoint} is a worker (node \
                     {node_id}) of a swarm managed elsewhere; an embedded swarm needs a manager \
                     (`docker swarm leave` there, or set embedded = false and point a target at \
                     the manager)"
                ),
            }),
            SwarmMembership::Other { state, error } => Err(EngineError::Conflict {
                what: format!(
                    "swarm.embedded: the Docker engine at {endpoint} is in swarm state \
                     `{state}`{}; fix or leave that swarm first",
                    error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            }),
        }
    }
}
