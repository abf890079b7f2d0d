//! One replica slot: compares what should run with what runs, and does the one step needed.
//!
//! Every step checks the lifecycle guard, acts on Docker, persists the new state, then emits
//! the event. A crash between two steps leaves a state the next pass recognises and repairs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::{Learned, ReconcileReport};
use crate::engine::Ctx;
use crate::lifecycle::{ContainerState, RestartDecision};
use crate::runtime::labels::LABEL_CONFIG_HASH;
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
        }
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

    /// Creates the slot's container and starts it; with `replacing`, removes the drifted one
    /// first (its port or name would collide).
    async fn create_and_start(
        &self,
        ctx: &Ctx,
        report: &mut ReconcileReport,
        learned: &mut Vec<Learned>,
        replacing: Option<&ContainerSummary>,
    ) -> Result<(), EngineError> {
        if let Some(old) = replacing {
            ctx.runtime
                .stop_container(&old.id, ctx.settings.stop_timeout)
                .await
                .ok();
            ctx.runtime.remove_container(&old.id, true).await?;
            learned.push(Learned::Gone {
                name: self.name.clone(),
            });
        }
        let id = ctx.runtime.create_container(&self.spec).await?;
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

    /// Writes the slot's record in `state`, keeping what `update` does not change.
    async fn persist(
        &self,
        ctx: &Ctx,
        id: Option<&str>,
        state: ContainerState,
        update: impl FnOnce(&mut ContainerRecord),
    ) -> Result<(), EngineError> {
        let mut record = self.record.clone().unwrap_or_else(|| ContainerRecord {
            container_name: self.name.clone(),
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
        });
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
