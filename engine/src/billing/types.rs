//! What metering and billing store and answer: usage intervals, gaps, invoices, balances.

use serde::Serialize;

/// What one managed container held and used over one metering interval.
///
/// Keyed by `(container, interval_start_ms)`: writing the same interval again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[non_exhaustive]
pub struct UsageInterval {
    /// The container's name.
    pub container: String,
    /// The aligned start of the metering interval (a multiple of the interval length).
    pub interval_start_ms: i64,
    /// When the container's metered span starts (later than the interval's start when it
    /// started, or the engine did, inside the interval).
    pub start_ms: i64,
    /// When it ends.
    pub end_ms: i64,
    /// The engine that metered it.
    pub engine: String,
    /// The org billed.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// CPU allocated, thousandths of a core (`None`: no limit).
    pub cpu_millis: Option<i64>,
    /// Memory allocated, bytes (`None`: no limit).
    pub memory_bytes: Option<i64>,
    /// Storage held (writable layer and volumes), bytes, when measured.
    pub disk_bytes: Option<i64>,
    /// CPU used, core-milliseconds (from the stats stream).
    pub cpu_used_core_ms: i64,
    /// Memory used, byte-seconds (from the stats stream).
    pub memory_used_byte_s: i64,
    /// Bytes sent over the network during the interval.
    pub egress_bytes: i64,
}

impl UsageInterval {
    /// An interval of `container` (of `org`/`stack`/`service`, metered by `engine`) over
    /// `start_ms..end_ms`, aligned at `start_ms`, allocated nothing and using nothing: set the
    /// fields to say more. For imports and benchmarks ([`Engine::record_usage`](crate::Engine::record_usage)).
    pub fn new(
        engine: &str,
        (org, stack, service): (&str, &str, &str),
        container: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Self {
        Self {
            container: container.to_owned(),
            interval_start_ms: start_ms,
            start_ms,
            end_ms,
            engine: engine.to_owned(),
            org: org.to_owned(),
            stack: stack.to_owned(),
            service: service.to_owned(),
            cpu_millis: None,
            memory_bytes: None,
            disk_bytes: None,
            cpu_used_core_ms: 0,
            memory_used_byte_s: 0,
            egress_bytes: 0,
        }
    }

    /// Sets the allocation.
    pub fn with_allocation(mut self, cpu_millis: Option<i64>, memory_bytes: Option<i64>) -> Self {
        self.cpu_millis = cpu_millis;
        self.memory_bytes = memory_bytes;
        self
    }
}

/// A span during which the engine did not meter (it was not running), with its length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[non_exhaustive]
pub struct MeteringGap {
    /// The engine.
    pub engine: String,
    /// Start of the gap.
    pub start_ms: i64,
    /// End of the gap (when metering resumed).
    pub end_ms: i64,
}

/// A stored invoice: one per organisation and billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoredInvoice {
    /// The org charged.
    pub org: String,
    /// Start of the period (inclusive).
    pub period_start_ms: i64,
    /// End of the period (exclusive).
    pub period_end_ms: i64,
    /// The billing rule plugin that priced it.
    pub rule: String,
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// The total, minor units (the sum of the lines).
    pub total_minor: i64,
    /// When it was stored (engine clock).
    pub created_ms: i64,
    /// Its lines, in the rule's order.
    pub lines: Vec<StoredLine>,
}

/// One line of a [`StoredInvoice`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StoredLine {
    /// What is charged.
    pub description: String,
    /// The quantity in `unit`, times 1,000,000.
    pub quantity_micros: i64,
    /// The unit, e.g. `core-hour`.
    pub unit: String,
    /// The amount, minor units.
    pub amount_minor: i64,
}

/// An organisation's credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[non_exhaustive]
pub struct Account {
    /// The org.
    pub org: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// The balance, minor units (negative: owed).
    pub balance_minor: i64,
    /// The start of the next period to charge.
    pub next_period_ms: i64,
    /// When the balance first could not cover a cycle (the grace period runs from here).
    pub grace_started_ms: Option<i64>,
    /// When the grace policy stopped the org's services.
    pub stopped_ms: Option<i64>,
}

/// One change of a balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[non_exhaustive]
pub struct Movement {
    /// The org.
    pub org: String,
    /// Its position in the org's movements, from 1.
    pub seq: i64,
    /// When (engine clock).
    pub at_ms: i64,
    /// `invoice` or `top-up`.
    pub kind: String,
    /// The change, minor units (negative for invoices).
    pub amount_minor: i64,
    /// The balance after it.
    pub balance_minor: i64,
    /// The invoice's period start, or the top-up's reference.
    pub reference: String,
}

/// The wall time one build ran for its org, metered once when it ended.
///
/// Keyed by the build's id: writing it again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[non_exhaustive]
pub struct BuildUsage {
    /// The build's id.
    pub build: String,
    /// The engine that ran it.
    pub engine: String,
    /// The org billed.
    pub org: String,
    /// The stack of the service built.
    pub stack: String,
    /// The service built.
    pub service: String,
    /// When it left the queue (engine clock).
    pub started_ms: i64,
    /// When it reached a terminal state.
    pub finished_ms: i64,
    /// Its wall time in whole seconds, rounded up (a second begun is a second used).
    pub build_seconds: i64,
}

impl BuildUsage {
    /// What `record` (finished) used; `None` while it runs or when it never left the queue.
    pub(crate) fn of(engine: &str, record: &crate::builds::BuildRecord) -> Option<Self> {
        let started_ms = record.started_ms?;
        let finished_ms = record.finished_ms?.max(started_ms);
        let ms = finished_ms - started_ms;
        Some(Self {
            build: record.id.clone(),
            engine: engine.to_owned(),
            org: record.org.clone(),
            stack: record.stack.clone(),
            service: record.service.clone(),
            started_ms,
            finished_ms,
            build_seconds: ms / 1000 + i64::from(ms % 1000 != 0),
        })
    }
}
