//! Cost estimates: what a stack would cost before anything is deployed.
//!
//! The stack's services become the usage records one full billing period would record (one
//! record per replica, its CPU and memory allocation over the whole period, built by the
//! cycle's own [`record`](super::cycle) from the same intervals), and the org's rule prices
//! them with the `price` call a cycle makes, checked as a cycle checks an invoice: the total
//! is what the first period would charge. Per service and resource, the rows are what each
//! (service, resource) costs priced alone when those add up to the total (a per-line rule such
//! as `billing-hourly`); otherwise (allowances, tiers on the org's total) each row is what it
//! adds on top of the rows before it in the stack's order, so the rows always add up. Whatever
//! the rule charges that no row explains is an `other` row. Nothing is stored; storage is not
//! modelled (the engine meters no disk yet).
//!
//! Amounts are integer minor units: a period's amount is scaled to an hour, a day and a month
//! of [`HOURS_PER_MONTH`] hours, exactly when the period divides them, else rounded half away
//! from zero.

use serde::Serialize;
use serde_json::json;
use windlass_host_api::BillingSession;
use windlass_host_api::types::{BillingPeriod, UsageRecord};

use super::{StoredLine, UsageInterval};
use crate::engine::Engine;
use crate::{EngineError, NewEvent, ServiceSpec};

/// The hours a monthly figure counts: 365 × 24 / 12.
pub const HOURS_PER_MONTH: i64 = 730;

const HOUR_MS: i128 = 3_600_000;

/// An amount over an hour, a day and a month, minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Cost {
    /// One hour.
    pub hourly_minor: i64,
    /// 24 hours.
    pub daily_minor: i64,
    /// 730 hours.
    pub monthly_minor: i64,
}

/// One service and resource of an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct EstimateLine {
    /// The service (`*` for the `other` row).
    pub service: String,
    /// `cpu`, `memory`, or `other` (what the rule charges that no row explains).
    pub resource: String,
    /// What the service holds of it over all replicas: thousandths of a core, or bytes.
    pub allocated: u64,
    /// Its cost.
    pub cost: Cost,
}

/// One service of an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct ServiceEstimate {
    /// The service.
    pub service: String,
    /// Its replicas.
    pub replicas: u32,
    /// CPU per replica, thousandths of a core (`None`: no limit, not billed).
    pub cpu_millis: Option<u32>,
    /// Memory per replica, bytes (`None`: no limit, not billed).
    pub memory_bytes: Option<u64>,
    /// The sum of its rows.
    pub cost: Cost,
}

/// What a stack would cost, from the org's billing rule ([`Engine::estimate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct Estimate {
    /// The org.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The rule that priced it.
    pub rule: String,
    /// ISO 4217 currency of every amount.
    pub currency: String,
    /// The billing period priced (the cycle's length), ms.
    pub period_ms: i64,
    /// The hours a month counts.
    pub hours_per_month: i64,
    /// Per service and resource.
    pub lines: Vec<EstimateLine>,
    /// Per service.
    pub services: Vec<ServiceEstimate>,
    /// The whole stack.
    pub total: Cost,
    /// The invoice lines one period would have, as the rule wrote them.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub invoice: Vec<StoredLine>,
}

/// One (service, resource) whose records are priced for a row.
struct Part {
    service: usize,
    resource: &'static str,
    allocated: u64,
    records: Vec<UsageRecord>,
}

/// Estimates `services` (resolved and validated) of `org`/`stack`.
pub(crate) async fn estimate(
    engine: &Engine,
    org: &str,
    stack: &str,
    services: &[ServiceSpec],
) -> Result<Estimate, EngineError> {
    let ctx = &engine.inner().ctx;
    let config = engine.inner().billing.config.clone();
    let (rule_name, rule) = config
        .rule_for(org)
        .ok_or_else(|| EngineError::Conflict {
            what: format!(
                "no billing rule prices org {org} ([billing] in windlass.toml: a default rule or one for the org)"
            ),
        })?;
    let period = i64::try_from(config.cycle.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let now = ctx.now_ms();
    let start = now - now.rem_euclid(period);
    let end = start.saturating_add(period);
    let window = BillingPeriod {
        start_ms: u64::try_from(start).unwrap_or(0),
        end_ms: u64::try_from(end).unwrap_or(0),
    };
    // What a full period of metering records for each replica, as the cycle reads it.
    let interval = |s: &ServiceSpec, slot: u32, cpu: Option<u32>, memory: Option<u64>| {
        let container = crate::naming::container_name(engine.id(), org, stack, &s.name, slot);
        super::cycle::record(
            &UsageInterval::new(engine.id(), (org, stack, &s.name), &container, start, end)
                .with_allocation(
                    cpu.map(i64::from),
                    memory.and_then(|m| i64::try_from(m).ok()),
                ),
        )
    };
    let mut whole = Vec::new();
    let mut parts = Vec::new();
    let mut per_service = Vec::with_capacity(services.len());
    for (n, s) in services.iter().enumerate() {
        let (cpu, memory) = super::meter::per_replica_of(s);
        per_service.push((cpu, memory));
        whole.extend((0..s.replicas).map(|slot| interval(s, slot, cpu, memory)));
        let replicas = u64::from(s.replicas);
        for (resource, held, alone) in [
            ("cpu", cpu.map(u64::from), (cpu, None)),
            ("memory", memory, (None, memory)),
        ] {
            let Some(held) = held.filter(|h| *h > 0 && replicas > 0) else {
                continue;
            };
            parts.push(Part {
                service: n,
                resource,
                allocated: held.saturating_mul(replicas),
                records: (0..s.replicas)
                    .map(|slot| interval(s, slot, alone.0, alone.1))
                    .collect(),
            });
        }
    }
    let overflow = || EngineError::BillingRuleFailed {
        rule: rule_name.clone(),
        reason: "the estimate's amounts overflow a 64-bit integer".to_owned(),
    };
    let mut session = rule.session();
    let mut pricing = Pricing {
        engine,
        org,
        rule_name,
        session: &mut session,
        window,
        currency: &config.currency,
    };
    let invoice = pricing.price(&whole).await?;
    let total: i64 = invoice.iter().map(|l| l.amount_minor).sum();
    // Each part alone; when those do not add up, what each adds to the ones before it.
    let mut amounts = Vec::with_capacity(parts.len());
    for part in &parts {
        amounts.push(sum(&pricing.price(&part.records).await?));
    }
    if checked_sum(amounts.iter().copied()) != Some(total) {
        amounts.clear();
        let mut records = Vec::new();
        let mut before = sum(&pricing.price(&records).await?);
        for part in &parts {
            records.extend(part.records.iter().cloned());
            let after = sum(&pricing.price(&records).await?);
            amounts.push(after.checked_sub(before).ok_or_else(overflow)?);
            before = after;
        }
    }
    let scale = |minor: i64| {
        scaled(minor, period).map_err(|reason| EngineError::BillingRuleFailed {
            rule: rule_name.clone(),
            reason,
        })
    };
    let mut lines = Vec::with_capacity(parts.len() + 1);
    for (part, amount) in parts.iter().zip(&amounts) {
        lines.push(EstimateLine {
            service: services[part.service].name.clone(),
            resource: part.resource.to_owned(),
            allocated: part.allocated,
            cost: scale(*amount)?,
        });
    }
    let other = checked_sum(amounts.iter().copied())
        .and_then(|rows| total.checked_sub(rows))
        .ok_or_else(overflow)?;
    if other != 0 {
        lines.push(EstimateLine {
            service: "*".to_owned(),
            resource: "other".to_owned(),
            allocated: 0,
            cost: scale(other)?,
        });
    }
    let mut service_rows = Vec::with_capacity(services.len());
    for (n, s) in services.iter().enumerate() {
        let amount = checked_sum(
            parts
                .iter()
                .zip(&amounts)
                .filter(|(p, _)| p.service == n)
                .map(|(_, a)| *a),
        )
        .ok_or_else(overflow)?;
        service_rows.push(ServiceEstimate {
            service: s.name.clone(),
            replicas: s.replicas,
            cpu_millis: per_service[n].0,
            memory_bytes: per_service[n].1,
            cost: scale(amount)?,
        });
    }
    Ok(Estimate {
        org: org.to_owned(),
        stack: stack.to_owned(),
        rule: rule_name.clone(),
        currency: config.currency.clone(),
        period_ms: period,
        hours_per_month: HOURS_PER_MONTH,
        lines,
        services: service_rows,
        total: scale(total)?,
        invoice,
    })
}

/// An invoice's total (its lines' sum was checked not to overflow).
fn sum(lines: &[StoredLine]) -> i64 {
    lines.iter().map(|l| l.amount_minor).sum()
}

fn checked_sum(amounts: impl Iterator<Item = i64>) -> Option<i64> {
    amounts.into_iter().try_fold(0i64, i64::checked_add)
}

/// The rule's `price` for one period, checked as a cycle checks an invoice.
struct Pricing<'a> {
    engine: &'a Engine,
    org: &'a str,
    rule_name: &'a str,
    session: &'a mut BillingSession,
    window: BillingPeriod,
    currency: &'a str,
}

impl Pricing<'_> {
    async fn price(&mut self, records: &[UsageRecord]) -> Result<Vec<StoredLine>, EngineError> {
        let checked = match self.session.price(self.window, records).await {
            Ok(Ok(invoice)) => super::cycle::check(&invoice, self.window, self.currency),
            Ok(Err(error)) => Err(format!(
                "the rule refused to price: {} ({})",
                error.message, error.code
            )),
            Err(error) => Err(format!("the rule failed: {error}")),
        };
        match checked {
            Ok(lines) => Ok(lines),
            Err(reason) => {
                self.engine
                    .inner()
                    .ctx
                    .emit(
                        NewEvent::new("billing-plugin-failed")
                            .with_org(self.org)
                            .with_payload(json!({
                                "rule": self.rule_name,
                                "function": "price",
                                "during": "estimate",
                                "error": reason,
                            })),
                    )
                    .await;
                Err(EngineError::BillingRuleFailed {
                    rule: self.rule_name.to_owned(),
                    reason,
                })
            }
        }
    }
}

/// A period's `minor` over an hour, a day and a month.
fn scaled(minor: i64, period_ms: i64) -> Result<Cost, String> {
    let over = |ms: i128| -> Result<i64, String> {
        let numerator = i128::from(minor) * ms;
        let d = i128::from(period_ms);
        let (q, r) = (numerator / d, numerator % d);
        // Half away from zero.
        let q = if 2 * r.abs() >= d { q + r.signum() } else { q };
        i64::try_from(q)
            .map_err(|_| format!("{minor} minor units a period overflow a 64-bit monthly amount"))
    };
    Ok(Cost {
        hourly_minor: over(HOUR_MS)?,
        daily_minor: over(24 * HOUR_MS)?,
        monthly_minor: over(i128::from(HOURS_PER_MONTH) * HOUR_MS)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_scales_to_hour_day_and_month() {
        let hour = 3_600_000;
        let c = scaled(55, hour).unwrap();
        assert_eq!(
            (c.hourly_minor, c.daily_minor, c.monthly_minor),
            (55, 1_320, 40_150)
        );
        // A 7-minute period: 1 minor unit a period is 8.57… an hour → 9; a day 205.7… → 206.
        let c = scaled(1, 7 * 60_000).unwrap();
        assert_eq!(
            (c.hourly_minor, c.daily_minor, c.monthly_minor),
            (9, 206, 6_257)
        );
        let c = scaled(-1, 7 * 60_000).unwrap();
        assert_eq!(c.hourly_minor, -9);
        assert!(scaled(i64::MAX, hour).is_err());
    }
}
