//! Health over time: at the snapshot interval the engine records every managed container's
//! resource use (the sampler's latest reading, plus disk use measured then) and check states,
//! and prunes snapshots older than the retention period. Timestamps come from the engine's
//! [`Clock`](crate::Clock), so retention can be tested without waiting a week.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use futures::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::monitor::{CheckState, CheckStatus, Monitor};
use super::sampler::Sampler;
use super::{CheckKind, ResourceSample};
use crate::engine::Ctx;
use crate::runtime::labels::{LABEL_ENGINE, LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
use crate::{ContainerSummary, EngineError};

/// The current health of one managed container.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct HealthReport {
    /// The org, stack and service it belongs to.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// Resource use and its status (`stopped` when not running).
    pub resources: ResourceSample,
    /// Whether its readiness checks pass (`None`: no checks, or not decided yet).
    pub ready: Option<bool>,
    /// Its declared checks as last judged (empty without checks or while not monitored).
    pub checks: Vec<CheckState>,
}

/// One check's status in a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckSummary {
    /// Which check.
    pub kind: CheckKind,
    /// Its status then.
    pub status: CheckStatus,
}

/// A container's health at one moment, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct HealthSnapshot {
    /// The org, stack and service it belonged to.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// Resource use (with disk use) and status; `at_ms` is when the snapshot was taken.
    pub resources: ResourceSample,
    /// Readiness then.
    pub ready: Option<bool>,
    /// Check statuses then.
    pub checks: Vec<CheckSummary>,
}

/// What one snapshot round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SnapshotReport {
    /// When it was taken (the engine clock, ms since the Unix epoch).
    pub at_ms: i64,
    /// Snapshots written (one per managed container).
    pub written: usize,
    /// Snapshots deleted for being older than the retention period.
    pub pruned: u64,
}

/// The latest resource sample of a container: the sampler's if it has one, a one-shot
/// reading otherwise (which takes Docker about a second), `stopped` when it does not run.
pub(crate) async fn current_sample(
    ctx: &Ctx,
    sampler: &Sampler,
    container: &ContainerSummary,
) -> Result<ResourceSample, EngineError> {
    let now = ctx.now_ms();
    if !container.status.is_alive() {
        return Ok(ResourceSample::stopped(&container.name, now));
    }
    if let Some(sample) = sampler.latest(&container.name) {
        return Ok(sample);
    }
    let info = ctx.runtime.inspect_container(&container.id).await?;
    if !info.status.is_alive() {
        return Ok(ResourceSample::stopped(&container.name, now));
    }
    let stats = ctx.runtime.stats(&info.id).await?;
    Ok(ResourceSample::judge(
        &info,
        &stats,
        ctx.settings.thresholds,
        now,
    ))
}

/// Snapshots every managed container now and prunes what is past retention.
pub(crate) async fn take(
    ctx: &Ctx,
    monitor: &Monitor,
    sampler: &Sampler,
) -> Result<SnapshotReport, EngineError> {
    let at_ms = ctx.now_ms();
    let mut listed = ctx
        .runtime
        .container_disk(&[(LABEL_ENGINE, ctx.engine_id.as_str())])
        .await?;
    // Probe containers (in-network probes) run no service: nothing to report about them.
    listed.retain(|c| !c.summary.labels.contains_key(super::LABEL_PROBE));
    let volume_bytes = measure_volumes(listed.iter().flat_map(|c| c.volume_dirs.iter())).await;
    let taken: Vec<(HealthSnapshot, Vec<PathBuf>)> = futures::stream::iter(listed)
        .map(|disk| {
            let volume_bytes = &volume_bytes;
            async move {
                let summary = &disk.summary;
                let mut resources = match current_sample(ctx, sampler, summary).await {
                    Ok(sample) => sample,
                    // Gone between the listing and the reading: nothing to record.
                    Err(_) => return None,
                };
                resources.at_ms = at_ms;
                resources.disk_rw_bytes = disk.rw_bytes;
                resources.disk_volume_bytes = disk
                    .volume_dirs
                    .iter()
                    .map(|d| volume_bytes.get(d).copied().flatten())
                    .sum::<Option<u64>>();
                let health = monitor.health(&summary.name);
                let label = |key: &str| summary.labels.get(key).cloned().unwrap_or_default();
                let snapshot = HealthSnapshot {
                    org: label(LABEL_ORG),
                    stack: label(LABEL_STACK),
                    service: label(LABEL_SERVICE),
                    resources,
                    ready: health.as_ref().and_then(|h| h.ready()),
                    checks: health
                        .map(|h| {
                            h.checks
                                .iter()
                                .map(|c| CheckSummary {
                                    kind: c.kind,
                                    status: c.status,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                Some((snapshot, disk.volume_dirs.clone()))
            }
        })
        .buffer_unordered(32)
        .filter_map(futures::future::ready)
        .collect()
        .await;
    // What each container holds is metered too (billing's storage): its writable layer and
    // the volumes it mounts, each volume charged to one container only — the first by name
    // of those mounting it — so replicas sharing a volume do not pay for it twice.
    let (snapshots, volume_dirs): (Vec<HealthSnapshot>, Vec<Vec<PathBuf>>) =
        taken.into_iter().unzip();
    let mut charged_volumes = BTreeSet::new();
    let mut by_name: Vec<(&str, &ResourceSample, &[PathBuf])> = Vec::new();
    for (snapshot, dirs) in snapshots.iter().zip(&volume_dirs) {
        by_name.push((&snapshot.resources.container, &snapshot.resources, dirs));
    }
    by_name.sort_by_key(|(name, _, _)| *name);
    for (name, resources, dirs) in by_name {
        let mut bytes = resources.disk_rw_bytes;
        for dir in dirs {
            if charged_volumes.insert(dir.clone()) {
                let size = volume_bytes.get(dir).copied().flatten();
                bytes = match (bytes, size) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        ctx.meter.set_disk(name, bytes);
    }
    ctx.store.insert_health_snapshots(&snapshots).await?;
    let retention = i64::try_from(ctx.settings.snapshot_retention.as_millis()).unwrap_or(i64::MAX);
    let pruned = ctx
        .store
        .prune_health_snapshots(at_ms.saturating_sub(retention))
        .await?;
    Ok(SnapshotReport {
        at_ms,
        written: snapshots.len(),
        pruned,
    })
}

/// The size of each distinct volume directory (`None` where it cannot be read from here).
async fn measure_volumes<'a>(
    dirs: impl Iterator<Item = &'a PathBuf>,
) -> HashMap<PathBuf, Option<u64>> {
    let dirs: BTreeSet<PathBuf> = dirs.cloned().collect();
    if dirs.is_empty() {
        return HashMap::new();
    }
    tokio::task::spawn_blocking(move || {
        dirs.into_iter()
            .map(|d| {
                let bytes = crate::runtime::disk::directory_bytes(&d);
                (d, bytes)
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}
