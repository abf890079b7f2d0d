//! Metering, quotas and billing cycles, with billing-rule plugins deciding prices and quotas.
//!
//! - `meter`: per container and interval of the engine's clock, what it held and used (fed by
//!   the health sampler's stats streams), gaps recorded as gaps;
//! - `quota`: before a deploy, scale, update or rollback, the org's rule answers `check-quota`
//!   with the org's allocation and the request; `deny` refuses it ([`QuotaDenial`]);
//! - `cycle`: per org and closed period, usage → the rule's `price` → invoice, lines, balance
//!   in one transaction, exactly once; grace and the operator's policy after it;
//! - `estimate`: what a stack would cost, priced by the same rule call before anything is
//!   deployed.
//!
//! Money is integer minor units; nothing here uses floats for it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use windlass_host_api::BillingRule;

pub(crate) mod cycle;
pub(crate) mod estimate;
pub(crate) mod ledger;
pub(crate) mod meter;
pub(crate) mod quota;
mod types;
pub(crate) mod utilisation;

pub use cycle::CycleReport;
pub use estimate::{Cost, Estimate, EstimateLine, HOURS_PER_MONTH, ServiceEstimate};
pub use meter::{MeterReport, MeteringWork};
pub use quota::{Allocation, QuotaDenial};
pub use types::{
    Account, BuildUsage, MeteringGap, Movement, StoredInvoice, StoredLine, UsageInterval,
};

/// An organisation's limits. `None`: unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Quotas {
    /// CPU allocated over all replicas, thousandths of a core.
    pub cpu_millis: Option<u64>,
    /// Memory allocated over all replicas, bytes.
    pub memory_bytes: Option<u64>,
    /// Disk, bytes (passed to the rule; the engine does not allocate disk yet).
    pub disk_bytes: Option<u64>,
    /// Containers (replicas over all services).
    pub containers: Option<u64>,
    /// Services.
    pub services: Option<u64>,
    /// Spend in the calendar month (UTC) so far, minor units of the account's currency: at
    /// or past it, requests that grow the org are refused.
    pub monthly_spend_minor: Option<u64>,
}

impl Quotas {
    /// No limits.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Sets the CPU limit.
    pub fn with_cpu_millis(mut self, limit: u64) -> Self {
        self.cpu_millis = Some(limit);
        self
    }

    /// Sets the memory limit.
    pub fn with_memory_bytes(mut self, limit: u64) -> Self {
        self.memory_bytes = Some(limit);
        self
    }

    /// Sets the disk limit.
    pub fn with_disk_bytes(mut self, limit: u64) -> Self {
        self.disk_bytes = Some(limit);
        self
    }

    /// Sets the container limit.
    pub fn with_containers(mut self, limit: u64) -> Self {
        self.containers = Some(limit);
        self
    }

    /// Sets the monthly spend limit (minor units).
    pub fn with_monthly_spend_minor(mut self, limit: u64) -> Self {
        self.monthly_spend_minor = Some(limit);
        self
    }

    /// Sets the service limit.
    pub fn with_services(mut self, limit: u64) -> Self {
        self.services = Some(limit);
        self
    }
}

/// What a quota check does when the rule fails (traps, times out, is disabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum QuotaFailurePolicy {
    /// Refuse the request (the default: fail closed).
    #[default]
    Deny,
    /// Let it through.
    Allow,
}

/// What happens when an organisation's grace period ends with its balance still negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum GracePolicy {
    /// Scale the org's services to zero replicas (their volumes and declarations stay).
    #[default]
    Stop,
    /// Only report it.
    None,
}

/// How the engine meters and bills, and which rule prices which org.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BillingConfig {
    /// The rule of orgs without their own (`None`: no billing, quotas checked by the engine).
    pub default_rule: Option<(String, BillingRule)>,
    /// Rules by org.
    pub rules: BTreeMap<String, (String, BillingRule)>,
    /// Limits of orgs without their own.
    pub default_quotas: Quotas,
    /// Limits by org.
    pub quotas: BTreeMap<String, Quotas>,
    /// When the rule fails a quota check.
    pub on_plugin_failure: QuotaFailurePolicy,
    /// The billing period (default 1 h).
    pub cycle: Duration,
    /// How long a negative balance is tolerated (default 24 h).
    pub grace: Duration,
    /// What happens after it.
    pub on_grace_end: GracePolicy,
    /// The currency of new accounts (default `EUR`).
    pub currency: String,
    /// The balance of a new account, minor units (default 0).
    pub opening_balance_minor: i64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            default_rule: None,
            rules: BTreeMap::new(),
            default_quotas: Quotas::default(),
            quotas: BTreeMap::new(),
            on_plugin_failure: QuotaFailurePolicy::Deny,
            cycle: Duration::from_secs(3600),
            grace: Duration::from_secs(24 * 3600),
            on_grace_end: GracePolicy::Stop,
            currency: "EUR".to_owned(),
            opening_balance_minor: 0,
        }
    }
}

impl BillingConfig {
    /// The rule (name, handle) pricing `org`.
    pub fn rule_for(&self, org: &str) -> Option<&(String, BillingRule)> {
        self.rules.get(org).or(self.default_rule.as_ref())
    }

    /// The limits of `org`.
    pub fn quotas_for(&self, org: &str) -> &Quotas {
        self.quotas.get(org).unwrap_or(&self.default_quotas)
    }
}

/// The billing state an engine keeps between calls: warm rule sessions, the meter's cursor.
#[derive(Debug)]
pub(crate) struct BillingState {
    pub config: Arc<BillingConfig>,
    /// One warm session per rule name, for quota checks on the deploy path.
    pub sessions: tokio::sync::Mutex<BTreeMap<String, windlass_host_api::BillingSession>>,
    pub meter: tokio::sync::Mutex<meter::MeterState>,
    pub cycles: tokio::sync::Mutex<cycle::CycleState>,
    pub levels: tokio::sync::Mutex<utilisation::Levels>,
}

impl BillingState {
    pub(crate) fn new(config: BillingConfig) -> Self {
        Self {
            config: Arc::new(config),
            sessions: tokio::sync::Mutex::default(),
            meter: tokio::sync::Mutex::default(),
            cycles: tokio::sync::Mutex::default(),
            levels: tokio::sync::Mutex::default(),
        }
    }
}
