//! The `billing-rule` world.

use super::guest_call;
use crate::bindings::billing_rule;
use crate::call::Call;
use crate::plugin::Pre;
use crate::types::{
    BillingPeriod, Invoice, PluginError, QuotaDecision, Resources, UsageRecord, UsageSummary,
};
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
    pub async fn check_quota(
        &self,
        current: &UsageSummary,
        requested: Resources,
    ) -> Result<QuotaDecision, CallError> {
        guest_call!(self.0, BillingRule, "check-quota", &[], |guest, store| {
            guest
                .windlass_plugin_billing()
                .call_check_quota(store, current, requested)
        })
    }

    /// Opens a session: one warm instance for a batch of calls by the same caller (e.g.
    /// checking the quotas of many requests). Calls in a session share the guest's memory, so
    /// use it only where that is acceptable; each call still has its own deadline, and a
    /// failed call ends the instance (the next call starts a fresh one).
    pub fn session(&self) -> BillingSession {
        BillingSession {
            plugin: self.0.clone(),
            warm: None,
        }
    }
}

/// A warm billing-rule instance reused across calls. See [`BillingRule::session`].
pub struct BillingSession {
    plugin: Plugin,
    warm: Option<(Call, billing_rule::BillingRule)>,
}

impl std::fmt::Debug for BillingSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingSession")
            .field("plugin", &self.plugin.name())
            .field("warm", &self.warm.is_some())
            .finish()
    }
}

impl BillingSession {
    async fn warm(
        &mut self,
        function: &'static str,
    ) -> Result<&mut (Call, billing_rule::BillingRule), CallError> {
        if let Some((call, _)) = &mut self.warm {
            if let Some(error) = call.disabled_error() {
                self.warm = None;
                return Err(error);
            }
            call.rearm(function);
        } else {
            let mut call = self.plugin.start_call(function, &[])?;
            let loaded = call.loaded.clone();
            let Pre::BillingRule(pre) = &loaded.pre else {
                return Err(call.wrong_kind());
            };
            let instance =
                tokio::time::timeout(call.timeout(), pre.instantiate_async(&mut call.store)).await;
            let guest = match instance {
                Ok(Ok(guest)) => guest,
                other => {
                    let error = call.settle(other.map(|r| r.map(|_| ())));
                    return Err(error.err().unwrap_or_else(|| call.wrong_kind()));
                }
            };
            self.warm = Some((call, guest));
        }
        Ok(self.warm.as_mut().expect("set above"))
    }

    /// [`BillingRule::check_quota`] on the warm instance.
    pub async fn check_quota(
        &mut self,
        current: &UsageSummary,
        requested: Resources,
    ) -> Result<QuotaDecision, CallError> {
        self.check_quota_with(current, requested, &[]).await
    }

    /// [`BillingSession::check_quota`] with `overlay` answered before the plugin's own config
    /// for this call only: the engine passes an organisation's limits this way (`quota_*`
    /// keys), so one component serves orgs with different quotas within contract 0.1.0.
    pub async fn check_quota_with(
        &mut self,
        current: &UsageSummary,
        requested: Resources,
        overlay: &[(String, String)],
    ) -> Result<QuotaDecision, CallError> {
        let (call, guest) = self.warm("check-quota").await?;
        call.store.data_mut().overlay = overlay.iter().cloned().collect();
        let outcome = tokio::time::timeout(
            call.timeout(),
            guest
                .windlass_plugin_billing()
                .call_check_quota(&mut call.store, current, requested),
        )
        .await;
        let result = call.settle(outcome);
        if result.is_err() {
            self.warm = None;
        }
        result
    }

    /// [`BillingRule::price`] on the warm instance.
    pub async fn price(
        &mut self,
        period: BillingPeriod,
        usage: &[UsageRecord],
    ) -> Result<Result<Invoice, PluginError>, CallError> {
        let (call, guest) = self.warm("price").await?;
        call.store.data_mut().overlay.clear();
        let outcome = tokio::time::timeout(
            call.timeout(),
            guest
                .windlass_plugin_billing()
                .call_price(&mut call.store, period, usage),
        )
        .await;
        let result = call.settle(outcome);
        if result.is_err() {
            self.warm = None;
        }
        result
    }
}
