//! `hostile-wrong-minor`: a billing rule built against `windlass:plugin@0.3.0`.
//!
//! It exports `windlass:plugin/billing@0.3.0` from a copy of the contract in `wit/` whose
//! package version is 0.3.0 (the host speaks 0.1 and 0.2). It does not use the SDK, whose
//! bindings are for 0.2.0. Otherwise it is a well-behaved rule: an empty invoice, every request
//! allowed. Host tests use it to prove that a plugin for a newer minor version is refused at load.

#![allow(missing_docs, missing_debug_implementations)] // The generated bindings.

wit_bindgen::generate!({
    world: "billing-rule",
    path: "wit",
});

use exports::windlass::plugin::billing::{
    BillingPeriod, Guest, Invoice, PluginError, QuotaDecision, Resources, UsageRecord, UsageSummary,
};
use windlass::plugin::types::Money;

/// The rule.
struct WrongMajor;

impl Guest for WrongMajor {
    fn price(period: BillingPeriod, _usage: Vec<UsageRecord>) -> Result<Invoice, PluginError> {
        Ok(Invoice {
            period,
            lines: Vec::new(),
            total: Money {
                minor: 0,
                currency: "EUR".into(),
            },
        })
    }

    fn check_quota(_current: UsageSummary, _requested: Resources) -> QuotaDecision {
        QuotaDecision::Allow
    }
}

export!(WrongMajor);
