//! Rolling updates: how the slots of a service move from one revision to the next, start-first.
//!
//! A slot whose container belongs to another revision is not replaced at once. Up to
//! `max_parallel` slots at a time get a *surge* container (`<name>-next`) of the new revision,
//! beside the old one. Once the surge runs, is ready (its readiness and startup checks pass) and
//! has run for `min_healthy_ms`, the old container leaves the stack network and joins it again
//! without the service's DNS name (the name goes, so new requests stop reaching it, while
//! requests in flight still get their answers), is drained for a moment, stopped and removed, and
//! the surge is renamed into the slot's name. That is one step of progress. If no step happens
//! within `progress_deadline_ms`, or a surge dies, the update has failed: with `auto_rollback`
//! the service's desired state goes back to the revision being replaced (itself rolled out
//! start-first, slot by slot), otherwise the update stops where it is.
//!
//! Everything a pass decides from is durable — Docker's containers (with their revision and
//! config-hash labels) and the `rollouts` row (revisions, start, last progress) — so an update
//! interrupted by a crash resumes where it was: the next engine adopts the surges and carries
//! on. Drift of a container *within* a revision (someone changed it behind the engine's back)
//! is still replaced at once (`drift-replaced`): it is repair, not an update.

use serde_json::json;

use crate::engine::Ctx;
use crate::reconcile::now_ms;
use crate::store::Rollout;
use crate::{DesiredService, EngineError, NewEvent, ServiceSpec};

/// A slot's part in its service's update, decided per pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Not updating (or stop-first): the ordinary slot logic.
    Free,
    /// Its container is of another revision and it may start a surge now.
    MaySurge,
    /// Its container is of another revision; it waits for its turn (or the update is halted).
    Hold,
}

/// What happened to an update during one pass, for the service-level bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fact {
    /// A slot moved to the new revision.
    Progressed,
    /// A surge cannot make it: why.
    Failed(String),
}

/// The name of a slot's surge container.
pub(crate) fn surge_name(slot_name: &str) -> String {
    format!("{slot_name}-next")
}

/// The service's rollout state for this pass, creating the `rollouts` row when an update is
/// first seen. Returns the row and whether the update is halted (it failed for good).
pub(crate) async fn begin(
    ctx: &Ctx,
    service: &DesiredService,
    from_revision: u64,
) -> Result<(Rollout, bool), EngineError> {
    let (org, stack, name) = (&service.org, &service.stack, &service.service);
    let existing = ctx.store.rollout(org, stack, name).await?;
    if let Some(rollout) = &existing {
        if rollout.to_revision == service.revision
            && rollout.state != "completed"
            && rollout.state != "rolled-back"
        {
            return Ok((rollout.clone(), rollout.state == "failed"));
        }
        // Cleaning up after an automatic rollback (removing the failed revision's surges,
        // rolling promoted replicas back) belongs to that rollback, not to a new update.
        if rollout.state == "rolled-back" && rollout.from_revision == service.revision {
            return Ok((rollout.clone(), false));
        }
    }
    let now = now_ms();
    let rollout = Rollout {
        from_revision,
        to_revision: service.revision,
        state: "in-progress".to_owned(),
        started_ms: now,
        progress_ms: now,
    };
    ctx.store.put_rollout(org, stack, name, &rollout).await?;
    ctx.emit(event(service, "rollout-started").with_payload(json!({
        "from_revision": from_revision,
        "to_revision": service.revision,
    })))
    .await;
    Ok((rollout, false))
}

/// Whether the update has gone too long without progress.
pub(crate) fn deadline_passed(rollout: &Rollout, spec: &ServiceSpec) -> bool {
    let deadline = i64::try_from(spec.update.progress_deadline_ms).unwrap_or(i64::MAX);
    now_ms() > rollout.progress_ms.saturating_add(deadline)
}

/// Records what the pass's slots did for the service's update: progress, completion, or a
/// failure (rolling back when the policy says so).
pub(crate) async fn finish(
    ctx: &Ctx,
    service: &DesiredService,
    spec: &ServiceSpec,
    mut rollout: Rollout,
    still_updating: bool,
    facts: &[Fact],
) -> Result<(), EngineError> {
    if rollout.state != "in-progress" {
        return Ok(());
    }
    let (org, stack, name) = (&service.org, &service.stack, &service.service);
    if let Some(reason) = facts.iter().find_map(|f| match f {
        Fact::Failed(reason) => Some(reason.clone()),
        Fact::Progressed => None,
    }) {
        // A rollback that fails does not roll back again: it stops, for an operator.
        let is_rollback = rollout.from_revision > rollout.to_revision;
        if spec.update.auto_rollback && rollout.from_revision > 0 && !is_rollback {
            rollout.state = "rolled-back".to_owned();
            ctx.store.put_rollout(org, stack, name, &rollout).await?;
            desire_revision(ctx, service, rollout.from_revision).await?;
            ctx.emit(event(service, "rollout-rolled-back").with_payload(json!({
                "from_revision": rollout.to_revision,
                "to_revision": rollout.from_revision,
                "reason": reason,
            })))
            .await;
        } else {
            rollout.state = "failed".to_owned();
            ctx.store.put_rollout(org, stack, name, &rollout).await?;
            ctx.emit(event(service, "rollout-failed").with_payload(json!({
                "from_revision": rollout.from_revision,
                "to_revision": rollout.to_revision,
                "reason": reason,
            })))
            .await;
        }
        return Ok(());
    }
    if !still_updating {
        rollout.state = "completed".to_owned();
        rollout.progress_ms = now_ms();
        ctx.store.put_rollout(org, stack, name, &rollout).await?;
        ctx.emit(event(service, "rollout-completed").with_payload(json!({
            "from_revision": rollout.from_revision,
            "to_revision": rollout.to_revision,
        })))
        .await;
    } else if facts.contains(&Fact::Progressed) {
        rollout.progress_ms = now_ms();
        ctx.store.put_rollout(org, stack, name, &rollout).await?;
    }
    Ok(())
}

/// Makes a kept revision the service's desired state again (keeping the replica count).
pub(crate) async fn desire_revision(
    ctx: &Ctx,
    current: &DesiredService,
    revision: u64,
) -> Result<DesiredService, EngineError> {
    let (org, stack, name) = (&current.org, &current.stack, &current.service);
    let kept = ctx.store.revisions(org, stack, name).await?;
    let target = kept
        .iter()
        .find(|r| r.revision == revision)
        .ok_or_else(|| EngineError::NotFound {
            what: format!(
                "revision {revision} of {org}/{stack}/{name} (kept: {:?})",
                kept.iter().map(|k| k.revision).collect::<Vec<_>>()
            ),
        })?;
    let mut spec: ServiceSpec = serde_json::from_value(target.spec.clone())
        .map_err(|e| EngineError::Config(format!("kept revision {revision} unreadable: {e}")))?;
    spec.replicas = current.replicas;
    let desired = DesiredService {
        revision,
        spec: serde_json::to_value(&spec).map_err(|e| EngineError::Config(e.to_string()))?,
        config_hash: target.config_hash.clone(),
        updated_ms: now_ms(),
        ..current.clone()
    };
    ctx.store.upsert_desired_service(&desired).await?;
    ctx.ledger.declared(
        org,
        stack,
        name,
        crate::billing::meter::per_replica_of(&spec),
        desired.replicas,
    );
    Ok(desired)
}

fn event(service: &DesiredService, kind: &str) -> NewEvent {
    NewEvent::new(kind)
        .with_org(&service.org)
        .with_stack(&service.stack)
        .with_service(&service.service)
}
