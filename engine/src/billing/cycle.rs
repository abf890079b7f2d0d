//! Billing cycles: per org and closed period, the period's usage becomes usage records, the
//! org's rule prices them, and the invoice, its lines and the balance deduction are stored in
//! one transaction per org (`Store::charge_batch`: many orgs' transactions as savepoints of
//! one), keyed by (org, period): run twice, killed half-way or run late, each period is
//! charged exactly once.
//!
//! A period is closed once metering has passed its end. An invoice the rule gets wrong
//! (negative amounts, another currency, a total that is not the sum of its lines, an
//! overflow) or a rule that fails stores nothing: an event says why and the period is retried
//! when the next period closes. A balance that cannot cover a cycle starts the grace period;
//! at its end the operator's [`GracePolicy`](super::GracePolicy) applies. Events at every step.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use windlass_host_api::types::{BillingPeriod, Invoice, MeasuredUsage, Resources, UsageRecord};

use super::{GracePolicy, StoredInvoice, StoredLine, UsageInterval};
use crate::engine::Engine;
use crate::store::{Charged, NotCharged, Scope};
use crate::{EngineError, NewEvent};

/// Periods that failed, by org: retried once metering has passed this point.
#[derive(Debug, Default)]
pub(crate) struct CycleState {
    retry_after: BTreeMap<String, i64>,
}

/// What one round of billing cycles did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CycleReport {
    /// Invoices stored now: org, period start, total (minor units).
    pub charged: Vec<(String, i64, i64)>,
    /// Periods that could not be charged: org, period start, why.
    pub failed: Vec<(String, i64, String)>,
    /// Orgs whose services the grace policy stopped now.
    pub stopped: Vec<String>,
    /// Time spent in the rules' `price` calls (what a natively priced cycle would not spend).
    #[serde(rename = "pricing_us", serialize_with = "micros")]
    pub pricing: std::time::Duration,
}

fn micros<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Runs every due cycle: every org with metered usage and a rule, every closed period.
pub(crate) async fn run(engine: &Engine, closed_until: i64) -> Result<CycleReport, EngineError> {
    let ctx = &engine.inner().ctx;
    let billing = &engine.inner().billing;
    let config = billing.config.clone();
    let period = i64::try_from(config.cycle.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let mut state = billing.cycles.lock().await;
    let mut report = CycleReport::default();
    let mut sessions = BTreeMap::new();
    // The round's events are appended together at its end, after the charges they describe
    // committed: one event-log commit per round, not one per org.
    let mut events = Vec::new();
    let metered: Vec<(String, i64)> = ctx
        .store
        .metered_orgs()
        .await?
        .into_iter()
        .filter(|(org, _)| config.rule_for(org).is_some())
        .map(|(org, first_ms)| (org, first_ms - first_ms.rem_euclid(period)))
        .collect();
    ctx.store
        .ensure_accounts(&metered, &config.currency, config.opening_balance_minor)
        .await?;
    let mut accounts: BTreeMap<String, super::Account> = ctx
        .store
        .accounts()
        .await?
        .into_iter()
        .map(|a| (a.org.clone(), a))
        .collect();
    let mut due: Vec<String> = metered
        .into_iter()
        .map(|(org, _)| org)
        .filter(|org| {
            state
                .retry_after
                .get(org)
                .is_none_or(|at| closed_until >= *at)
        })
        .collect();
    // Rounds: each charges the next closed period of every due org, the orgs of one period
    // together (one usage read, one transaction per batch); an org late by several periods
    // takes one round per period.
    loop {
        due.retain(|org| {
            accounts
                .get(org)
                .is_some_and(|a| a.next_period_ms.saturating_add(period) <= closed_until)
        });
        if due.is_empty() {
            break;
        }
        let mut by_start: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for org in &due {
            if let Some(account) = accounts.get(org) {
                by_start
                    .entry(account.next_period_ms)
                    .or_default()
                    .push(org.as_str());
            }
        }
        let mut stalled: Vec<String> = Vec::new();
        for (start, orgs) in by_start {
            let end = start + period;
            let window = BillingPeriod {
                start_ms: u64::try_from(start).unwrap_or(0),
                end_ms: u64::try_from(end).unwrap_or(0),
            };
            // Per org, the period's records, or why they cannot be made (a metered value the
            // contract cannot carry).
            let mut usage: BTreeMap<String, Result<Vec<UsageRecord>, String>> = BTreeMap::new();
            for interval in ctx.store.usage_of_orgs(&orgs, start, end).await? {
                let entry = usage.entry(interval.org.clone()).or_insert(Ok(Vec::new()));
                if let Ok(records) = entry {
                    match metered_record(&interval, start) {
                        Ok(r) => records.push(r),
                        Err(why) => *entry = Err(why),
                    }
                }
            }
            for build in ctx
                .store
                .build_usage_of_orgs(Some(&orgs), start, end)
                .await?
            {
                let entry = usage.entry(build.org.clone()).or_insert(Ok(Vec::new()));
                if let Ok(records) = entry {
                    match build_record(&build) {
                        Ok(r) => records.push(r),
                        Err(why) => *entry = Err(why),
                    }
                }
            }
            let mut priced = Vec::with_capacity(orgs.len());
            for org in orgs {
                let Some((rule_name, rule)) = config.rule_for(org) else {
                    stalled.push(org.to_owned());
                    continue;
                };
                let Some(account) = accounts.get(org) else {
                    continue;
                };
                let checked = match usage.remove(org).unwrap_or(Ok(Vec::new())) {
                    Err(why) => Err(why),
                    Ok(records) => {
                        let session = sessions
                            .entry(rule_name.clone())
                            .or_insert_with(|| rule.session());
                        crate::failpoint::point("billing.before-pricing").await;
                        let started = std::time::Instant::now();
                        let outcome = session.price(window, &records).await;
                        report.pricing += started.elapsed();
                        match outcome {
                            Ok(Ok(invoice)) => check(&invoice, window, &account.currency),
                            Ok(Err(error)) => Err(format!(
                                "the rule refused to price: {} ({})",
                                error.message, error.code
                            )),
                            Err(error) => Err(format!("the rule failed: {error}")),
                        }
                    }
                };
                match checked {
                    Ok(lines) => priced.push(StoredInvoice {
                        org: org.to_owned(),
                        period_start_ms: start,
                        period_end_ms: end,
                        rule: rule_name.clone(),
                        currency: account.currency.clone(),
                        total_minor: lines.iter().map(|l| l.amount_minor).sum(),
                        created_ms: ctx.now_ms(),
                        lines,
                    }),
                    Err(why) => {
                        // One org's failure stores nothing for it; the others go on.
                        stalled.push(org.to_owned());
                        events.push(failed(
                            &mut state,
                            &mut report,
                            org,
                            rule_name,
                            start,
                            end + period,
                            why,
                        ));
                    }
                }
            }
            crate::failpoint::point("billing.after-pricing").await;
            for batch in priced.chunks(BATCH) {
                let pairs: Vec<(&StoredInvoice, i64)> =
                    batch.iter().map(|i| (i, i.period_end_ms)).collect();
                let outcomes = ctx.store.charge_batch(&pairs).await?;
                for (invoice, outcome) in batch.iter().zip(outcomes) {
                    let org = &invoice.org;
                    match outcome {
                        Ok(outcome) => {
                            charged(
                                &config,
                                &mut accounts,
                                &mut events,
                                &mut report,
                                invoice,
                                outcome,
                            );
                            state.retry_after.remove(org);
                        }
                        Err(NotCharged::AlreadyCharged) => {
                            // Another engine (or an earlier attempt) charged it: read where it
                            // stands.
                            match ctx.store.account(org).await? {
                                Some(account) => {
                                    accounts.insert(org.clone(), account);
                                }
                                None => stalled.push(org.clone()),
                            }
                        }
                        Err(NotCharged::Overflow) => {
                            stalled.push(org.clone());
                            events.push(failed(
                                &mut state,
                                &mut report,
                                org,
                                &invoice.rule,
                                invoice.period_start_ms,
                                invoice.period_end_ms + period,
                                "the balance would overflow a 64-bit integer".to_owned(),
                            ));
                        }
                    }
                }
            }
        }
        due.retain(|org| !stalled.contains(org));
    }
    ctx.emit_all(events).await;
    drop(state);
    enforce_grace(engine, &mut report).await?;
    Ok(report)
}

/// Orgs charged in one store transaction (each in a savepoint of its own).
const BATCH: usize = 250;

/// After `invoice` was stored: its event, the account as it is now, the grace period started
/// (in the same transaction) when the balance went below zero.
fn charged(
    config: &super::BillingConfig,
    accounts: &mut BTreeMap<String, super::Account>,
    events: &mut Vec<NewEvent>,
    report: &mut CycleReport,
    invoice: &StoredInvoice,
    outcome: Charged,
) {
    let org = &invoice.org;
    let balance = outcome.balance_minor;
    events.push(
        NewEvent::new("billing-invoice-stored")
            .with_org(org)
            .with_payload(json!({
                "rule": invoice.rule,
                "period_start_ms": invoice.period_start_ms,
                "period_end_ms": invoice.period_end_ms,
                "total_minor": invoice.total_minor,
                "currency": invoice.currency,
                "lines": invoice.lines.len(),
                "balance_minor": balance,
            })),
    );
    report
        .charged
        .push((org.clone(), invoice.period_start_ms, invoice.total_minor));
    let Some(account) = accounts.get_mut(org) else {
        return;
    };
    account.balance_minor = balance;
    account.next_period_ms = invoice.period_end_ms;
    let started = account.grace_started_ms.is_none();
    account.grace_started_ms = outcome.grace_started_ms;
    if let (true, Some(now)) = (started, outcome.grace_started_ms) {
        let grace_ms = i64::try_from(config.grace.as_millis()).unwrap_or(i64::MAX);
        events.push(
            NewEvent::new("billing-grace-started")
                .with_org(org)
                .with_payload(json!({
                    "balance_minor": balance,
                    "grace_ms": grace_ms,
                    "ends_ms": now.saturating_add(grace_ms),
                })),
        );
    }
}

/// Records a period that could not be charged; returns its event.
fn failed(
    state: &mut CycleState,
    report: &mut CycleReport,
    org: &str,
    rule: &str,
    start: i64,
    retry_at: i64,
    why: String,
) -> NewEvent {
    state.retry_after.insert(org.to_owned(), retry_at);
    let event = NewEvent::new("billing-cycle-failed")
        .with_org(org)
        .with_payload(json!({
            "rule": rule,
            "period_start_ms": start,
            "reason": why,
            "retry_after_ms": retry_at,
        }));
    report.failed.push((org.to_owned(), start, why));
    event
}

/// A metered interval of the period starting at `period_start` as the contract's usage
/// record: its allocation, and what it used when the interval belongs to this period (its
/// aligned start is in it). An interval reaching in from the period before (a period that is
/// not a multiple of the interval) is handed for its allocation only, which the rule clips: its
/// use was handed with that period, and is handed once.
pub(crate) fn metered_record(u: &UsageInterval, period_start: i64) -> Result<UsageRecord, String> {
    let mut record = record(u);
    if u.interval_start_ms >= period_start {
        record.used = measured(u)?;
    }
    Ok(record)
}

/// What an interval used, in the contract's units: CPU core-milliseconds become
/// core-microseconds (× 1000), memory byte-seconds and egress bytes are passed as metered.
/// Exact: a value the contract cannot carry (negative, or beyond 64 bits once converted) is an
/// error, never a wrap.
pub(crate) fn measured(u: &UsageInterval) -> Result<MeasuredUsage, String> {
    let unsigned = |what: &str, v: i64| {
        u64::try_from(v).map_err(|_| {
            format!(
                "container {} at {}: {what} is negative ({v})",
                u.container, u.interval_start_ms
            )
        })
    };
    let cpu_core_micros = unsigned("cpu_used_core_ms", u.cpu_used_core_ms)?
        .checked_mul(1_000)
        .ok_or_else(|| {
            format!(
                "container {} at {}: cpu_used_core_ms {} overflows 64 bits as core-microseconds",
                u.container, u.interval_start_ms, u.cpu_used_core_ms
            )
        })?;
    // Storage held, integrated over the interval: the measured bytes × its length.
    let held_ms = unsigned("the interval's length", u.end_ms - u.start_ms)?;
    let storage_byte_seconds = match u.disk_bytes {
        None => 0,
        Some(bytes) => u128::from(unsigned("disk_bytes", bytes)?)
            .checked_mul(u128::from(held_ms))
            .map(|byte_ms| byte_ms / 1_000)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| {
                format!(
                    "container {} at {}: disk_bytes {bytes} over {held_ms} ms overflows 64 bits as byte-seconds",
                    u.container, u.interval_start_ms
                )
            })?,
    };
    Ok(MeasuredUsage {
        cpu_core_micros,
        memory_byte_seconds: unsigned("memory_used_byte_s", u.memory_used_byte_s)?,
        storage_byte_seconds,
        egress_bytes: unsigned("egress_bytes", u.egress_bytes)?,
        build_seconds: 0,
    })
}

/// A metered build as the contract's usage record: container = the build's id, spanning the
/// build's run, no allocation (the rule clips nothing of it), `used.build-seconds`.
pub(crate) fn build_record(b: &super::BuildUsage) -> Result<UsageRecord, String> {
    let build_seconds = u64::try_from(b.build_seconds)
        .map_err(|_| format!("build {}: build_seconds is negative", b.build))?;
    Ok(UsageRecord {
        org: b.org.clone(),
        stack: b.stack.clone(),
        service: b.service.clone(),
        container: b.build.clone(),
        resources: Resources {
            cpu_millis: None,
            memory_bytes: None,
            disk_bytes: None,
        },
        start_ms: u64::try_from(b.started_ms).unwrap_or(0),
        end_ms: u64::try_from(b.finished_ms).unwrap_or(0),
        used: MeasuredUsage {
            build_seconds,
            ..MeasuredUsage::ZERO
        },
    })
}

/// A metered interval's allocation as the contract's usage record, `used` zero (what an
/// estimate prices: use cannot be known before it happens).
pub(crate) fn record(u: &UsageInterval) -> UsageRecord {
    UsageRecord {
        org: u.org.clone(),
        stack: u.stack.clone(),
        service: u.service.clone(),
        container: u.container.clone(),
        resources: Resources {
            cpu_millis: u.cpu_millis.and_then(|c| u32::try_from(c).ok()),
            memory_bytes: u.memory_bytes.and_then(|m| u64::try_from(m).ok()),
            disk_bytes: u.disk_bytes.and_then(|d| u64::try_from(d).ok()),
        },
        start_ms: u64::try_from(u.start_ms).unwrap_or(0),
        end_ms: u64::try_from(u.end_ms).unwrap_or(0),
        used: MeasuredUsage::ZERO,
    }
}

/// Checks what the rule returned; the lines to store, or why not.
pub(crate) fn check(
    invoice: &Invoice,
    period: BillingPeriod,
    currency: &str,
) -> Result<Vec<StoredLine>, String> {
    if invoice.period.start_ms != period.start_ms || invoice.period.end_ms != period.end_ms {
        return Err(format!(
            "the invoice is for {}..{}, not the period priced {}..{}",
            invoice.period.start_ms, invoice.period.end_ms, period.start_ms, period.end_ms
        ));
    }
    let mut sum: i64 = 0;
    let mut lines = Vec::with_capacity(invoice.lines.len());
    for (n, line) in invoice.lines.iter().enumerate() {
        if line.amount.currency != currency {
            return Err(format!(
                "line {n} is in {}, the account in {currency}",
                line.amount.currency
            ));
        }
        if line.amount.minor < 0 {
            return Err(format!(
                "line {n} has a negative amount ({})",
                line.amount.minor
            ));
        }
        sum = sum
            .checked_add(line.amount.minor)
            .ok_or_else(|| "the lines' sum overflows a 64-bit integer".to_owned())?;
        lines.push(StoredLine {
            description: line.description.clone(),
            quantity_micros: i64::try_from(line.quantity_micros)
                .map_err(|_| format!("line {n}'s quantity overflows a 64-bit integer"))?,
            unit: line.unit.clone(),
            amount_minor: line.amount.minor,
        });
    }
    if invoice.total.currency != currency {
        return Err(format!(
            "the total is in {}, the account in {currency}",
            invoice.total.currency
        ));
    }
    if invoice.total.minor != sum {
        return Err(format!(
            "the total ({}) is not the sum of the lines ({sum})",
            invoice.total.minor
        ));
    }
    Ok(lines)
}

/// Applies the grace policy to every account whose grace period is over.
async fn enforce_grace(engine: &Engine, report: &mut CycleReport) -> Result<(), EngineError> {
    let ctx = &engine.inner().ctx;
    let config = engine.inner().billing.config.clone();
    let now = ctx.now_ms();
    let grace = i64::try_from(config.grace.as_millis()).unwrap_or(i64::MAX);
    for account in ctx.store.accounts().await? {
        let Some(started) = account.grace_started_ms else {
            continue;
        };
        if account.balance_minor >= 0 || account.stopped_ms.is_some() {
            continue;
        }
        if now < started.saturating_add(grace) {
            continue;
        }
        let org = &account.org;
        let mut stopped = Vec::new();
        if config.on_grace_end == GracePolicy::Stop {
            for service in engine.services(Scope::Org(org)).await? {
                if service.replicas > 0 {
                    engine
                        .scale(&service.org, &service.stack, &service.service, 0)
                        .await?;
                    stopped.push(json!({
                        "stack": service.stack,
                        "service": service.service,
                        "replicas": service.replicas,
                    }));
                }
            }
        }
        ctx.store.set_grace(org, Some(started), Some(now)).await?;
        ctx.emit(
            NewEvent::new("billing-grace-ended")
                .with_org(org)
                .with_payload(json!({
                    "balance_minor": account.balance_minor,
                    "policy": config.on_grace_end,
                    "stopped": stopped,
                })),
        )
        .await;
        if config.on_grace_end == GracePolicy::Stop {
            report.stopped.push(org.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use windlass_host_api::types::{InvoiceLine, Money};

    use super::*;

    fn eur(minor: i64) -> Money {
        Money {
            minor,
            currency: "EUR".into(),
        }
    }

    fn invoice(lines: &[i64], total: i64) -> (Invoice, BillingPeriod) {
        let period = BillingPeriod {
            start_ms: 0,
            end_ms: 3_600_000,
        };
        let lines = lines
            .iter()
            .map(|&minor| InvoiceLine {
                description: "x".into(),
                quantity_micros: 1,
                unit: "core-hour".into(),
                amount: eur(minor),
            })
            .collect();
        (
            Invoice {
                period,
                lines,
                total: eur(total),
            },
            period,
        )
    }

    #[test]
    fn metered_use_is_converted_exactly_and_handed_once() {
        let mut u = UsageInterval::new("e", ("acme", "shop", "web"), "c-1", 60_000, 120_000);
        u.cpu_used_core_ms = 1_234;
        u.memory_used_byte_s = 5 << 30;
        u.egress_bytes = 999;
        let used = metered_record(&u, 0).unwrap().used;
        assert_eq!(used.cpu_core_micros, 1_234_000);
        assert_eq!(used.memory_byte_seconds, 5 << 30);
        assert_eq!(used.egress_bytes, 999);
        assert_eq!((used.storage_byte_seconds, used.build_seconds), (0, 0));
        // Storage held: the measured bytes over the interval's minute.
        u.disk_bytes = Some(3 << 20);
        assert_eq!(measured(&u).unwrap().storage_byte_seconds, (3 << 20) * 60);
        u.disk_bytes = Some(i64::MAX);
        assert!(measured(&u).unwrap_err().contains("overflows"));
        u.disk_bytes = None;
        // Reaching in from the period before: allocation only.
        assert_eq!(
            metered_record(&u, 90_000).unwrap().used,
            MeasuredUsage::ZERO
        );
        // The estimate's conversion never carries use.
        assert_eq!(record(&u).used, MeasuredUsage::ZERO);
        // Overflow and negative values are errors, not wraps.
        u.cpu_used_core_ms = i64::MAX;
        assert!(measured(&u).unwrap_err().contains("overflows"));
        u.cpu_used_core_ms = i64::MAX / 1000;
        assert_eq!(
            measured(&u).unwrap().cpu_core_micros,
            u64::try_from(i64::MAX / 1000).unwrap() * 1000
        );
        u.egress_bytes = -1;
        assert!(measured(&u).unwrap_err().contains("negative"));
    }

    #[test]
    fn a_sound_invoice_passes_and_nonsense_says_why() {
        let (ok, period) = invoice(&[50, 5], 55);
        assert_eq!(check(&ok, period, "EUR").map(|l| l.len()), Ok(2));
        let (mismatch, _) = invoice(&[50, 5], 54);
        assert!(
            check(&mismatch, period, "EUR")
                .unwrap_err()
                .contains("not the sum")
        );
        let (negative, _) = invoice(&[-5], -5);
        assert!(
            check(&negative, period, "EUR")
                .unwrap_err()
                .contains("negative")
        );
        assert!(check(&ok, period, "USD").unwrap_err().contains("EUR"));
        let (overflow, _) = invoice(&[i64::MAX, 1], 0);
        assert!(
            check(&overflow, period, "EUR")
                .unwrap_err()
                .contains("overflow")
        );
        let other = BillingPeriod {
            start_ms: 1,
            end_ms: 2,
        };
        assert!(
            check(&ok, other, "EUR")
                .unwrap_err()
                .contains("not the period")
        );
    }
}
