//! `hostile-billing-nonsense`: a billing rule that gets invoices wrong on purpose, so the
//! engine's checks of what a rule returns can be tested.
//!
//! Config `mode` chooses what `price` does for periods starting before `until_ms` (default:
//! every period):
//!
//! - `mismatch`: one line of 100 minor units, a total of 99;
//! - `negative`: one line of -5 minor units, a total of -5;
//! - `trap`: panics (the guest traps);
//!
//! and for later periods, a valid invoice: one line per usage record of 1 minor unit, the total
//! their sum. `check-quota` traps when `mode` is `trap` and allows otherwise. The currency is
//! `EUR`.

use windlass_plugin_sdk::types::{
    BillingPeriod, Invoice, InvoiceLine, Money, PluginError, QuotaDecision, Resources, UsageRecord,
    UsageSummary,
};

/// The rule.
struct Nonsense;

fn eur(minor: i64) -> Money {
    Money {
        minor,
        currency: "EUR".into(),
    }
}

fn line(minor: i64) -> InvoiceLine {
    InvoiceLine {
        description: "nonsense".into(),
        quantity_micros: 1_000_000,
        unit: "thing".into(),
        amount: eur(minor),
    }
}

impl windlass_plugin_sdk::BillingRule for Nonsense {
    fn price(period: BillingPeriod, usage: Vec<UsageRecord>) -> Result<Invoice, PluginError> {
        let get = windlass_plugin_sdk::config::get;
        let mode = get("mode").unwrap_or_default();
        let until = get("until_ms")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        if period.start_ms < until {
            match mode.as_str() {
                "mismatch" => {
                    return Ok(Invoice {
                        period,
                        lines: vec![line(100)],
                        total: eur(99),
                    });
                }
                "negative" => {
                    return Ok(Invoice {
                        period,
                        lines: vec![line(-5)],
                        total: eur(-5),
                    });
                }
                "trap" => panic!("hostile-billing-nonsense: price traps"),
                _ => {}
            }
        }
        let lines: Vec<InvoiceLine> = usage.iter().map(|_| line(1)).collect();
        let total = eur(lines.len() as i64);
        Ok(Invoice {
            period,
            lines,
            total,
        })
    }

    fn check_quota(_current: UsageSummary, _requested: Resources) -> QuotaDecision {
        if windlass_plugin_sdk::config::get("mode").as_deref() == Some("trap") {
            panic!("hostile-billing-nonsense: check-quota traps");
        }
        QuotaDecision::Allow
    }
}

windlass_plugin_sdk::export_billing_rule!(Nonsense);
