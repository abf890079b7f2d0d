//! Workers: the machines of the targets whose adapter has nodes (capability `nodes`; Docker
//! Swarm's nodes through `adapter-swarm`).
//!
//! The engine keeps a heartbeat of every worker ([`heartbeat`]): it polls each such target's
//! `nodes` every [`WorkersConfig::poll_interval`], and a worker not seen `ready` for
//! [`WorkersConfig::unhealthy_after`] is unhealthy, with a `worker-unhealthy` event; seen ready
//! again, `worker-recovered`. It follows where the engine's containers on those targets run
//! ([`migrations`]) and reports each move to another worker as `container-migrated`, since
//! the platform's own scheduler (not the engine) moves them. Drain, removal and join tokens go
//! through the adapter (`Engine::set_worker_availability`, `Engine::remove_worker`,
//! `Engine::join_command`, `Engine::rotate_join_token`).

pub(crate) mod heartbeat;
pub(crate) mod migrations;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use windlass_host_api::types::{NodeAvailability, NodeInfo, NodeRole};

/// How the engine watches workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkersConfig {
    /// How often each target's nodes are read (default 30 s).
    pub poll_interval: Duration,
    /// A worker not seen ready for this long is unhealthy (default 120 s).
    pub unhealthy_after: Duration,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(30),
            unhealthy_after: Duration::from_secs(120),
        }
    }
}

/// Whether a worker takes tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    /// It takes new tasks.
    Active,
    /// It keeps its tasks and takes no new ones.
    Pause,
    /// Its tasks move to other workers.
    Drain,
}

impl Availability {
    /// The name the API and events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pause => "pause",
            Self::Drain => "drain",
        }
    }

    pub(crate) fn from_wit(a: NodeAvailability) -> Self {
        match a {
            NodeAvailability::Active => Self::Active,
            NodeAvailability::Pause => Self::Pause,
            NodeAvailability::Drain => Self::Drain,
        }
    }

    pub(crate) fn to_wit(self) -> NodeAvailability {
        match self {
            Self::Active => NodeAvailability::Active,
            Self::Pause => NodeAvailability::Pause,
            Self::Drain => NodeAvailability::Drain,
        }
    }
}

/// A worker's role in its cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum WorkerRole {
    /// Manages the cluster and may run tasks.
    Manager,
    /// Runs tasks.
    #[default]
    Worker,
}

impl WorkerRole {
    /// The name the API and events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manager => "manager",
            Self::Worker => "worker",
        }
    }

    pub(crate) fn from_wit(r: NodeRole) -> Self {
        match r {
            NodeRole::Manager => Self::Manager,
            NodeRole::Worker => Self::Worker,
        }
    }

    pub(crate) fn to_wit(self) -> NodeRole {
        match self {
            Self::Manager => NodeRole::Manager,
            Self::Worker => NodeRole::Worker,
        }
    }
}

/// What the engine's heartbeat says of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum WorkerHealth {
    /// Seen ready within `unhealthy_after`.
    Healthy,
    /// Not seen ready for `unhealthy_after` or longer.
    Unhealthy,
    /// Not ready, for less than `unhealthy_after` so far (or the heartbeat has not seen it yet).
    Unknown,
}

/// A worker, as its platform reports it and the engine's heartbeat judges it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Worker {
    /// The target it belongs to.
    pub target: String,
    /// The platform's id for it (what `drain` and `remove` take, or a unique prefix).
    pub id: String,
    /// Its hostname (several workers may share one).
    pub hostname: String,
    /// Manager or worker.
    pub role: WorkerRole,
    /// What the platform says: `ready`, `down` or `unknown`.
    pub status: String,
    /// Whether it takes tasks.
    pub availability: Availability,
    /// Its address, when known.
    pub address: Option<String>,
    /// Its CPU, in thousandths of a core.
    pub cpu_millis: u64,
    /// Its memory, in bytes.
    pub memory_bytes: u64,
    /// Tasks running on it.
    pub running_tasks: u32,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The engine's heartbeat verdict.
    pub health: WorkerHealth,
    /// When the heartbeat last saw it ready (ms since the Unix epoch), if it did.
    pub last_ready_ms: Option<i64>,
}

impl Worker {
    pub(crate) fn new(target: &str, node: NodeInfo) -> Self {
        Self {
            target: target.to_owned(),
            id: node.id,
            hostname: node.hostname,
            role: WorkerRole::from_wit(node.role),
            status: node.status,
            availability: Availability::from_wit(node.availability),
            address: node.address,
            cpu_millis: node.cpu_millis,
            memory_bytes: node.memory_bytes,
            running_tasks: node.running_tasks,
            labels: node.labels.into_iter().collect(),
            health: WorkerHealth::Unknown,
            last_ready_ms: None,
        }
    }
}

/// How a new machine joins a target's cluster.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinCommand {
    /// The target.
    pub target: String,
    /// The role the machine joins with.
    pub role: WorkerRole,
    /// The exact command to run on the new machine (it holds the join token: a secret).
    pub command: String,
    /// The manager it joins through.
    pub manager_address: String,
}

/// What the engine keeps of its workers between polls.
#[derive(Debug, Default)]
pub(crate) struct WorkersState {
    pub config: WorkersConfig,
    pub heartbeat: std::sync::Mutex<heartbeat::Heartbeat>,
    pub placements: std::sync::Mutex<migrations::Placements>,
}

impl WorkersState {
    pub(crate) fn new(config: WorkersConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }
}

/// Finds the worker `name` names among `workers`: its id, a unique prefix of its id, or its
/// hostname when no other worker has it.
pub(crate) fn resolve<'a>(workers: &'a [Worker], name: &str) -> Result<&'a Worker, String> {
    if let Some(w) = workers.iter().find(|w| w.id == name) {
        return Ok(w);
    }
    let by_prefix: Vec<&Worker> = workers
        .iter()
        .filter(|w| !name.is_empty() && w.id.starts_with(name))
        .collect();
    let by_host: Vec<&Worker> = workers.iter().filter(|w| w.hostname == name).collect();
    match (by_prefix.as_slice(), by_host.as_slice()) {
        ([one], _) | ([], [one]) => Ok(one),
        ([], []) => Err(format!("no worker has the id or hostname `{name}`")),
        (many, _) if !many.is_empty() => Err(ambiguous(name, many, "id prefix")),
        (_, many) => Err(ambiguous(name, many, "hostname")),
    }
}

fn ambiguous(name: &str, matches: &[&Worker], what: &str) -> String {
    let ids: Vec<&str> = matches.iter().map(|w| w.id.as_str()).collect();
    format!(
        "`{name}` is the {what} of {} workers ({}): name one by its id",
        ids.len(),
        ids.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, hostname: &str) -> Worker {
        Worker::new(
            "swarm",
            NodeInfo {
                id: id.into(),
                hostname: hostname.into(),
                role: NodeRole::Worker,
                status: "ready".into(),
                availability: NodeAvailability::Active,
                address: None,
                cpu_millis: 0,
                memory_bytes: 0,
                running_tasks: 0,
                labels: Vec::new(),
            },
        )
    }

    #[test]
    fn a_worker_is_named_by_id_unique_prefix_or_unique_hostname() {
        let workers = [
            worker("abc123", "vm"),
            worker("abd456", "vm"),
            worker("xyz", "edge"),
        ];
        assert_eq!(resolve(&workers, "abd456").unwrap().id, "abd456");
        assert_eq!(resolve(&workers, "abc").unwrap().id, "abc123");
        assert_eq!(resolve(&workers, "edge").unwrap().id, "xyz");
        let prefix = resolve(&workers, "ab").unwrap_err();
        assert!(prefix.contains("abc123, abd456"), "{prefix}");
        let host = resolve(&workers, "vm").unwrap_err();
        assert!(host.contains("hostname of 2 workers"), "{host}");
        assert!(resolve(&workers, "nope").unwrap_err().contains("no worker"));
        assert!(resolve(&workers, "").is_err());
    }
}
