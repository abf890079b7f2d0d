//! Resource usage of a container, once or as Docker's stream: CPU %, memory, network bytes.
//!
//! Owns the arithmetic Docker's own `docker stats` does on the raw counters. It must not keep
//! history or decide thresholds (`health` samples, `billing` meters).

use std::time::SystemTime;

use bollard::models::{ContainerCpuStats, ContainerStatsResponse};
use bollard::query_parameters::StatsOptions;
use futures::{Stream, StreamExt, future};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::error::Op;
use super::{DockerRuntime, REQUEST_TIMEOUT, RuntimeError};

/// A container's resource usage at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// When the runtime took the sample.
    pub sampled_at: SystemTime,
    /// CPU use over Docker's sampling interval (about a second), as `docker stats` shows it:
    /// 100.0 is one full core, so it can exceed 100 on several cores.
    pub cpu_percent: f64,
    /// Cores the container can see.
    pub online_cpus: u32,
    /// Memory in use, excluding the reclaimable page cache (as `docker stats` reports it).
    pub memory_usage_bytes: u64,
    /// The memory limit (the host's memory when the container has none).
    pub memory_limit_bytes: u64,
    /// Bytes received over all networks.
    pub network_rx_bytes: u64,
    /// Bytes sent over all networks.
    pub network_tx_bytes: u64,
}

impl StatsSnapshot {
    fn from_docker(s: ContainerStatsResponse) -> Self {
        let memory = s.memory_stats.unwrap_or_default();
        let usage = memory.usage.unwrap_or(0);
        // cgroup v1 reports the cache as total_inactive_file, v2 as inactive_file.
        let cache = memory
            .stats
            .as_ref()
            .and_then(|m| {
                m.get("total_inactive_file")
                    .or_else(|| m.get("inactive_file"))
                    .copied()
            })
            .filter(|c| *c < usage)
            .unwrap_or(0);
        let (rx, tx) = s
            .networks
            .unwrap_or_default()
            .values()
            .fold((0u64, 0u64), |(rx, tx), n| {
                (
                    rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                    tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                )
            });
        let cpu = s.cpu_stats.unwrap_or_default();
        let online_cpus = online_cpus(&cpu);
        StatsSnapshot {
            sampled_at: SystemTime::now(),
            cpu_percent: cpu_percent(&cpu, &s.precpu_stats.unwrap_or_default(), online_cpus),
            online_cpus,
            memory_usage_bytes: usage - cache,
            memory_limit_bytes: memory.limit.unwrap_or(0),
            network_rx_bytes: rx,
            network_tx_bytes: tx,
        }
    }
}

fn online_cpus(cpu: &ContainerCpuStats) -> u32 {
    cpu.online_cpus.filter(|n| *n > 0).unwrap_or_else(|| {
        let per_cpu = cpu
            .cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0, Vec::len);
        u32::try_from(per_cpu).unwrap_or(u32::MAX)
    })
}

/// `docker stats`' formula: the container's share of the host's CPU time between the two
/// samples, scaled to cores.
fn cpu_percent(cpu: &ContainerCpuStats, pre: &ContainerCpuStats, online_cpus: u32) -> f64 {
    let total = |c: &ContainerCpuStats| {
        c.cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let container_delta = total(cpu).saturating_sub(total(pre));
    let system_delta = cpu
        .system_cpu_usage
        .unwrap_or(0)
        .saturating_sub(pre.system_cpu_usage.unwrap_or(0));
    if system_delta == 0 || container_delta == 0 {
        return 0.0;
    }
    container_delta as f64 / system_delta as f64 * f64::from(online_cpus) * 100.0
}

impl DockerRuntime {
    /// Samples a container's usage once. Takes about a second: Docker reads the CPU counters
    /// twice to compute the percentage.
    #[instrument(name = "runtime.stats", skip(self))]
    pub async fn stats(&self, container: &str) -> Result<StatsSnapshot, RuntimeError> {
        let op = self.op("stats", container);
        let options = StatsOptions {
            stream: false,
            one_shot: false,
        };
        let mut stream = self.docker.stats(container, Some(options));
        match stream.next().await {
            Some(Ok(sample)) => Ok(StatsSnapshot::from_docker(sample)),
            Some(Err(e)) => Err(op.error(e)),
            None => Err(op.protocol("the stats stream ended without a sample")),
        }
    }
}

/// Whether Docker sent the previous CPU reading the percentage needs (the first sample of a
/// stream has none).
fn has_previous_reading(s: &ContainerStatsResponse) -> bool {
    s.precpu_stats
        .as_ref()
        .and_then(|c| c.system_cpu_usage)
        .is_some_and(|u| u > 0)
}

impl DockerRuntime {
    /// Follows a container's usage as Docker streams it: a sample about every second while it
    /// runs; the stream ends when the container stops, or after the first error. Every item
    /// has a real CPU percentage (Docker's first sample, which has no previous reading, is
    /// skipped).
    pub fn stats_stream(
        &self,
        container: &str,
    ) -> impl Stream<Item = Result<StatsSnapshot, RuntimeError>> + Send + 'static {
        let options = StatsOptions {
            stream: true,
            one_shot: false,
        };
        let (endpoint, target) = (self.endpoint.clone(), container.to_owned());
        self.docker
            .stats(container, Some(options))
            .filter_map(move |item| {
                let op = Op {
                    endpoint: &endpoint,
                    operation: "follow stats of",
                    target: &target,
                    timeout: REQUEST_TIMEOUT,
                };
                future::ready(match item {
                    Ok(sample) if has_previous_reading(&sample) => {
                        Some(Ok(StatsSnapshot::from_docker(sample)))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(op.error(e))),
                })
            })
            .scan(false, |failed, item| {
                let next = if *failed { None } else { Some(item) };
                *failed = matches!(next, Some(Err(_)));
                future::ready(next)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerCpuUsage;

    fn cpu(total: u64, system: u64) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_percent_matches_docker_stats() {
        // Half of the host's CPU time on a 2-core host = one full core = 100%.
        let p = cpu_percent(&cpu(1_500, 20_000), &cpu(1_000, 19_000), 2);
        assert!((p - 100.0).abs() < 1e-9, "{p}");
        assert_eq!(cpu_percent(&cpu(5, 5), &cpu(5, 5), 2), 0.0);
        assert_eq!(
            cpu_percent(&cpu(0, 0), &ContainerCpuStats::default(), 2),
            0.0
        );
    }
}
