//! What an inventory run reports besides its containers: statistics, per-group errors, and the
//! progress it sends while it runs.

use std::time::Duration;

use serde::Serialize;

use super::types::InventoryContainer;

/// The stage of an inventory run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Listing the groups of every target (`done`/`total` count targets).
    Listing,
    /// Fetching each group's containers (`done`/`total` count groups; `total` is the groups
    /// listed so far).
    Fetching,
    /// Finished.
    Done,
}

/// One progress report. Within a run, `listing` reports count targets listed and `fetching`
/// reports count groups done; fetching starts with a target's first listing page, so the two
/// interleave while pages come in and `fetching`'s `total` grows until the last target is
/// listed. Within each stage `done` only rises; `done` comes last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    /// What is being done.
    pub stage: Stage,
    /// How many of the stage's items are done.
    pub done: u64,
    /// How many there are.
    pub total: u64,
}

/// A failure the inventory worked around: a target's listing or one group's containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryError {
    /// The target.
    pub target: String,
    /// The group (workload, service) whose containers could not be read; none for a listing.
    pub group: Option<String>,
    /// A stable code: `rate-limited`, `quota-exceeded`, `not-found`, `denied`,
    /// `unavailable`, `unsupported`, `failed`.
    pub code: String,
    /// What the source said.
    pub message: String,
    /// Calls made for it (more than one only when it was rate limited).
    pub attempts: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryStats {
    /// Wall time of the run, ms.
    pub duration_ms: u64,
    /// Targets asked.
    pub targets: u64,
    /// Groups (workloads, services) whose containers were wanted.
    pub workloads_processed: u64,
    /// Of those, read (from the source or the cache).
    pub workloads_succeeded: u64,
    /// Of those, failed.
    pub workloads_failed: u64,
    /// Containers found (before filters that apply to containers).
    pub containers_found: u64,
    /// Of those, healthy.
    pub containers_healthy: u64,
    /// Of those, unhealthy.
    pub containers_unhealthy: u64,
    /// Of those, suspended.
    pub containers_suspended: u64,
    /// Listings and groups answered from the cache.
    pub cache_hits: u64,
    /// Listings and groups not in the cache.
    pub cache_misses: u64,
    /// Calls made to sources (every attempt and every listing page).
    pub calls: u64,
    /// Calls answered "rate limited" (each was retried, or was the last attempt).
    pub rate_limited: u64,
    /// What failed, with its group.
    pub errors: Vec<InventoryError>,
}

impl InventoryStats {
    /// The run's wall time.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }
}

/// The answer to an inventory query.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryReport {
    /// The page of matching containers (empty for a count).
    pub containers: Vec<InventoryContainer>,
    /// How many containers match, over all pages.
    pub total: u64,
    /// Pass this as `cursor` for the next page; none on the last.
    pub next_cursor: Option<String>,
    /// What the run did.
    pub stats: InventoryStats,
}
