//! The engine's billing surface: metering now, billing cycles, usage, invoices, balances,
//! top-ups and quotas (see [`crate::billing`]).

use std::sync::Arc;
use std::time::Duration;

use super::{Engine, Inner};
use crate::billing::{
    Account, Allocation, BillingConfig, BuildUsage, CycleReport, Estimate, MeterReport,
    MeteringGap, Movement, Quotas, StoredInvoice, UsageInterval,
};
use crate::{EngineError, NewEvent};

impl Engine {
    /// Closes every metering interval the engine's clock has passed (the engine does this by
    /// itself every second while it runs; tests with a manual clock call it after moving it).
    pub async fn meter_now(&self) -> Result<MeterReport, EngineError> {
        let mut state = self.inner.billing.meter.lock().await;
        crate::billing::meter::close(&self.inner.ctx, &mut state).await
    }

    /// What metering has cost this engine since it started (samples counted, closes, and the
    /// time both took).
    pub fn metering_work(&self) -> crate::billing::MeteringWork {
        self.inner.ctx.meter.work()
    }

    /// Meters, then runs every due billing cycle (every closed period of every org with a
    /// rule); the engine does this by itself while it runs.
    pub async fn run_billing_cycles(&self) -> Result<CycleReport, EngineError> {
        let metered = self.meter_now().await?;
        crate::billing::cycle::run(self, metered.metered_until).await
    }

    /// Stores metered intervals as if the meter had written them (an interval already stored is
    /// left as it is); returns how many were new. For imports and benchmarks.
    pub async fn record_usage(&self, rows: &[UsageInterval]) -> Result<u64, EngineError> {
        Ok(self.inner.ctx.store.insert_usage(rows).await?)
    }

    /// Whether applying `spec` to `org`/`stack` would fit the org's quota, asking its rule as
    /// [`Engine::apply`] does, without storing anything (a dry run).
    pub async fn check_quota(
        &self,
        org: &str,
        stack: &str,
        spec: &crate::ServiceSpec,
    ) -> Result<(), EngineError> {
        let change = crate::billing::quota::Change {
            stack: stack.to_owned(),
            service: spec.name.clone(),
            after: Some((crate::billing::meter::per_replica_of(spec), spec.replicas)),
        };
        crate::billing::quota::check(&self.inner.ctx, &self.inner.billing, org, &[change]).await
    }

    /// Recalculates every org's quota utilisation now and announces each new crossing of 80 %
    /// or 90 % of a limit (`quota-threshold-crossed`); the engine does this every 30 s while
    /// it runs. Returns how many crossings were announced.
    pub async fn recalculate_utilisation(&self) -> Result<usize, EngineError> {
        let mut levels = self.inner.billing.levels.lock().await;
        crate::billing::utilisation::recalculate(self, &mut levels).await
    }

    /// What `spec` (with `params`, as [`Engine::deploy_stack`] takes them) would cost `org`
    /// as stack `stack`: hourly, daily and monthly, per service and resource, priced by the
    /// org's billing rule with the `price` call a billing cycle makes over one full period of
    /// the stack's allocation. The stack is validated as a deploy validates it (without
    /// binding secrets); nothing is deployed or stored. A rule that fails or returns an
    /// invoice a cycle would refuse is [`EngineError::BillingRuleFailed`] and a
    /// `billing-plugin-failed` event; an org without a rule is a conflict.
    pub async fn estimate(
        &self,
        org: &str,
        stack: &str,
        spec: &crate::stacks::StackSpec,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<Estimate, EngineError> {
        crate::spec::validate_name("org", org)?;
        crate::spec::validate_name("stack", stack)?;
        let mut vars = crate::stacks::Variables::for_stack(org, stack);
        for (name, value) in params {
            vars.insert(&format!("params.{name}"), name, value)
                .map_err(|e| EngineError::InvalidStack(e.into()))?;
        }
        let services = spec
            .resolve(&vars)
            .map_err(EngineError::InvalidStack)?
            .into_services();
        for service in &services {
            service.validate()?;
            self.inner.ctx.settings.policy.check(org, service)?;
        }
        crate::billing::estimate::estimate(self, org, stack, &services).await
    }

    /// The billing configuration the engine was built with.
    pub fn billing_config(&self) -> &BillingConfig {
        &self.inner.billing.config
    }

    /// Metered intervals of `org` overlapping `from_ms..to_ms`.
    pub async fn usage(
        &self,
        org: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UsageInterval>, EngineError> {
        Ok(self
            .inner
            .ctx
            .store
            .usage(Some(org), from_ms, to_ms)
            .await?)
    }

    /// The builds of `org` metered as ending in `from_ms..to_ms` (start inclusive): the wall
    /// seconds each ran, which the cycle of the period it ended in hands to the org's rule.
    pub async fn build_usage(
        &self,
        org: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BuildUsage>, EngineError> {
        Ok(self
            .inner
            .ctx
            .store
            .build_usage_of_orgs(Some(&[org]), from_ms, to_ms)
            .await?)
    }

    /// Spans nobody metered (the engine was down) overlapping `from_ms..to_ms`.
    pub async fn metering_gaps(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MeteringGap>, EngineError> {
        Ok(self.inner.ctx.store.gaps(from_ms, to_ms).await?)
    }

    /// `org`'s invoices whose periods start in `from_ms..to_ms`, oldest first.
    pub async fn invoices(
        &self,
        org: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredInvoice>, EngineError> {
        Ok(self.inner.ctx.store.invoices(org, from_ms, to_ms).await?)
    }

    /// `org`'s account (none before its first cycle or top-up).
    pub async fn account(&self, org: &str) -> Result<Option<Account>, EngineError> {
        Ok(self.inner.ctx.store.account(org).await?)
    }

    /// `org`'s balance movements, oldest first.
    pub async fn balance_movements(&self, org: &str) -> Result<Vec<Movement>, EngineError> {
        Ok(self.inner.ctx.store.movements(org).await?)
    }

    /// Adds `amount_minor` (positive, in the account's currency) to `org`'s balance, opening
    /// the account if needed; a balance back at zero or above ends a grace period.
    pub async fn top_up(
        &self,
        org: &str,
        amount_minor: i64,
        reference: &str,
    ) -> Result<Account, EngineError> {
        crate::spec::validate_name("org", org)?;
        if amount_minor <= 0 {
            return Err(EngineError::InvalidSpec(crate::SpecError {
                field: "amount_minor".to_owned(),
                message: format!("a top-up must be positive, not {amount_minor}"),
            }));
        }
        let ctx = &self.inner.ctx;
        let config = &self.inner.billing.config;
        let now = ctx.now_ms();
        let period = i64::try_from(config.cycle.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        ctx.store
            .ensure_account(
                org,
                &config.currency,
                now - now.rem_euclid(period),
                config.opening_balance_minor,
            )
            .await?;
        let balance = ctx
            .store
            .top_up(org, amount_minor, now, reference)
            .await?
            .ok_or_else(|| EngineError::Conflict {
                what: format!("a top-up of {amount_minor} would overflow the balance of {org}"),
            })?;
        ctx.emit(
            NewEvent::new("billing-top-up")
                .with_org(org)
                .with_payload(serde_json::json!({
                    "amount_minor": amount_minor,
                    "balance_minor": balance,
                    "reference": reference,
                })),
        )
        .await;
        let account = ctx
            .store
            .account(org)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("the account of {org}"),
            })?;
        if balance >= 0 && account.grace_started_ms.is_some() {
            ctx.store.set_grace(org, None, None).await?;
            ctx.emit(
                NewEvent::new("billing-grace-cleared")
                    .with_org(org)
                    .with_payload(serde_json::json!({ "balance_minor": balance })),
            )
            .await;
            return Ok(ctx.store.account(org).await?.unwrap_or(account));
        }
        Ok(account)
    }

    /// `org`'s limits (stored through [`Engine::set_quotas`], else the configuration's) and
    /// what it holds now.
    pub async fn quota_status(&self, org: &str) -> Result<(Quotas, Allocation), EngineError> {
        let ctx = &self.inner.ctx;
        let (now, _) = crate::billing::quota::allocations(ctx, org, &[]).await?;
        let quotas = crate::billing::quota::quotas_of(ctx, &self.inner.billing, org).await?;
        Ok((quotas, now))
    }

    /// Stores `org`'s limits, replacing the configuration's for it (a `None` limit: none);
    /// announced as `quota-changed`.
    pub async fn set_quotas(&self, org: &str, quotas: Quotas) -> Result<Quotas, EngineError> {
        crate::spec::validate_name("org", org)?;
        let ctx = &self.inner.ctx;
        ctx.store.set_org_quotas(org, &quotas, ctx.now_ms()).await?;
        ctx.ledger.quotas_set(org, &quotas);
        ctx.emit(
            NewEvent::new("quota-changed")
                .with_org(org)
                .with_payload(serde_json::to_value(&quotas).unwrap_or_default()),
        )
        .await;
        Ok(quotas)
    }

    /// Runs `request` (a deploy, scale, update or build of this engine) with quota checks
    /// overridden by an operator: a check that would refuse lets it through, recorded as a
    /// `quota-overridden` event with the denial and `reason`. Covers that one future only.
    pub async fn with_quota_override<F: std::future::Future>(
        &self,
        reason: impl Into<String>,
        request: F,
    ) -> F::Output {
        crate::billing::quota::overriding(reason.into(), request).await
    }

    /// Checks a build before it starts: it holds `cpu_millis` and `memory_bytes` in one
    /// container while it runs. `Err(QuotaExceeded)` (and a `quota-denied` event) when that
    /// does not fit the org's quota, as for a deploy.
    pub async fn check_build_quota(
        &self,
        org: &str,
        cpu_millis: u64,
        memory_bytes: u64,
    ) -> Result<(), EngineError> {
        crate::billing::quota::check_build(
            &self.inner.ctx,
            &self.inner.billing,
            org,
            cpu_millis,
            memory_bytes,
        )
        .await
    }
}

/// Meters and bills every second while the engine runs.
pub(crate) async fn meter_and_bill(inner: Arc<Inner>) {
    let engine = Engine { inner };
    let every = engine
        .inner
        .ctx
        .settings
        .metering_interval
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut utilisation = tokio::time::interval(crate::billing::utilisation::EVERY);
    utilisation.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if let Err(error) = engine.run_billing_cycles().await {
                    tracing::warn!(%error, "metering or billing failed; retrying");
                }
            }
            _ = utilisation.tick() => {
                if let Err(error) = engine.recalculate_utilisation().await {
                    tracing::warn!(%error, "quota utilisation failed; retrying");
                }
            }
        }
    }
}
