//! `hostile-loop`: a billing rule whose functions never return.
//!
//! `price` and `check-quota` spin forever. The counter goes through `black_box`, so the
//! optimiser cannot prove the loop does nothing and must keep it. Host tests use this plugin to
//! prove that fuel or epoch interruption stops a runaway plugin.

use windlass_plugin_sdk::types::{
    BillingPeriod, Invoice, PluginError, QuotaDecision, Resources, UsageRecord, UsageSummary,
};

/// The rule.
struct Forever;

/// Spins forever.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

impl windlass_plugin_sdk::BillingRule for Forever {
    fn price(_period: BillingPeriod, _usage: Vec<UsageRecord>) -> Result<Invoice, PluginError> {
        spin()
    }

    fn check_quota(_current: UsageSummary, _requested: Resources) -> QuotaDecision {
        spin()
    }
}

windlass_plugin_sdk::export_billing_rule!(Forever);
