//! Resource status of a container: CPU and memory use against its limits, judged against
//! thresholds into `healthy`, `warning`, `critical` or `stopped`.
//!
//! CPU is a percentage of the container's CPU limit (of the host's cores when it has none), so
//! a container pinned at its small limit is `critical` even on an idle host. Memory is a
//! percentage of the memory limit (of the host's memory when it has none).

use serde::{Deserialize, Serialize};

use crate::runtime::{ContainerInfo, StatsSnapshot};

/// Where `warning` and `critical` start, in percent of the limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thresholds {
    /// At or above this, `warning` (default 80).
    pub warning_percent: f64,
    /// At or above this, `critical` (default 95).
    pub critical_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            warning_percent: 80.0,
            critical_percent: 95.0,
        }
    }
}

/// A container's resource status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ResourceStatus {
    /// Below the warning threshold.
    Healthy,
    /// At or above the warning threshold.
    Warning,
    /// At or above the critical threshold.
    Critical,
    /// Not running.
    Stopped,
}

/// One resource sample of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceSample {
    /// The container's name.
    pub container: String,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// CPU use in percent of the limit (`None` when stopped).
    pub cpu_percent: Option<f64>,
    /// Memory use in percent of the limit (`None` when stopped).
    pub memory_percent: Option<f64>,
    /// Memory in use, in bytes.
    pub memory_bytes: u64,
    /// Bytes received.
    pub network_rx_bytes: u64,
    /// Bytes sent.
    pub network_tx_bytes: u64,
    /// Bytes in the container's writable layer (measured at snapshots only).
    pub disk_rw_bytes: Option<u64>,
    /// Bytes in the named volumes it mounts (measured at snapshots only, and only when the
    /// engine can read the Docker host's volume directories).
    pub disk_volume_bytes: Option<u64>,
    /// The judgement.
    pub status: ResourceStatus,
}

impl ResourceSample {
    /// The sample of a container that is not running.
    pub(crate) fn stopped(container: &str, at_ms: i64) -> Self {
        Self {
            container: container.to_owned(),
            at_ms,
            cpu_percent: None,
            memory_percent: None,
            memory_bytes: 0,
            network_rx_bytes: 0,
            network_tx_bytes: 0,
            disk_rw_bytes: None,
            disk_volume_bytes: None,
            status: ResourceStatus::Stopped,
        }
    }

    /// Judges a stats snapshot of a running container against its limits.
    pub(crate) fn judge(
        info: &ContainerInfo,
        stats: &StatsSnapshot,
        thresholds: Thresholds,
        at_ms: i64,
    ) -> Self {
        // `cpu_percent` counts 100 per core; the limit is in thousandths of a core.
        let cores = match info.cpu {
            Some(limit) => f64::from(limit.millis()) / 1000.0,
            None => f64::from(stats.online_cpus.max(1)),
        };
        let cpu_percent = stats.cpu_percent / cores;
        let memory_percent = if stats.memory_limit_bytes > 0 {
            stats.memory_usage_bytes as f64 * 100.0 / stats.memory_limit_bytes as f64
        } else {
            0.0
        };
        Self {
            container: info.name.clone(),
            at_ms,
            cpu_percent: Some(cpu_percent),
            memory_percent: Some(memory_percent),
            memory_bytes: stats.memory_usage_bytes,
            network_rx_bytes: stats.network_rx_bytes,
            network_tx_bytes: stats.network_tx_bytes,
            disk_rw_bytes: None,
            disk_volume_bytes: None,
            status: status(cpu_percent.max(memory_percent), thresholds),
        }
    }
}

impl ResourceStatus {
    /// The status's stable name (`healthy`, `warning`, `critical`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Stopped => "stopped",
        }
    }

    /// The status named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Healthy, Self::Warning, Self::Critical, Self::Stopped]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The status of the highest use.
pub fn status(percent: f64, thresholds: Thresholds) -> ResourceStatus {
    if percent >= thresholds.critical_percent {
        ResourceStatus::Critical
    } else if percent >= thresholds.warning_percent {
        ResourceStatus::Warning
    } else {
        ResourceStatus::Healthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_split_healthy_warning_critical() {
        let t = Thresholds::default();
        assert_eq!(status(0.0, t), ResourceStatus::Healthy);
        assert_eq!(status(79.9, t), ResourceStatus::Healthy);
        assert_eq!(status(80.0, t), ResourceStatus::Warning);
        assert_eq!(status(94.9, t), ResourceStatus::Warning);
        assert_eq!(status(95.0, t), ResourceStatus::Critical);
        assert_eq!(status(240.0, t), ResourceStatus::Critical);
        let strict = Thresholds {
            warning_percent: 50.0,
            critical_percent: 60.0,
        };
        assert_eq!(status(55.0, strict), ResourceStatus::Warning);
    }
}
