//! How a new revision of a service replaces its running replicas.

use serde::{Deserialize, Serialize};

/// Which goes first when a replica is replaced by one of a new revision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    /// The new replica starts beside the old one and must be ready (its readiness and startup
    /// checks pass) for `min_healthy_ms` before the old one is drained and stopped: no gap in
    /// service. Services publishing a fixed host port, or mounting a named volume read-write,
    /// fall back to stop-first (two replicas cannot hold one host port, and two database
    /// processes must not share one data directory).
    #[default]
    StartFirst,
    /// The old replica stops, then the new one starts.
    StopFirst,
}

/// The rolling update of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// Start-first (default) or stop-first.
    #[serde(default)]
    pub order: UpdateOrder,
    /// How many replicas are replaced at once (default 1).
    #[serde(default = "defaults::max_parallel")]
    pub max_parallel: u32,
    /// How long a new replica must run and be ready before an old one goes (default 1 000 ms).
    #[serde(default = "defaults::min_healthy_ms")]
    pub min_healthy_ms: u64,
    /// How long the update may go without replacing a replica before it fails (default
    /// 60 000 ms).
    #[serde(default = "defaults::progress_deadline_ms")]
    pub progress_deadline_ms: u64,
    /// Whether a failed update rolls back to the revision it replaced (default true).
    #[serde(default = "defaults::auto_rollback")]
    pub auto_rollback: bool,
}

mod defaults {
    pub fn max_parallel() -> u32 {
        1
    }
    pub fn min_healthy_ms() -> u64 {
        1_000
    }
    pub fn progress_deadline_ms() -> u64 {
        60_000
    }
    pub fn auto_rollback() -> bool {
        true
    }
}

impl Default for UpdatePolicy {
    fn default() -> Self {
        Self {
            order: UpdateOrder::default(),
            max_parallel: defaults::max_parallel(),
            min_healthy_ms: defaults::min_healthy_ms(),
            progress_deadline_ms: defaults::progress_deadline_ms(),
            auto_rollback: defaults::auto_rollback(),
        }
    }
}

impl UpdatePolicy {
    /// Whether this is the default policy (then it is left out of a stored spec, so the specs
    /// stored before it existed keep their hash).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}
