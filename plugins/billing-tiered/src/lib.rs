//! `billing-tiered`: a billing rule with a free allowance per org and period, then tiered
//! prices on the org's total, in exact integer arithmetic. It stands beside `billing-hourly`
//! so an operator sees two policies side by side.
//!
//! # Configuration
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `currency` | ISO 4217 code | `EUR` |
//! | `cpu_free_core_hours` | free core-hours per org and period (decimal, six decimals) | `0` |
//! | `cpu_tiers` | `RATE` or `RATE,RATE@FROM,…`: minor units per core-hour, each tier from `FROM` core-hours past the allowance | not billed |
//! | `memory_free_gib_hours` | free GiB-hours per org and period | `0` |
//! | `memory_tiers` | as `cpu_tiers`, per GiB-hour | not billed |
//! | `quota_cpu_millis`, `quota_memory_bytes` | quotas, as `billing-hourly` (the engine passes an org's limits under these keys) | unlimited |
//!
//! Example: `cpu_free_core_hours = "1"`, `cpu_tiers = "100,80@10"`: the first core-hour of
//! a period is free, the next ten cost 100 each, everything past them 80.
//!
//! # Pricing and rounding
//!
//! An org's usage in the period is summed per resource exactly (CPU `cpu-millis × ms` over
//! `1000 × 3 600 000`, memory `bytes × ms` over `2³⁰ × 3 600 000`). The allowance is taken
//! first (a line with amount 0), the rest is split at the tier boundaries, and each tier's part
//! is one line, rounded once, half up, to the minor unit. The total is the sum of the lines. A
//! bad rate, boundary or allowance makes `price` fail with `invalid-config` naming the key.

#[path = "../../billing-hourly/src/arith.rs"]
#[allow(dead_code)]
mod arith;

use std::collections::BTreeMap;

use windlass_plugin_sdk::types::{
    BillingPeriod, Invoice, InvoiceLine, Money, PluginError, QuotaDecision, Resources, UsageRecord,
    UsageSummary,
};

use arith::{mul_div_half_up, parse_micros};

const HOUR_MS: u128 = 3_600_000;
const MICROS: u128 = 1_000_000;

/// One priced resource.
struct Dim {
    name: &'static str,
    unit: &'static str,
    free_key: &'static str,
    tiers_key: &'static str,
    /// Base units (milli-core-ms, byte-ms) in one unit-hour.
    denominator: u128,
    held: fn(&Resources) -> u128,
}

const DIMS: [Dim; 2] = [
    Dim {
        name: "cpu core-hours",
        unit: "core-hour",
        free_key: "cpu_free_core_hours",
        tiers_key: "cpu_tiers",
        denominator: 1_000 * HOUR_MS,
        held: |r| r.cpu_millis.map_or(0, u128::from),
    },
    Dim {
        name: "memory GiB-hours",
        unit: "GiB-hour",
        free_key: "memory_free_gib_hours",
        tiers_key: "memory_tiers",
        denominator: (1 << 30) * HOUR_MS,
        held: |r| r.memory_bytes.map_or(0, u128::from),
    },
];

/// A tier: from `from_micros` unit-hours (past the allowance), `rate_micros` millionths of a
/// minor unit per unit-hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tier {
    from_micros: u64,
    rate_micros: u64,
}

fn invalid(key: &str, why: String) -> PluginError {
    PluginError::invalid_config(key, format!("config `{key}`: {why}"))
}

/// Parses `RATE,RATE@FROM,…`; boundaries must rise, the first tier starts at 0.
fn tiers(key: &str, text: &str) -> Result<Vec<Tier>, PluginError> {
    let mut tiers = Vec::new();
    for (n, part) in text.split(',').enumerate() {
        let (rate, from) = part.split_once('@').unwrap_or((part, "0"));
        let rate_micros = parse_micros(rate).map_err(|why| invalid(key, why))?;
        let from_micros = parse_micros(from).map_err(|why| invalid(key, why))?;
        match tiers.last() {
            None if from_micros != 0 => {
                return Err(invalid(
                    key,
                    "the first tier starts at 0: write `RATE` first".into(),
                ));
            }
            Some(Tier {
                from_micros: previous,
                ..
            }) if from_micros <= *previous => {
                return Err(invalid(
                    key,
                    format!("tier {n} must start past the one before it"),
                ));
            }
            _ => {}
        }
        tiers.push(Tier {
            from_micros,
            rate_micros,
        });
    }
    Ok(tiers)
}

/// Prices `usage` over `period` with the configuration read through `get`.
fn price(
    get: &dyn Fn(&str) -> Option<String>,
    period: BillingPeriod,
    usage: &[UsageRecord],
) -> Result<Invoice, PluginError> {
    let currency = get("currency")
        .unwrap_or_else(|| "EUR".into())
        .trim()
        .to_ascii_uppercase();
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "currency",
            format!("`{currency}` is not an ISO 4217 code"),
        ));
    }
    let money = |minor: i64| Money {
        minor,
        currency: currency.clone(),
    };
    let overflow = || PluginError::invalid_input("an amount overflows").with_field("usage");
    // Exact numerators per org and resource.
    let mut sums: BTreeMap<(&str, usize), u128> = BTreeMap::new();
    for record in usage {
        let start = record.start_ms.max(period.start_ms);
        let end = record.end_ms.min(period.end_ms);
        if end <= start {
            continue;
        }
        for (i, dim) in DIMS.iter().enumerate() {
            let numerator = (dim.held)(&record.resources) * u128::from(end - start);
            let sum = sums.entry((record.org.as_str(), i)).or_default();
            *sum = sum.checked_add(numerator).ok_or_else(overflow)?;
        }
    }
    let mut lines = Vec::new();
    for ((org, i), numerator) in sums {
        let dim = &DIMS[i];
        let Some(text) = get(dim.tiers_key) else {
            continue;
        };
        let tiers = tiers(dim.tiers_key, &text)?;
        let free = match get(dim.free_key) {
            Some(text) => parse_micros(&text).map_err(|why| invalid(dim.free_key, why))?,
            None => 0,
        };
        // Everything in millionths of a unit-hour times the denominator: exact.
        let held = numerator.checked_mul(MICROS).ok_or_else(overflow)?;
        let scale = |micros: u64| u128::from(micros) * dim.denominator;
        let free_part = held.min(scale(free));
        let quantity = |part: u128| {
            mul_div_half_up(part, 1, dim.denominator)
                .and_then(|q| u64::try_from(q).ok())
                .ok_or_else(overflow)
        };
        if free_part > 0 {
            lines.push(InvoiceLine {
                description: format!("{dim_name} for {org}, free allowance", dim_name = dim.name),
                quantity_micros: quantity(free_part)?,
                unit: dim.unit.into(),
                amount: money(0),
            });
        }
        let rest = held - free_part;
        for (n, tier) in tiers.iter().enumerate() {
            let from = scale(tier.from_micros);
            let to = tiers
                .get(n + 1)
                .map_or(u128::MAX, |next| scale(next.from_micros));
            let part = rest.min(to).saturating_sub(from);
            if part == 0 {
                continue;
            }
            let amount = mul_div_half_up(
                part,
                u128::from(tier.rate_micros),
                dim.denominator * MICROS * MICROS,
            )
            .and_then(|a| i64::try_from(a).ok())
            .ok_or_else(overflow)?;
            lines.push(InvoiceLine {
                description: format!(
                    "{} for {org}, tier {} (from {}.{:06})",
                    dim.name,
                    n + 1,
                    tier.from_micros / 1_000_000,
                    tier.from_micros % 1_000_000
                ),
                quantity_micros: quantity(part)?,
                unit: dim.unit.into(),
                amount: money(amount),
            });
        }
    }
    let total = lines
        .iter()
        .try_fold(0i64, |sum, line| sum.checked_add(line.amount.minor))
        .ok_or_else(overflow)?;
    Ok(Invoice {
        period,
        lines,
        total: money(total),
    })
}

/// `projected = current + requested` against `quota_cpu_millis` and `quota_memory_bytes`.
fn check_quota(
    get: &dyn Fn(&str) -> Option<String>,
    current: &UsageSummary,
    requested: &Resources,
) -> QuotaDecision {
    let mut reasons = Vec::new();
    for (key, name, now, more) in [
        (
            "quota_cpu_millis",
            "cpu",
            current.allocated.cpu_millis.map_or(0, u128::from),
            requested.cpu_millis.map_or(0, u128::from),
        ),
        (
            "quota_memory_bytes",
            "memory",
            current.allocated.memory_bytes.map_or(0, u128::from),
            requested.memory_bytes.map_or(0, u128::from),
        ),
    ] {
        let Some(text) = get(key) else { continue };
        let Ok(limit) = text.trim().parse::<u64>() else {
            return QuotaDecision::Deny(format!(
                "quota configuration `{key}` is not a whole number"
            ));
        };
        if now + more > u128::from(limit) {
            reasons.push(format!(
                "{name} quota exceeded for {}: projected {} > limit {limit}",
                current.org,
                now + more
            ));
        }
    }
    if reasons.is_empty() {
        QuotaDecision::Allow
    } else {
        QuotaDecision::Deny(reasons.join("; "))
    }
}

/// The rule.
struct Tiered;

impl windlass_plugin_sdk::BillingRule for Tiered {
    fn price(period: BillingPeriod, usage: Vec<UsageRecord>) -> Result<Invoice, PluginError> {
        price(&windlass_plugin_sdk::config::get, period, &usage)
    }

    fn check_quota(current: UsageSummary, requested: Resources) -> QuotaDecision {
        check_quota(&windlass_plugin_sdk::config::get, &current, &requested)
    }
}

windlass_plugin_sdk::export_billing_rule!(Tiered);

#[cfg(test)]
mod tests {
    use super::*;

    fn record(org: &str, cpu: u32, hours: u64) -> UsageRecord {
        UsageRecord {
            org: org.into(),
            stack: "s".into(),
            service: "w".into(),
            container: "c".into(),
            resources: Resources {
                cpu_millis: Some(cpu),
                memory_bytes: None,
                disk_bytes: None,
            },
            start_ms: 0,
            end_ms: hours * 3_600_000,
            used: windlass_plugin_sdk::types::MeasuredUsage::ZERO,
        }
    }

    #[test]
    fn allowance_then_tiers_each_line_rounded_once() {
        let config = [("cpu_free_core_hours", "1"), ("cpu_tiers", "100,80@10")];
        let get = |k: &str| {
            config
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        };
        let period = BillingPeriod {
            start_ms: 0,
            end_ms: 100 * 3_600_000,
        };
        // 2 cores for 20 hours = 40 core-hours: 1 free, 10 at 100, 29 at 80.
        let invoice = price(&get, period, &[record("acme", 2_000, 20)]).unwrap();
        let lines: Vec<(u64, i64)> = invoice
            .lines
            .iter()
            .map(|l| (l.quantity_micros, l.amount.minor))
            .collect();
        assert_eq!(
            lines,
            vec![(1_000_000, 0), (10_000_000, 1_000), (29_000_000, 2_320)]
        );
        assert_eq!(invoice.total.minor, 3_320);
    }

    #[test]
    fn bad_tiers_name_the_key() {
        let err = tiers("cpu_tiers", "100,80@0").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("cpu_tiers"));
        assert!(tiers("cpu_tiers", "x").is_err());
    }
}
