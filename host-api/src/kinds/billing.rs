//! The `billing-rule` world.

use super::guest_call;
use crate::types::{BillingPeriod, Invoice, PluginError, QuotaDecision, Resources, UsageRecord, UsageSummary};
use crate::{CallError, Plugin};

/// A billing rule plugin: prices usage and checks quotas.
#[derive(Debug, Clone)]
pub struct BillingRule(pub(crate) Plugin);

impl BillingRule {
    /// The plugin behind the handle.
    pub fn plugin(&self) -> &Plugin {
        &self.0
    }

    /// Prices the usage of one period.
    pub async fn price(
        &self,
        period: BillingPeriod,
        usage: &[UsageRecord],
    ) -> Result<Result<Invoice, PluginError>, CallError> {
        guest_call!(self.0, BillingRule, "price", &[], |guest, store| guest
            .windlass_plugin_billing()
            .call_price(store, period, usage))
    }

    /// Decides whether `requested` more resources fit the organisation's quota.
    pub async fn check_quota(&self, current: &UsageSummary, requested: Resources) -> Result<QuotaDecision, CallError> {
        guest_call!(self.0, BillingRule, "check-quota", &[], |guest, store| guest
            .windlass_plugin_billing()
            .call_check_quota(store, current, requested))
    }
}
