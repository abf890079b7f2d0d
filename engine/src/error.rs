//! The engine's error type.

use crate::spec::SpecError;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The builder was given an unusable setting.
    #[error("engine configuration: {0}")]
    Config(String),
    /// A declaration was refused; names the field at fault.
    #[error(transparent)]
    InvalidSpec(#[from] SpecError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    /// The event log failed.
    #[error(transparent)]
    Events(#[from] crate::EventLogError),
    /// Docker failed.
    #[error(transparent)]
    Runtime(#[from] crate::RuntimeError),
    /// The action does not fit the current state (e.g. starting a running container).
    #[error("conflict: {what}")]
    Conflict {
        /// What conflicts, and why.
        what: String,
    },
    /// A stack was refused; every problem, each with its field.
    #[error("invalid stack:\n{0}")]
    InvalidStack(crate::stacks::StackErrors),
    /// A secrets operation failed (never with a value in the message).
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// The operator's policy does not allow the service; names the rule.
    #[error(transparent)]
    PolicyDenied(#[from] crate::policy::PolicyDenied),
    /// A request does not fit the org's quota; nothing was stored.
    #[error(transparent)]
    QuotaExceeded(crate::billing::QuotaDenial),
    /// The target only reads (its adapter says so): nothing is deployed, scaled or removed
    /// there.
    #[error("target `{target}` is read-only: {reason}")]
    ReadOnlyTarget {
        /// The target.
        target: String,
        /// Why, as the adapter words its capabilities.
        reason: String,
    },
    /// The org's billing rule failed to price (a trap, a timeout, an invoice that does not
    /// add up): nothing was charged or stored.
    #[error("billing rule `{rule}` failed: {reason}")]
    BillingRuleFailed {
        /// The rule.
        rule: String,
        /// Why, as the cycle's checks or the sandbox word it.
        reason: String,
    },
    /// The target's platform cannot be reached (or asks to slow down): nothing was changed;
    /// try again later.
    #[error("target `{target}` is unavailable: {message}")]
    TargetUnavailable {
        /// The target.
        target: String,
        /// What its adapter said.
        message: String,
    },
    /// The target's platform or adapter refused the request (invalid, denied, over its
    /// quota, or something the adapter does not do).
    #[error("target `{target}` refused: {message}")]
    TargetRefused {
        /// The target.
        target: String,
        /// Why, as the adapter words it.
        message: String,
    },
    /// The target's adapter plugin failed (a trap, a timeout, an outbound request it was not
    /// granted); the plugin host contained it and reported it as a plugin event.
    #[error("the adapter of target `{target}` failed: {message}")]
    AdapterFailed {
        /// The target.
        target: String,
        /// What the plugin host said.
        message: String,
    },
    /// Something asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `service acme/shop/web`.
        what: String,
    },
}

impl EngineError {
    /// A stable machine-readable code, for APIs and events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::InvalidSpec(_) | Self::InvalidStack(_) => "validation",
            Self::Store(_) => "store",
            Self::Events(_) => "events",
            Self::Runtime(_) => "runtime",
            Self::NotFound { .. } => "not-found",
            Self::Conflict { .. } => "conflict",
            Self::ReadOnlyTarget { .. } => "target-read-only",
            Self::TargetUnavailable { .. } => "target-unavailable",
            Self::TargetRefused { .. } => "target-refused",
            Self::AdapterFailed { .. } => "adapter-failed",
            Self::Secret(e) => e.code(),
            Self::PolicyDenied(_) => "policy-denied",
            Self::QuotaExceeded(_) => "quota-exceeded",
            Self::BillingRuleFailed { .. } => "billing-rule-failed",
        }
    }
}
