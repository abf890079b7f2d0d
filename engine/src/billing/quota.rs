//! Quotas on the deploy path: before a deploy, scale, update or build, the org's
//! billing rule answers `check-quota` with the org's current allocation and the request.
//!
//! The org's limits (`[quotas]`) reach the rule as per-call config values (`quota_cpu_millis`,
//! `quota_memory_bytes`, `quota_disk_bytes`), so one component serves every org within contract
//! 0.1.0. Containers and services, which the contract does not carry, are counted by the engine
//! itself; so are CPU and memory when the org has no rule. A rule that fails follows
//! [`QuotaFailurePolicy`](super::QuotaFailurePolicy), reported as an event.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use windlass_host_api::types::{QuotaDecision, Resources, UsageSummary};

use super::{BillingState, QuotaFailurePolicy, Quotas};
use crate::engine::Ctx;
use crate::{EngineError, NewEvent};

/// What an organisation holds, summed over its declared services.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Allocation {
    /// CPU, thousandths of a core (replicas × limit; services without a limit count 0).
    pub cpu_millis: u64,
    /// Memory, bytes.
    pub memory_bytes: u64,
    /// Containers (replicas).
    pub containers: u64,
    /// Services.
    pub services: u64,
}

/// Why a request was refused: the resource, its limit, what the org holds and what it asked
/// for. Answered by the API as HTTP 507 `quota-exceeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error(
    "quota exceeded for org {org}: {resource} limit {limit}, current {current}, requested {requested}{}",
    reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
)]
#[non_exhaustive]
pub struct QuotaDenial {
    /// The org.
    pub org: String,
    /// `cpu_millis`, `memory_bytes`, `disk_bytes`, `containers`, `services`, or `rule` when
    /// the rule refused for a reason of its own.
    pub resource: String,
    /// The limit (0 when the rule's own).
    pub limit: u64,
    /// What the org holds now.
    pub current: u64,
    /// What the request adds.
    pub requested: u64,
    /// The rule's reason, when a rule decided.
    pub reason: Option<String>,
}

/// One service as a request would leave it: per-replica CPU and memory, and replicas (`None`:
/// the service goes away).
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub stack: String,
    pub service: String,
    pub after: Option<(super::meter::PerReplica, u32)>,
}

fn add(total: &mut Allocation, (cpu, memory): super::meter::PerReplica, replicas: u32) {
    let replicas = u64::from(replicas);
    total.cpu_millis = total
        .cpu_millis
        .saturating_add(u64::from(cpu.unwrap_or(0)).saturating_mul(replicas));
    total.memory_bytes = total
        .memory_bytes
        .saturating_add(memory.unwrap_or(0).saturating_mul(replicas));
    total.containers = total.containers.saturating_add(replicas);
    total.services = total.services.saturating_add(1);
}

/// The org's allocation now, and as it would be after `changes` (from the engine's
/// [ledger](super::ledger), not a store read, when it is fresh).
pub(crate) async fn allocations(
    ctx: &Ctx,
    org: &str,
    changes: &[Change],
) -> Result<(Allocation, Allocation), EngineError> {
    ctx.ledger
        .with_holding(ctx, org, |holding| {
            let mut now = Allocation::default();
            let mut after = Allocation::default();
            let mut changed: BTreeMap<(&str, &str), &Change> = changes
                .iter()
                .map(|c| ((c.stack.as_str(), c.service.as_str()), c))
                .collect();
            for ((stack, service), (per, replicas)) in &holding.services {
                add(&mut now, *per, *replicas);
                match changed.remove(&(stack.as_str(), service.as_str())) {
                    Some(change) => {
                        if let Some((per, replicas)) = change.after {
                            add(&mut after, per, replicas);
                        }
                    }
                    None => add(&mut after, *per, *replicas),
                }
            }
            for change in changed.values() {
                if let Some((per, replicas)) = change.after {
                    add(&mut after, per, replicas);
                }
            }
            (now, after)
        })
        .await
}

tokio::task_local! {
    /// The reason of an operator's override, for the request being served (see
    /// [`overriding`]).
    static OVERRIDE: String;
}

/// Runs `request` with quota checks overridden: a check that would refuse lets it through and
/// is recorded as a `quota-overridden` event with the denial and `reason`. Scoped to the
/// future, so it covers one request.
pub(crate) async fn overriding<F: std::future::Future>(reason: String, request: F) -> F::Output {
    OVERRIDE.scope(reason, request).await
}

/// `org`'s limits: the ones stored through the API, else the file's.
pub(crate) async fn quotas_of(
    ctx: &Ctx,
    billing: &BillingState,
    org: &str,
) -> Result<Quotas, EngineError> {
    let stored = ctx
        .ledger
        .with_holding(ctx, org, |holding| holding.stored_quotas.clone())
        .await?;
    Ok(stored.unwrap_or_else(|| billing.config.quotas_for(org).clone()))
}

/// The start of the calendar month (UTC) holding `now_ms`.
pub(crate) fn month_start_ms(now_ms: i64) -> i64 {
    use jiff::tz::TimeZone;
    jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|t| {
            let first = TimeZone::UTC.to_datetime(t).date().first_of_month();
            TimeZone::UTC
                .to_timestamp(first.to_datetime(jiff::civil::Time::midnight()))
                .ok()
        })
        .map_or(now_ms, |t| t.as_millisecond())
}

/// Asks the org's rule whether `changes` fit; `Err(QuotaExceeded)` when they do not.
pub(crate) async fn check(
    ctx: &Ctx,
    billing: &BillingState,
    org: &str,
    changes: &[Change],
) -> Result<(), EngineError> {
    let (now, after) = allocations(ctx, org, changes).await?;
    settle(ctx, decide(ctx, billing, org, now, after).await?).await
}

/// Whether a build holding `cpu_millis` and `memory_bytes` (one container while it runs) fits
/// the org's quota.
pub(crate) async fn check_build(
    ctx: &Ctx,
    billing: &BillingState,
    org: &str,
    cpu_millis: u64,
    memory_bytes: u64,
) -> Result<(), EngineError> {
    let (now, mut after) = allocations(ctx, org, &[]).await?;
    after.cpu_millis = after.cpu_millis.saturating_add(cpu_millis);
    after.memory_bytes = after.memory_bytes.saturating_add(memory_bytes);
    after.containers = after.containers.saturating_add(1);
    settle(ctx, decide(ctx, billing, org, now, after).await?).await
}

/// A denial refuses the request (`quota-denied`), unless an operator overrides it for this
/// request (`quota-overridden`).
async fn settle(ctx: &Ctx, denial: Option<QuotaDenial>) -> Result<(), EngineError> {
    let Some(denial) = denial else {
        return Ok(());
    };
    let mut payload = serde_json::to_value(&denial).unwrap_or_default();
    if let Ok(reason) = OVERRIDE.try_with(Clone::clone) {
        payload["override_reason"] = json!(reason);
        ctx.emit(
            NewEvent::new("quota-overridden")
                .with_org(&denial.org)
                .with_payload(payload),
        )
        .await;
        return Ok(());
    }
    ctx.emit(
        NewEvent::new("quota-denied")
            .with_org(&denial.org)
            .with_payload(payload),
    )
    .await;
    Err(EngineError::QuotaExceeded(denial))
}

/// The decision for an org going from `now` to `after`: `Some` denial, or `None`.
async fn decide(
    ctx: &Ctx,
    billing: &BillingState,
    org: &str,
    now: Allocation,
    after: Allocation,
) -> Result<Option<QuotaDenial>, EngineError> {
    let config = &billing.config;
    let quotas = quotas_of(ctx, billing, org).await?;
    let quotas = &quotas;
    let rule = config.rule_for(org);
    if rule.is_none() && *quotas == Quotas::default() {
        return Ok(None);
    }
    let grown = |f: fn(&Allocation) -> u64| f(&after).saturating_sub(f(&now));
    let requested = Allocation {
        cpu_millis: grown(|a| a.cpu_millis),
        memory_bytes: grown(|a| a.memory_bytes),
        containers: grown(|a| a.containers),
        services: grown(|a| a.services),
    };
    let exceeded = |resource: &str, limit: Option<u64>, now: u64, more: u64| {
        limit
            .filter(|limit| more > 0 && now.saturating_add(more) > *limit)
            .map(|limit| QuotaDenial {
                org: org.to_owned(),
                resource: resource.to_owned(),
                limit,
                current: now,
                requested: more,
                reason: None,
            })
    };
    // Counted by the engine: the contract has no containers or services.
    let counted = exceeded(
        "containers",
        quotas.containers,
        now.containers,
        requested.containers,
    )
    .or_else(|| {
        exceeded(
            "services",
            quotas.services,
            now.services,
            requested.services,
        )
    });
    let resources = || {
        exceeded(
            "cpu_millis",
            quotas.cpu_millis,
            now.cpu_millis,
            requested.cpu_millis,
        )
        .or_else(|| {
            exceeded(
                "memory_bytes",
                quotas.memory_bytes,
                now.memory_bytes,
                requested.memory_bytes,
            )
        })
    };
    if let Some(denial) = counted {
        return Ok(Some(denial));
    }
    let grows = requested != Allocation::default();
    if let (Some(limit), true) = (quotas.monthly_spend_minor, grows) {
        let spent = ctx
            .store
            .charged_since(org, month_start_ms(ctx.now_ms()))
            .await?;
        let spent = u64::try_from(spent).unwrap_or(0);
        if spent >= limit {
            return Ok(Some(QuotaDenial {
                org: org.to_owned(),
                resource: "monthly_spend_minor".to_owned(),
                limit,
                current: spent,
                requested: 0,
                reason: Some("the org has spent its monthly limit".to_owned()),
            }));
        }
    }
    let Some((rule_name, rule)) = rule else {
        return Ok(resources());
    };
    if requested.cpu_millis == 0 && requested.memory_bytes == 0 {
        return Ok(None);
    }
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let current = UsageSummary {
        org: org.to_owned(),
        allocated: Resources {
            cpu_millis: Some(clamp(now.cpu_millis)),
            memory_bytes: Some(now.memory_bytes),
            disk_bytes: None,
        },
    };
    let request = Resources {
        cpu_millis: Some(clamp(requested.cpu_millis)),
        memory_bytes: Some(requested.memory_bytes),
        disk_bytes: None,
    };
    let mut overlay = Vec::new();
    for (key, value) in [
        ("quota_cpu_millis", quotas.cpu_millis),
        ("quota_memory_bytes", quotas.memory_bytes),
        ("quota_disk_bytes", quotas.disk_bytes),
    ] {
        if let Some(value) = value {
            overlay.push((key.to_owned(), value.to_string()));
        }
    }
    let decision = {
        let mut sessions = billing.sessions.lock().await;
        let session = sessions
            .entry(rule_name.clone())
            .or_insert_with(|| rule.session());
        session.check_quota_with(&current, request, &overlay).await
    };
    match decision {
        Ok(QuotaDecision::Allow) => Ok(None),
        Ok(QuotaDecision::Warn(reason)) => {
            ctx.emit(
                NewEvent::new("quota-warning")
                    .with_org(org)
                    .with_payload(json!({ "rule": rule_name, "reason": reason })),
            )
            .await;
            Ok(None)
        }
        Ok(QuotaDecision::Deny(reason)) => {
            let mut denial = resources().unwrap_or_else(|| QuotaDenial {
                org: org.to_owned(),
                resource: "rule".to_owned(),
                limit: 0,
                current: now.cpu_millis,
                requested: requested.cpu_millis,
                reason: None,
            });
            denial.reason = Some(reason);
            Ok(Some(denial))
        }
        Err(error) => {
            let policy = config.on_plugin_failure;
            ctx.emit(
                NewEvent::new("billing-plugin-failed")
                    .with_org(org)
                    .with_payload(json!({
                        "rule": rule_name,
                        "function": "check-quota",
                        "error": error.to_string(),
                        "policy": policy,
                    })),
            )
            .await;
            match policy {
                QuotaFailurePolicy::Allow => Ok(None),
                QuotaFailurePolicy::Deny => Ok(Some(QuotaDenial {
                    org: org.to_owned(),
                    resource: "rule".to_owned(),
                    limit: 0,
                    current: now.cpu_millis,
                    requested: requested.cpu_millis,
                    reason: Some(format!(
                        "billing rule `{rule_name}` failed and the policy is deny: {error}"
                    )),
                })),
            }
        }
    }
}
