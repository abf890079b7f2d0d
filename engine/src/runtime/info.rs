//! What the runtime reports about containers: [`ContainerInfo`] (inspect) and
//! [`ContainerSummary`] (list), converted from Docker's answers.
//!
//! Owns the reading of Docker's inspect/list JSON, including the host ports Docker assigned.
//! It must not call Docker itself.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary as DockerSummary,
    ContainerSummaryStateEnum, PortMap,
};
use serde::{Deserialize, Serialize};

use super::RuntimeError;
use super::error::Op;
use super::spec::Protocol;
use super::time::parse_rfc3339;
use crate::resources::{CpuMillis, MemoryBytes};

/// A container's state as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by Docker (never by the engine's own containers: their policy is "no").
    Restarting,
    /// Being removed.
    Removing,
    /// Exited; see [`ContainerInfo::exit_code`].
    Exited,
    /// Dead: Docker failed to stop or remove it.
    Dead,
    /// A state this version of the runtime does not know.
    Other(String),
}

impl ContainerStatus {
    /// Parses Docker's spelling.
    pub fn parse(s: &str) -> ContainerStatus {
        match s {
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            "dead" => ContainerStatus::Dead,
            other => ContainerStatus::Other(other.to_owned()),
        }
    }

    /// Docker's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
            ContainerStatus::Other(s) => s,
        }
    }

    /// Whether the container's process is alive (running, paused or restarting).
    pub fn is_alive(&self) -> bool {
        matches!(
            self,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting
        )
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published port as bound on the host (auto-assigned ports included).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignedPort {
    /// The port inside the container.
    pub container_port: u16,
    /// Its protocol.
    pub protocol: Protocol,
    /// The host address it is bound to (`0.0.0.0`, `::`, or a specific address).
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
}

/// A container as inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct ContainerInfo {
    /// The full container id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image reference the container was created from.
    pub image: String,
    /// The image id (`sha256:…`).
    pub image_id: String,
    /// The current state.
    pub status: ContainerStatus,
    /// The exit code of the last run; `None` if it never ran or is running.
    pub exit_code: Option<i64>,
    /// Whether the kernel's OOM killer ended the last run.
    pub oom_killed: bool,
    /// When it last started.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<windlass_host_api::openapi::SystemTimeSchema>))]
    pub started_at: Option<SystemTime>,
    /// When it last stopped.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<windlass_host_api::openapi::SystemTimeSchema>))]
    pub finished_at: Option<SystemTime>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Published ports as bound on the host, sorted; empty while not running.
    pub ports: Vec<AssignedPort>,
    /// The IP address on each network it is attached to (`None` while not running).
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Option<String>>))]
    pub networks: BTreeMap<String, Option<IpAddr>>,
    /// The CPU limit, if any.
    pub cpu: Option<CpuMillis>,
    /// The memory limit, if any.
    pub memory: Option<MemoryBytes>,
    /// How often Docker restarted it (0 for engine-managed containers).
    pub restart_count: i64,
    /// Docker's health status if the image defines a health check (`healthy`, `unhealthy`,
    /// `starting`).
    pub health: Option<String>,
}

impl ContainerInfo {
    /// The first host port bound for `container_port`/`protocol`.
    pub fn host_port(&self, container_port: u16, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.container_port == container_port && p.protocol == protocol)
            .map(|p| p.host_port)
    }

    pub(crate) fn from_inspect(
        op: Op<'_>,
        r: ContainerInspectResponse,
    ) -> Result<Self, RuntimeError> {
        let id =
            r.id.ok_or_else(|| op.protocol("inspect answer has no container id"))?;
        let state = r.state.unwrap_or_default();
        let status = match state.status {
            Some(ContainerStateStatusEnum::EMPTY) | None => ContainerStatus::Other(String::new()),
            Some(s) => ContainerStatus::parse(s.as_ref()),
        };
        let never_ran = matches!(status, ContainerStatus::Created) || status.is_alive();
        let config = r.config.unwrap_or_default();
        let host = r.host_config.unwrap_or_default();
        let settings = r.network_settings.unwrap_or_default();
        Ok(ContainerInfo {
            id,
            name: r
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: config.image.unwrap_or_default(),
            image_id: r.image.unwrap_or_default(),
            exit_code: if never_ran { None } else { state.exit_code },
            status,
            oom_killed: state.oom_killed.unwrap_or(false),
            started_at: state.started_at.as_deref().and_then(parse_rfc3339),
            finished_at: state.finished_at.as_deref().and_then(parse_rfc3339),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            ports: settings.ports.map(assigned_ports).unwrap_or_default(),
            networks: settings
                .networks
                .unwrap_or_default()
                .into_iter()
                .map(|(name, endpoint)| {
                    let ip = endpoint.ip_address.and_then(|ip| ip.parse().ok());
                    (name, ip)
                })
                .collect(),
            cpu: host
                .nano_cpus
                .and_then(|n| u32::try_from(n / 1_000_000).ok())
                .and_then(CpuMillis::new),
            memory: host
                .memory
                .and_then(|m| u64::try_from(m).ok())
                .and_then(MemoryBytes::new),
            restart_count: r.restart_count.unwrap_or(0),
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
        })
    }
}

/// Docker's `{"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}]}` as a sorted list.
fn assigned_ports(map: PortMap) -> Vec<AssignedPort> {
    let mut ports = Vec::new();
    for (key, bindings) in map {
        let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let (Ok(container_port), Some(protocol)) = (port.parse::<u16>(), Protocol::parse(protocol))
        else {
            continue;
        };
        for binding in bindings.unwrap_or_default() {
            let Some(host_port) = binding.host_port.and_then(|p| p.parse::<u16>().ok()) else {
                continue;
            };
            ports.push(AssignedPort {
                container_port,
                protocol,
                host_ip: binding.host_ip.unwrap_or_default(),
                host_port,
            });
        }
    }
    ports.sort();
    ports
}

/// A container as listed (cheaper than [`ContainerInfo`]: one call for all containers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContainerSummary {
    /// The full container id.
    pub id: String,
    /// The name, without Docker's leading `/`.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// The current state.
    pub status: ContainerStatus,
    /// When it was created.
    pub created: Option<SystemTime>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl ContainerSummary {
    pub(crate) fn from_docker(s: DockerSummary) -> Option<Self> {
        // A swarm task's container is the swarm's, not the runtime's (see LABEL_SWARM_TASK).
        if s.labels
            .as_ref()
            .is_some_and(|l| l.contains_key(super::labels::LABEL_SWARM_TASK))
        {
            return None;
        }
        let status = match s.state {
            Some(ContainerSummaryStateEnum::EMPTY) | None => ContainerStatus::Other(String::new()),
            Some(state) => ContainerStatus::parse(state.as_ref()),
        };
        Some(ContainerSummary {
            id: s.id?,
            name: s
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            image: s.image.unwrap_or_default(),
            status,
            created: s
                .created
                .and_then(|c| u64::try_from(c).ok())
                .map(|c| UNIX_EPOCH + Duration::from_secs(c)),
            labels: s.labels.unwrap_or_default().into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortBinding;
    use std::collections::HashMap;

    #[test]
    fn reads_assigned_ports() {
        let binding = |ip: &str, port: &str| PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        };
        let map: PortMap = HashMap::from([
            (
                "8080/tcp".to_owned(),
                Some(vec![binding("0.0.0.0", "49153"), binding("::", "49153")]),
            ),
            (
                "53/udp".to_owned(),
                Some(vec![binding("127.0.0.1", "5353")]),
            ),
            ("9000/tcp".to_owned(), None),
        ]);
        let ports = assigned_ports(map);
        assert_eq!(ports.len(), 3);
        assert_eq!(ports[0].container_port, 53);
        assert_eq!(ports[0].protocol, Protocol::Udp);
        assert_eq!(ports[1].host_ip, "0.0.0.0");
        assert_eq!(ports[1].host_port, 49153);
    }

    #[test]
    fn status_round_trips() {
        for s in [
            "created",
            "running",
            "paused",
            "restarting",
            "removing",
            "exited",
            "dead",
            "weird",
        ] {
            assert_eq!(ContainerStatus::parse(s).as_str(), s);
        }
        assert!(ContainerStatus::Running.is_alive());
        assert!(!ContainerStatus::Exited.is_alive());
    }
}
