//! Constructors for contract types the host and its embedders build often.

use crate::types::{
    DeployRequest, FailureAction, MeasuredUsage, ServiceSpec, UpdateOrder, UpdatePolicy,
};

impl MeasuredUsage {
    /// Nothing measured: every figure zero (what a 0.1.0 usage record converts to, and what
    /// the engine passes while it does not meter real use).
    pub const ZERO: Self = Self {
        cpu_core_micros: 0,
        memory_byte_seconds: 0,
        storage_byte_seconds: 0,
        egress_bytes: 0,
        build_seconds: 0,
    };
}

impl UpdatePolicy {
    /// One replica at a time, stopping the old one first, no delay, pausing on a failure that
    /// shows within 5 s (Docker Swarm's defaults).
    pub const DEFAULT: Self = Self {
        parallelism: 1,
        delay_ms: 0,
        order: UpdateOrder::StopFirst,
        failure_action: FailureAction::Pause,
        monitor_ms: 5_000,
        max_failure_ratio_permille: 0,
    };
}

impl DeployRequest {
    /// A request to deploy `service` of `org`'s `stack` with no network, the default update
    /// policy and no engine labels.
    pub fn new(org: impl Into<String>, stack: impl Into<String>, service: ServiceSpec) -> Self {
        Self {
            org: org.into(),
            stack: stack.into(),
            service,
            network: None,
            update: UpdatePolicy::DEFAULT,
            labels: Vec::new(),
        }
    }

    /// The same request with one more engine label.
    #[must_use]
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.push((key.into(), value.into()));
        self
    }
}
