//! Health checks as declared on a service: what to probe, how often, and when the result
//! counts.

use serde::{Deserialize, Serialize};

use super::Probe;

/// What a health check decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// Must pass once before the other checks run; failing it restarts the container.
    Startup,
    /// Whether the container is ready for traffic and for its dependents; never restarts.
    Readiness,
    /// Whether the container is alive; failing it restarts the container through its restart
    /// policy (so backoff applies).
    Liveness,
}

impl CheckKind {
    /// The kind's name in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Readiness => "readiness",
            Self::Liveness => "liveness",
        }
    }
}

/// One health check of a service, run by the engine against each of its containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Startup, readiness or liveness.
    pub kind: CheckKind,
    /// How to probe.
    pub probe: Probe,
    /// Time between probes, in milliseconds (default 10 000).
    #[serde(default = "defaults::interval_ms")]
    pub interval_ms: u64,
    /// Time one probe may take, in milliseconds (default 1 000).
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Consecutive failures before the check fails (default 3).
    #[serde(default = "defaults::failure_threshold")]
    pub failure_threshold: u32,
    /// Consecutive successes before the check passes (default 1).
    #[serde(default = "defaults::success_threshold")]
    pub success_threshold: u32,
    /// Failures in this many milliseconds after the container starts do not count (default 0).
    #[serde(default)]
    pub start_period_ms: u64,
}

mod defaults {
    pub fn interval_ms() -> u64 {
        10_000
    }
    pub fn timeout_ms() -> u64 {
        1_000
    }
    pub fn failure_threshold() -> u32 {
        3
    }
    pub fn success_threshold() -> u32 {
        1
    }
}

impl HealthCheck {
    /// A check with the default timings.
    pub fn new(kind: CheckKind, probe: Probe) -> Self {
        Self {
            kind,
            probe,
            interval_ms: defaults::interval_ms(),
            timeout_ms: defaults::timeout_ms(),
            failure_threshold: defaults::failure_threshold(),
            success_threshold: defaults::success_threshold(),
            start_period_ms: 0,
        }
    }

    /// Sets the interval between probes.
    pub fn every(mut self, interval: std::time::Duration) -> Self {
        self.interval_ms = interval.as_millis() as u64;
        self
    }

    /// Sets how many consecutive failures make the check fail.
    pub fn failing_after(mut self, failures: u32) -> Self {
        self.failure_threshold = failures.max(1);
        self
    }
}
