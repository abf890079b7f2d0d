//! One replica slot: compares what should run with what runs, and does the one step needed.
//!
//! Every step checks the lifecycle guard, acts on Docker, persists the new state, then emits
//! the event. A crash between two steps leaves a state the next pass recognises and repairs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::rollout::{Fact, Role, surge_name};
use super::{Learned, ReconcileReport};
use crate::engine::Ctx;
use crate::lifecycle::{ContainerState, RestartDecision};
use crate::runtime::labels::{LABEL_CONFIG_HASH, LABEL_REVISION};
use crate::runtime::{ContainerSpec, ContainerStatus, ContainerSummary, ManagedLabels};
use crate::store::ContainerRecord;
use crate::{DesiredService, EngineError, NewEvent, ServiceSpec};

/// How soon a pass looks again at a slot waiting for its dependencies.
const GATE_RECHECK: Duration = Duration::from_millis(250);

/// The work of one slot in one pass.
pub(crate) struct SlotWork {
    pub name: String,
    org: String,
    stack: String,
    service: String,
    slot: u32,
    spec: ContainerSpec,
    hash: String,
    restart: crate::lifecycle::RestartPolicy,
    existing: Option<ContainerSummary>,
    record: Option<ContainerRecord>,
    known: bool,
    /// Unmet dependencies: the slot's container is not created while there are any.
    gate: Option<Vec<String>>,
    /// The revision the slot should run.
    revision: u64,
    update: crate::lifecycle::UpdatePolicy,
    /// Whether readiness or startup checks decide when a replica is ready.
    readiness_checked: bool,
    /// The slot's surge container of a rolling update, its record and readiness.
    surge: Option<ContainerSummary>,
    surge_record: Option<ContainerRecord>,
    surge_ready: Option<bool>,
    /// The slot's part in its service's update this pass.
    pub(crate) role: Role,
    /// The update failed for good: surges go, old containers stay.
    halted: bool,
    /// The update has gone too long without progress.
    deadline_passed: bool,
}

/// How long an old replica, detached from the stack network, gets to finish in-flight requests
/// before it is stopped.
const DRAIN: Duration = Duration::from_secs(1);

/// The name a container replaced stop-first has between its stop and its removal: no slot's
/// and no surge's, so a crash in between leaves an orphan.
fn retired_name(slot_name: &str) -> String {
    format!("{slot_name}-retired")
}

impl SlotWork {
    /// The slot's desired container: the service's spec plus network, volumes and labels.
    pub(crate) fn new(ctx: &Ctx, service: &DesiredService, spec: &ServiceSpec, slot: u32) -> Self {
        let name = crate::naming::container_name(
            &ctx.engine_id,
            &service.org,
            &service.stack,
            &service.service,
            slot,
        );
        let network = crate::naming::network_name(&ctx.engine_id, &service.org, &service.stack);
        let mut container =
            ContainerSpec::new(&name, &spec.image).with_network(network, [spec.name.clone()]);
        container.command = spec.command.clone();
        container.env = spec
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        container.ports = spec.ports.clone();
        // Bound when applied; a reference without a bound version (never applied through the
        // engine) fails at create with the secret's name.
        container.secrets = spec
            .secrets
            .iter()
            .map(|r| crate::runtime::SecretMount {
                name: r.name.clone(),
                version: r.bound_version.or(r.version).unwrap_or(0),
                env: r.env.clone(),
                env_template: r.env_template.clone(),
            })
            .collect();
        // The service's own labels first: the engine's `dev.windlass.*` labels are applied
        // over them (and reserved keys were refused when the service was declared).
        container
            .labels
            .extend(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        for mount in &spec.volumes {
            let volume = crate::naming::volume_name(
                &ctx.engine_id,
                &service.org,
                &service.stack,
                &mount.volume,
            );
            container = container.with_volume(volume, &mount.path, mount.read_only);
        }
        // Validated when applied; a value that no longer parses runs without the limit.
        container.cpu = spec.cpu.as_deref().and_then(|c| c.parse().ok());
        container.memory = spec.memory.as_deref().and_then(|m| m.parse().ok());
        container.hardening = ctx.settings.policy.hardening(&spec.hardening);
        ManagedLabels {
            engine: ctx.engine_id.clone(),
            org: service.org.clone(),
            stack: service.stack.clone(),
            service: service.service.clone(),
            revision: service.revision,
            slot,
        }
        .apply(&mut container);
        let hash = container
            .labels
            .get(LABEL_CONFIG_HASH)
            .cloned()
            .unwrap_or_default();
        Self {
            name,
            org: service.org.clone(),
            stack: service.stack.clone(),
            service: service.service.clone(),
            slot,
            spec: container,
            hash,
            restart: spec.restart,
            existing: None,
            record: None,
            known: false,
            gate: None,
            revision: service.revision,
            update: spec.update,
            readiness_checked: spec.readiness_checked(),
            surge: None,
            surge_record: None,
            surge_ready: None,
            role: Role::Free,
            halted: false,
            deadline_passed: false,
        }
    }

    /// Adds the slot's surge container (if any) with its record and readiness.
    pub(crate) fn with_surge(
        mut self,
        surge: Option<ContainerSummary>,
        record: Option<ContainerRecord>,
        ready: Option<bool>,
    ) -> Self {
        self.surge = surge;
        self.surge_record = record;
        self.surge_ready = ready;
        self
    }

    /// Whether the slot's container belongs to another revision.
    pub(crate) fn changes_revision(&self) -> bool {
        self.existing.as_ref().is_some_and(|c| {
            c.labels.get(LABEL_CONFIG_HASH) != Some(&self.hash)
                && self.existing_revision() != Some(self.revision)
        })
    }

    /// The revision of the slot's container, from its label.
    pub(crate) fn existing_revision(&self) -> Option<u64> {
        self.existing
            .as_ref()
            .and_then(|c| c.labels.get(LABEL_REVISION))
            .and_then(|r| r.parse().ok())
    }

    /// Whether the slot has a surge container.
    pub(crate) fn has_surge(&self) -> bool {
        self.surge.is_some()
    }

    /// Whether the slot has a surge container of the desired configuration.
    pub(crate) fn has_current_surge(&self) -> bool {
        self.surge
            .as_ref()
            .is_some_and(|s| s.labels.get(LABEL_CONFIG_HASH) == Some(&self.hash))
    }

    /// Tells the slot how its service's update stands.
    pub(crate) fn with_update_state(mut self, halted: bool, deadline_passed: bool) -> Self {
        self.halted = halted;
        self.deadline_passed = deadline_passed;
        self
    }

    /// Holds back the slot's first start while `gate` lists unmet dependencies.
    pub(crate) fn with_gate(mut self, gate: Option<Vec<String>>) -> Self {
        self.gate = gate;
        self
    }

    /// Adds what Docker and the store say about the slot.
    pub(crate) fn with_observed(
        mut self,
        existing: Option<ContainerSummary>,
        record: Option<ContainerRecord>,
        known: bool,
    ) -> Self {
        self.existing = existing;
        self.record = record;
        self.known = known;
        self
    }

    /// Does what the slot needs. Never fails: an error is reported and retried next pass.
    pub(crate) async fn run(self, ctx: &Ctx) -> (ReconcileReport, Vec<Learned>) {
        let mut report = ReconcileReport::default();
        let mut learned = Vec::new();
        let name = self.name.clone();
        if let Err(error) = self.step(ctx, &mut report, &mut learned).await {
            report.errors.push(format!("{name}: {error}"));
        }
        (report, learned)
    }

    fn state(&self) -> Option<ContainerState> {
        self.record.as_ref().and_then(|r| r.state.parse().ok())
    }

    async fn step(
        &self,
        ctx: &Ctx,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        if let Some(surge) = &self.surge {
            return self.handle_surge(ctx, surge, report, learned).await;
        }
        match self.role {
            Role::MaySurge => return self.start_surge(ctx, report, learned).await,
            Role::Hold => {
                // Its turn comes when a surge is promoted; a halted update waits for people.
                if !self.halted {
                    report.wake_in(Some(GATE_RECHECK));
                }
                return Ok(());
            }
            Role::Free => {}
        }
        let Some(existing) = &self.existing else {
            // Failed or stopped slots stay down until their configuration changes.
            if let (Some(state), Some(record)) = (self.state(), &self.record)
                && state.is_settled_down()
                && record.config_hash == self.hash
            {
                return Ok(());
            }
            if self.gate.is_some() {
                // Health changes do not wake the reconciler: look again soon.
                report.waiting += 1;
                report.wake_in(Some(GATE_RECHECK));
                return Ok(());
            }
            return self.create_and_start(ctx, report, learned, None).await;
        };

        if existing.labels.get(LABEL_CONFIG_HASH) != Some(&self.hash) {
            return self
                .create_and_start(ctx, report, learned, Some(existing))
                .await;
        }

        match existing.status {
            ContainerStatus::Running => {
                if !self.known {
                    self.adopt(ctx, existing, report, learned).await?;
                }
                Ok(())
            }
            ContainerStatus::Created => {
                self.start(ctx, &existing.id, "container-started", json!({}))
                    .await?;
                report.started += 1;
                learned.push(Learned::Known {
                    name: self.name.clone(),
                    id: existing.id.clone(),
                });
                Ok(())
            }
            ContainerStatus::Exited | ContainerStatus::Dead => {
                self.handle_exit(ctx, existing, report, learned).await
            }
            // Paused, restarting, being removed: transient, look again soon.
            _ => {
                report.wake_in(Some(Duration::from_secs(1)));
                Ok(())
            }
        }
    }

    /// Creates the slot's container and starts it; with `replacing`, in place of the drifted
    /// one (see [`Self::create_replacing`]), which is removed once the new one has started.
    async fn create_and_start(
        &self,
        ctx: &Ctx,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
        replacing: Option<&ContainerSummary>,
    ) -> Result<(), EngineError> {
        let (id, retired) = match replacing {
            Some(old) => self.create_replacing(ctx, old, learned).await?,
            None => (
                crate::secrets::inject::create(ctx, &self.org, &self.spec).await?,
                None,
            ),
        };
        let result = self
            .start_created(ctx, report, learned, replacing, id)
            .await;
        if let (Some(old), Some(retired)) = (replacing, retired) {
            self.remove_retired(ctx, &old.id, &retired, learned).await;
        }
        result
    }

    /// Stop-first replacement with the least time between the old container stopping and
    /// the new one starting: the old one is renamed out of the slot's name (to
    /// [`retired_name`]), the new one is created under it while the old one stops (creating
    /// binds no port), and it starts as soon as the old one is down. Returns the new
    /// container and, when the old one was renamed, its new name: the caller removes it after
    /// the start. A crash in between leaves the renamed container, an orphan the next pass
    /// removes. When the rename fails (a leftover holds that name), the old one is stopped
    /// and removed first, as before.
    async fn create_replacing(
        &self,
        ctx: &Ctx,
        old: &ContainerSummary,
        learned: &mut Vec<Learned>,
    ) -> Result<(String, Option<String>), EngineError> {
        let retired = retired_name(&self.name);
        if let Err(error) = ctx.runtime.rename_container(&old.id, &retired).await {
            tracing::debug!(container = %self.name, %error, "could not rename the replaced container; stopping it first");
            self.retire(ctx, old, learned).await?;
            let id = crate::secrets::inject::create(ctx, &self.org, &self.spec).await?;
            return Ok((id, None));
        }
        learned.push(Learned::Gone {
            name: self.name.clone(),
        });
        learned.push(Learned::Known {
            name: retired.clone(),
            id: old.id.clone(),
        });
        let (created, stopped) = tokio::join!(
            crate::secrets::inject::create(ctx, &self.org, &self.spec),
            ctx.runtime
                .stop_container(&old.id, ctx.settings.stop_timeout)
        );
        if stopped.is_err() {
            // Still up (the stop failed or timed out): it holds the port until it is gone.
            ctx.runtime.remove_container(&old.id, true).await?;
            learned.push(Learned::Gone { name: retired });
            return Ok((created?, None));
        }
        Ok((created?, Some(retired)))
    }

    /// Removes the container a stop-first replacement renamed to `retired`; one that cannot
    /// be removed now is an orphan the next pass removes.
    async fn remove_retired(&self, ctx: &Ctx, id: &str, retired: &str, learned: &mut Vec<Learned>) {
        match ctx.runtime.remove_container(id, true).await {
            Ok(()) => learned.push(Learned::Gone {
                name: retired.to_owned(),
            }),
            Err(error) => {
                tracing::warn!(container = %retired, %error, "could not remove the replaced container; the next pass will");
            }
        }
    }

    /// Starts the slot's new container `id` (replacing `replacing`, if any), records both
    /// steps and emits their events.
    async fn start_created(
        &self,
        ctx: &Ctx,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
        replacing: Option<&ContainerSummary>,
        id: String,
    ) -> Result<(), EngineError> {
        learned.push(Learned::Known {
            name: self.name.clone(),
            id: id.clone(),
        });
        let created = match replacing {
            Some(old) => self.event("drift-replaced").with_payload(json!({
                "container_id": id,
                "replaced_id": old.id,
                "from_hash": old.labels.get(LABEL_CONFIG_HASH),
                "to_hash": self.hash,
            })),
            None => self.event("container-created").with_payload(
                json!({ "container_id": id, "image": self.spec.image, "slot": self.slot }),
            ),
        };
        if replacing.is_some() {
            report.replaced += 1;
        } else {
            report.created += 1;
        }
        // Start right away and record both steps at once: one write and one commit instead
        // of two each. A crash in between is harmless: the next pass finds the container by
        // its name, created or running, and starts or adopts it.
        if let Err(error) = ctx.runtime.start_container(&id).await {
            self.persist(ctx, Some(&id), ContainerState::Created, |_| {})
                .await?;
            ctx.emit(created).await;
            return Err(error.into());
        }
        self.persist(ctx, Some(&id), ContainerState::Running, |r| {
            r.backoff_until_ms = None
        })
        .await?;
        let started = self
            .event("container-started")
            .with_payload(json!({ "container_id": id }));
        ctx.emit_all(vec![created, started]).await;
        report.started += 1;
        Ok(())
    }

    async fn start(
        &self,
        ctx: &Ctx,
        id: &str,
        event: &str,
        payload: serde_json::Value,
    ) -> Result<(), EngineError> {
        ctx.runtime.start_container(id).await?;
        self.persist(ctx, Some(id), ContainerState::Running, |r| {
            r.backoff_until_ms = None
        })
        .await?;
        let mut payload = payload;
        payload["container_id"] = json!(id);
        ctx.emit(self.event(event).with_payload(payload)).await;
        Ok(())
    }

    async fn adopt(
        &self,
        ctx: &Ctx,
        existing: &ContainerSummary,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        self.persist(ctx, Some(&existing.id), ContainerState::Running, |_| {})
            .await?;
        ctx.emit(
            self.event("container-adopted")
                .with_payload(json!({ "container_id": existing.id })),
        )
        .await;
        report.adopted += 1;
        learned.push(Learned::Known {
            name: self.name.clone(),
            id: existing.id.clone(),
        });
        Ok(())
    }

    /// The container is not running: a death to handle, a backoff to wait out, or a settled
    /// slot to leave alone.
    async fn handle_exit(
        &self,
        ctx: &Ctx,
        existing: &ContainerSummary,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        learned.push(Learned::Known {
            name: self.name.clone(),
            id: existing.id.clone(),
        });
        let state = self.state().unwrap_or(ContainerState::Running);
        match state {
            ContainerState::Stopped | ContainerState::Failed | ContainerState::Exited => Ok(()),
            ContainerState::BackingOff => {
                let due = self
                    .record
                    .as_ref()
                    .and_then(|r| r.backoff_until_ms)
                    .unwrap_or(0);
                let now = now_ms();
                if now < due {
                    report.wake_in(Some(Duration::from_millis((due - now) as u64)));
                    return Ok(());
                }
                let attempt = self.record.as_ref().map_or(0, |r| r.restart_count);
                self.start(
                    ctx,
                    &existing.id,
                    "container-restarted",
                    json!({ "attempt": attempt }),
                )
                .await?;
                report.started += 1;
                Ok(())
            }
            ContainerState::Pending | ContainerState::Created | ContainerState::Running => {
                self.handle_death(ctx, existing, report).await
            }
        }
    }

    /// A death not handled yet: record it, then ask the restart policy.
    async fn handle_death(
        &self,
        ctx: &Ctx,
        existing: &ContainerSummary,
        report: &mut ReconcileReport,
    ) -> Result<(), EngineError> {
        let info = ctx.runtime.inspect_container(&existing.id).await?;
        let exit_code = info.exit_code.unwrap_or(-1);
        let ran_for = match (info.started_at, info.finished_at) {
            (Some(started), Some(finished)) => finished.duration_since(started).unwrap_or_default(),
            _ => Duration::ZERO,
        };
        let restarts = self.record.as_ref().map_or(0, |r| r.restart_count);
        let decision = self.restart.decide(
            &ctx.settings.backoff,
            exit_code,
            ran_for,
            restarts,
            rand::random::<f64>(),
        );
        report.died += 1;
        let died = json!({
            "container_id": existing.id,
            "exit_code": exit_code,
            "oom_killed": info.oom_killed,
            "ran_for_ms": ran_for.as_millis() as u64,
        });
        // What follows the death: the state to record and, maybe, a second event.
        let (state, backoff_until, follow_up) = match decision {
            RestartDecision::Restart { after, attempt } => {
                report.wake_in(Some(after));
                let backoff = self.event("container-backoff").with_payload(json!({
                    "container_id": existing.id,
                    "attempt": attempt,
                    "delay_ms": after.as_millis() as u64,
                }));
                let until = now_ms() + after.as_millis() as i64;
                (
                    ContainerState::BackingOff,
                    Some((until, attempt)),
                    Some(backoff),
                )
            }
            RestartDecision::Stay => (ContainerState::Exited, None, None),
            RestartDecision::GiveUp { restarts } => {
                report.failed += 1;
                let failed = self.event("container-failed").with_payload(json!({
                    "container_id": existing.id,
                    "exit_code": exit_code,
                    "restarts": restarts,
                }));
                (ContainerState::Failed, None, Some(failed))
            }
        };
        self.persist(ctx, Some(&existing.id), state, |r| {
            r.last_exit_code = Some(exit_code);
            if let Some((until, attempt)) = backoff_until {
                r.restart_count = attempt;
                r.backoff_until_ms = Some(until);
            }
        })
        .await?;
        ctx.emit(self.event("container-died").with_payload(died))
            .await;
        if let Some(event) = follow_up {
            ctx.emit(event).await;
        }
        Ok(())
    }

    fn key(&self) -> (String, String, String) {
        (self.org.clone(), self.stack.clone(), self.service.clone())
    }

    /// Starts the slot's surge: a container of the new revision beside the old one.
    async fn start_surge(
        &self,
        ctx: &Ctx,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        let name = surge_name(&self.name);
        let mut spec = self.spec.clone();
        spec.name = name.clone();
        // Not under the service's DNS name yet: nothing should reach it before it is ready.
        spec.network_aliases.clear();
        let id = crate::secrets::inject::create(ctx, &self.org, &spec).await?;
        learned.push(Learned::Known {
            name: name.clone(),
            id: id.clone(),
        });
        ctx.runtime.start_container(&id).await?;
        self.record_surge(ctx, &id).await?;
        ctx.emit(self.event("rollout-surge-started").with_payload(json!({
            "surge": name,
            "container_id": id,
            "revision": self.revision,
        })))
        .await;
        report.created += 1;
        report.started += 1;
        report.wake_in(Some(GATE_RECHECK));
        Ok(())
    }

    /// Stops and removes the slot's container that is being replaced.
    async fn retire(
        &self,
        ctx: &Ctx,
        old: &ContainerSummary,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        ctx.runtime
            .stop_container(&old.id, ctx.settings.stop_timeout)
            .await
            .ok();
        ctx.runtime.remove_container(&old.id, true).await?;
        learned.push(Learned::Gone {
            name: self.name.clone(),
        });
        Ok(())
    }

    /// A record of this slot's service for the container `name`, with nothing known yet.
    fn blank_record(&self, name: String) -> ContainerRecord {
        ContainerRecord {
            container_name: name,
            org: self.org.clone(),
            stack: self.stack.clone(),
            service: self.service.clone(),
            slot: self.slot,
            container_id: None,
            state: String::new(),
            restart_count: 0,
            last_exit_code: None,
            backoff_until_ms: None,
            config_hash: String::new(),
            updated_ms: 0,
        }
    }

    /// Records a running surge, so that the health monitor probes it.
    async fn record_surge(&self, ctx: &Ctx, id: &str) -> Result<(), EngineError> {
        let record = ContainerRecord {
            container_id: Some(id.to_owned()),
            state: ContainerState::Running.as_str().to_owned(),
            config_hash: self.hash.clone(),
            updated_ms: now_ms(),
            ..self.blank_record(surge_name(&self.name))
        };
        ctx.store.upsert_container_record(&record).await?;
        Ok(())
    }

    /// Moves a surge along: removes a stale one, waits for it to be ready, promotes it into the
    /// slot, or reports that it cannot make it.
    async fn handle_surge(
        &self,
        ctx: &Ctx,
        surge: &ContainerSummary,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        let name = surge_name(&self.name);
        let current = surge.labels.get(LABEL_CONFIG_HASH) == Some(&self.hash);
        if !current || self.halted {
            // Of a revision no longer wanted (a rollback, a newer deploy) or of a failed update.
            ctx.runtime.remove_container(&surge.id, true).await?;
            ctx.store.delete_container_record(&name).await?;
            learned.push(Learned::Gone { name: name.clone() });
            ctx.emit(self.event("rollout-surge-removed").with_payload(json!({
                "surge": name,
                "container_id": surge.id,
            })))
            .await;
            report.removed += 1;
            return Ok(());
        }
        learned.push(Learned::Known {
            name: name.clone(),
            id: surge.id.clone(),
        });
        report.wake_in(Some(GATE_RECHECK));
        match surge.status {
            ContainerStatus::Running => {
                // An engine that went away right after starting it may not have recorded it.
                let recorded = self.surge_record.as_ref().is_some_and(|r| {
                    r.container_id.as_deref() == Some(surge.id.as_str())
                        && r.state == ContainerState::Running.as_str()
                });
                if !recorded {
                    self.record_surge(ctx, &surge.id).await?;
                    return Ok(());
                }
            }
            ContainerStatus::Created => {
                ctx.runtime.start_container(&surge.id).await?;
                return Ok(());
            }
            ContainerStatus::Exited | ContainerStatus::Dead => {
                let info = ctx.runtime.inspect_container(&surge.id).await?;
                report.rollout.push((
                    self.key(),
                    Fact::Failed(format!(
                        "{name} of revision {} exited with code {}",
                        self.revision,
                        info.exit_code.unwrap_or(-1)
                    )),
                ));
                return Ok(());
            }
            _ => return Ok(()),
        }
        let ready = !self.readiness_checked || self.surge_ready == Some(true);
        let info = ctx.runtime.inspect_container(&surge.id).await?;
        let network = crate::naming::network_name(&ctx.engine_id, &self.org, &self.stack);
        if !info.networks.contains_key(&network) {
            // An engine that went away mid-promotion left it detached: attach it again (still
            // without the service's name) so that it can be probed.
            ctx.runtime
                .connect_network(&network, &surge.id, &[])
                .await?;
            return Ok(());
        }
        let ran_for = info
            .started_at
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        if ready && ran_for >= Duration::from_millis(self.update.min_healthy_ms) {
            return self.promote(ctx, surge, report, learned).await;
        }
        if self.deadline_passed {
            report.rollout.push((
                self.key(),
                Fact::Failed(format!(
                    "{name} of revision {} was not ready within the progress deadline of {} ms",
                    self.revision, self.update.progress_deadline_ms
                )),
            ));
        }
        Ok(())
    }

    /// The surge is ready: the old container leaves the service's DNS name, drains, stops and
    /// goes; the surge takes the slot's name.
    async fn promote(
        &self,
        ctx: &Ctx,
        surge: &ContainerSummary,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
    ) -> Result<(), EngineError> {
        // The surge takes the service's DNS name, then the old replica leaves the network: new
        // requests reach the surge only. (Again after a crash mid-step: harmless.)
        let network = crate::naming::network_name(&ctx.engine_id, &self.org, &self.stack);
        ctx.runtime.disconnect_network(&network, &surge.id).await?;
        ctx.runtime
            .connect_network(&network, &surge.id, &self.spec.network_aliases)
            .await?;
        if let Some(old) = &self.existing {
            // Let the name resolve to both for a moment before the old one leaves.
            tokio::time::sleep(Duration::from_millis(300)).await;
            // The old replica must leave the service's DNS name but stay reachable while it
            // drains. Docker cannot drop an alias from an attached container: leaving the
            // network is what takes the name away, and it also takes the container's
            // interface. A request in flight to it then never gets an answer nor a reset: the
            // client hangs (a poller stuck on its last, old answer). So it is attached again
            // at once without the service's name (the bridge hands it its address back, the
            // lowest free one), finishes what it was serving during DRAIN, and is stopped while
            // still attached, so that whatever is left open is reset rather than left hanging.
            match ctx.runtime.disconnect_network(&network, &old.id).await {
                Ok(()) => {
                    if let Err(error) = ctx.runtime.connect_network(&network, &old.id, &[]).await {
                        tracing::warn!(container = %self.name, %error, "could not attach the old replica again to drain it");
                    }
                }
                Err(error) => {
                    tracing::warn!(container = %self.name, %error, "could not detach the old replica before stopping it");
                }
            }
            tokio::time::sleep(DRAIN).await;
            self.retire(ctx, old, learned).await?;
        }
        ctx.runtime.rename_container(&surge.id, &self.name).await?;
        self.persist(ctx, Some(&surge.id), ContainerState::Running, |_| {})
            .await?;
        ctx.store
            .delete_container_record(&surge_name(&self.name))
            .await?;
        learned.push(Learned::Gone {
            name: surge_name(&self.name),
        });
        learned.push(Learned::Known {
            name: self.name.clone(),
            id: surge.id.clone(),
        });
        ctx.emit(self.event("rollout-replica-replaced").with_payload(json!({
            "slot": self.slot,
            "container_id": surge.id,
            "replaced_id": self.existing.as_ref().map(|c| c.id.clone()),
            "revision": self.revision,
        })))
        .await;
        report.replaced += 1;
        report.rollout.push((self.key(), Fact::Progressed));
        Ok(())
    }

    /// Writes the slot's record in `state`, keeping what `update` does not change.
    async fn persist(
        &self,
        ctx: &Ctx,
        id: Option<&str>,
        state: ContainerState,
        update: impl FnOnce(&mut ContainerRecord),
    ) -> Result<(), EngineError> {
        let mut record = self
            .record
            .clone()
            .unwrap_or_else(|| self.blank_record(self.name.clone()));
        // A new configuration starts with a clean slate.
        if record.config_hash != self.hash {
            record.restart_count = 0;
            record.last_exit_code = None;
            record.backoff_until_ms = None;
        }
        record.container_id = id.map(str::to_owned);
        record.state = state.as_str().to_owned();
        record.config_hash = self.hash.clone();
        record.updated_ms = now_ms();
        update(&mut record);
        ctx.store.upsert_container_record(&record).await?;
        Ok(())
    }

    fn event(&self, kind: &str) -> NewEvent {
        NewEvent::new(kind)
            .with_org(&self.org)
            .with_stack(&self.stack)
            .with_service(&self.service)
            .with_container(&self.name)
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
