//! The `billing-rule` world.

use super::guest_call;
use crate::bindings::{billing_rule, v0_1};
use crate::call::Call;
use crate::convert::{convert, v1};
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
        guest_call!(self.0, "price", &[], {
            BillingRule => |guest, store| guest.windlass_plugin_billing().call_price(store, period, usage),
            BillingRuleV0_1 => |guest, store| async move {
                let (period, usage) = price_args_down(period, usage)?;
                convert(&guest.windlass_plugin_billing().call_price(store, period, &usage).await?)
            },
        })
    }

    /// Decides whether `requested` more resources fit the organisation's quota.
    pub async fn check_quota(
        &self,
        current: &UsageSummary,
        requested: Resources,
    ) -> Result<QuotaDecision, CallError> {
        guest_call!(self.0, "check-quota", &[], {
            BillingRule => |guest, store| guest.windlass_plugin_billing().call_check_quota(store, current, requested),
            BillingRuleV0_1 => |guest, store| async move {
                let (current, requested) = quota_args_down(current, requested)?;
                convert(&guest.windlass_plugin_billing().call_check_quota(store, &current, requested).await?)
            },
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

fn price_args_down(
    period: BillingPeriod,
    usage: &[UsageRecord],
) -> wasmtime::Result<(v1::BillingPeriod, Vec<v1::UsageRecord>)> {
    Ok((convert(&period)?, convert(&usage)?))
}

fn quota_args_down(
    current: &UsageSummary,
    requested: Resources,
) -> wasmtime::Result<(v1::UsageSummary, v1::Resources)> {
    Ok((convert(current)?, convert(&requested)?))
}

/// A warm instance, of either contract version.
enum Guest {
    V0_2(billing_rule::BillingRule),
    V0_1(v0_1::billing_rule::BillingRule),
}

/// A warm billing-rule instance reused across calls. See [`BillingRule::session`].
pub struct BillingSession {
    plugin: Plugin,
    warm: Option<(Call, Guest)>,
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
    async fn warm(&mut self, function: &'static str) -> Result<&mut (Call, Guest), CallError> {
        if let Some((call, _)) = &mut self.warm {
            if let Some(error) = call.disabled_error() {
                self.warm = None;
                return Err(error);
            }
            call.rearm(function);
        } else {
            let mut call = self.plugin.start_call(function, &[])?;
            let loaded = call.loaded.clone();
            let instance = tokio::time::timeout(call.timeout(), async {
                match &loaded.pre {
                    Pre::BillingRule(pre) => pre
                        .instantiate_async(&mut call.store)
                        .await
                        .map(Guest::V0_2),
                    Pre::BillingRuleV0_1(pre) => pre
                        .instantiate_async(&mut call.store)
                        .await
                        .map(Guest::V0_1),
                    _ => Err(wasmtime::format_err!("not a billing rule")),
                }
            })
            .await;
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
    /// keys), so one component serves orgs with different quotas.
    pub async fn check_quota_with(
        &mut self,
        current: &UsageSummary,
        requested: Resources,
        overlay: &[(String, String)],
    ) -> Result<QuotaDecision, CallError> {
        let (call, guest) = self.warm("check-quota").await?;
        call.store.data_mut().overlay = overlay.iter().cloned().collect();
        let outcome = tokio::time::timeout(call.timeout(), async {
            match guest {
                Guest::V0_2(guest) => {
                    guest
                        .windlass_plugin_billing()
                        .call_check_quota(&mut call.store, current, requested)
                        .await
                }
                Guest::V0_1(guest) => {
                    let (current, requested) = quota_args_down(current, requested)?;
                    convert(
                        &guest
                            .windlass_plugin_billing()
                            .call_check_quota(&mut call.store, &current, requested)
                            .await?,
                    )
                }
            }
        })
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
        let outcome = tokio::time::timeout(call.timeout(), async {
            match guest {
                Guest::V0_2(guest) => {
                    guest
                        .windlass_plugin_billing()
                        .call_price(&mut call.store, period, usage)
                        .await
                }
                Guest::V0_1(guest) => {
                    let (period, usage) = price_args_down(period, usage)?;
                    convert(
                        &guest
                            .windlass_plugin_billing()
                            .call_price(&mut call.store, period, &usage)
                            .await?,
                    )
                }
            }
        })
        .await;
        let result = call.settle(outcome);
        if result.is_err() {
            self.warm = None;
        }
        result
    }
}
