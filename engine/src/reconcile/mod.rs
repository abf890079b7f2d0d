//! Reconciliation: makes the containers Docker reports under this engine's labels match the
//! desired state in the store.
//!
//! One pass reads the desired services, the engine's containers (one list call, all states) and
//! the engine's container records, then works out each replica slot and each orphan on its own,
//! many at a time. It is idempotent and the only place that acts on containers: the Docker event
//! stream and the periodic resync merely trigger passes. After a crash the first pass *is* the
//! recovery: running containers are adopted, missing ones created, drifted ones (config hash)
//! replaced, and owned orphans removed after a grace period. Containers without this engine's
//! label are never listed, so never touched.

mod gates;
mod networks;
mod orphans;
pub(crate) mod rollout;
mod slot;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use crate::engine::Ctx;
use crate::runtime::ContainerSummary;
use crate::runtime::labels::LABEL_ENGINE;
use crate::store::Scope;
use crate::{EngineError, NewEvent, ServiceSpec};

pub(crate) use slot::{SlotWork, now_ms};

/// What one reconcile pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Containers created.
    pub created: u32,
    /// Containers started (new ones and restarts after backoff).
    pub started: u32,
    /// Running containers adopted from an earlier run of the engine.
    pub adopted: u32,
    /// Containers replaced because their configuration drifted.
    pub replaced: u32,
    /// Deaths handled by the restart policy.
    pub died: u32,
    /// Containers given up on by their restart policy.
    pub failed: u32,
    /// Containers removed: orphans, scaled-down replicas, removed services.
    pub removed: u32,
    /// Networks removed: those of stacks that no longer have a declared service.
    pub networks_removed: u32,
    /// Slots not created yet because their service waits for its dependencies.
    pub waiting: u32,
    /// Slots or orphans that could not be handled this pass (they are retried).
    pub errors: Vec<String>,
    /// When something is due (a backoff ending, an orphan's grace period), if before the
    /// next resync.
    #[serde(skip)]
    pub next_wake: Option<Duration>,
    /// What the slots did for their services' rolling updates.
    #[serde(skip)]
    pub(crate) rollout: Vec<((String, String, String), rollout::Fact)>,
}

impl ReconcileReport {
    fn absorb(&mut self, other: ReconcileReport) {
        self.created += other.created;
        self.started += other.started;
        self.adopted += other.adopted;
        self.replaced += other.replaced;
        self.died += other.died;
        self.failed += other.failed;
        self.removed += other.removed;
        self.networks_removed += other.networks_removed;
        self.waiting += other.waiting;
        self.errors.extend(other.errors);
        self.rollout.extend(other.rollout);
        self.wake_in(other.next_wake);
    }

    fn wake_in(&mut self, wake: Option<Duration>) {
        self.next_wake = match (self.next_wake, wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What a pass learned about one container, kept for the next passes.
pub(crate) enum Learned {
    /// This process now manages the container (created, started or adopted).
    Known { name: String, id: String },
    /// The container is gone.
    Gone { name: String },
}

/// The reconciler's memory between passes. It holds nothing that must survive a crash: the
/// store and Docker's labels hold that.
pub(crate) struct Reconciler {
    ctx: Arc<Ctx>,
    /// Containers this process created or adopted, by name.
    known: HashMap<String, String>,
    /// Orphans not (yet) known to this process, by container id, with when they were first seen.
    orphans_seen: HashMap<String, Instant>,
    /// Networks and volumes ensured by this process.
    ensured: HashSet<String>,
    /// Owned networks of undeclared stacks not ensured by this process, by network id, with
    /// when they were first seen (the grace period runs from then).
    networks_seen: HashMap<String, Instant>,
    /// Services held back by their dependencies, with what they wait for (announced once).
    waiting: HashMap<(String, String, String), Vec<String>>,
    /// Services this process saw updating, so that it notices when they are done.
    rolling: HashSet<(String, String, String)>,
}

impl Reconciler {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self {
            ctx,
            known: HashMap::new(),
            orphans_seen: HashMap::new(),
            ensured: HashSet::new(),
            networks_seen: HashMap::new(),
            waiting: HashMap::new(),
            rolling: HashSet::new(),
        }
    }

    /// One pass. Errors of single slots are collected in the report (and retried next pass);
    /// only failing to read the desired or actual state fails the pass. `readiness` is the
    /// health monitor's view, by container name, for dependency gates.
    #[tracing::instrument(name = "reconcile.pass", skip(self, readiness), fields(engine = %self.ctx.engine_id))]
    pub(crate) async fn pass(
        &mut self,
        readiness: &HashMap<String, Option<bool>>,
    ) -> Result<ReconcileReport, EngineError> {
        let ctx = self.ctx.clone();
        let desired = ctx.store.list_desired_services(Scope::All).await?;
        let mut actual = ctx
            .runtime
            .list_containers(&[(LABEL_ENGINE, ctx.engine_id.as_str())])
            .await?;
        if let Some(vault) = &ctx.secrets {
            // Secret files of containers that are gone go with them. Containers are only
            // created inside passes, so none made after this listing can lose its files.
            let alive: HashSet<&str> = actual
                .iter()
                .filter_map(|c| c.labels.get(crate::labels::LABEL_SECRETS_DIR))
                .map(String::as_str)
                .collect();
            crate::secrets::inject::sweep(&vault.runtime_dir, &alive);
        }
        // Probe containers are no service's and no orphans: they go with their network.
        actual.retain(|c| !c.labels.contains_key(crate::health::LABEL_PROBE));
        let mut records = ctx.records_by_name().await?;
        let mut by_name: HashMap<String, ContainerSummary> =
            actual.into_iter().map(|c| (c.name.clone(), c)).collect();

        let mut report = ReconcileReport::default();
        let mut parsed = Vec::new();
        for service in &desired {
            match serde_json::from_value::<ServiceSpec>(service.spec.clone()) {
                // Services on adapter targets are the placement pass's (`crate::placement`).
                Ok(spec) if spec.adapter_target().is_some() => {}
                Ok(spec) => parsed.push((service, spec)),
                Err(error) => report.errors.push(format!(
                    "{}/{}/{}: stored spec unreadable: {error}",
                    service.org, service.stack, service.service
                )),
            }
        }
        let pairs: Vec<_> = parsed.iter().map(|(d, s)| (*d, s)).collect();
        let blocked = gates::unmet(&ctx.engine_id, &pairs, &by_name, &records, readiness);
        self.announce_gates(&blocked).await;

        let mut work = Vec::new();
        let mut updates = Vec::new();
        for (service, spec) in &parsed {
            let (service, spec) = (*service, spec);
            let gate = blocked
                .get(&(
                    service.org.clone(),
                    service.stack.clone(),
                    service.service.clone(),
                ))
                .cloned();
            if let Err(error) = self.ensure_stack_objects(service, spec).await {
                report
                    .errors
                    .push(format!("{}/{}: {error}", service.org, service.stack));
                continue;
            }
            // A service built from source has no image until its first build succeeds.
            if spec.image.is_empty() {
                continue;
            }
            let mut items = Vec::new();
            for slot in 0..service.replicas {
                let work_item = SlotWork::new(&ctx, service, spec, slot);
                let existing = by_name.remove(&work_item.name);
                let record = records.remove(&work_item.name);
                let known = self.known.contains_key(&work_item.name);
                let surge = rollout::surge_name(&work_item.name);
                let surge_ready = readiness.get(&surge).copied().flatten();
                items.push(
                    work_item
                        .with_observed(existing, record, known)
                        .with_gate(gate.clone())
                        .with_surge(by_name.remove(&surge), records.remove(&surge), surge_ready),
                );
            }
            match self.plan_update(service, spec, items).await {
                Ok((items, update)) => {
                    work.extend(items);
                    updates.extend(update);
                }
                Err(error) => report.errors.push(format!(
                    "{}/{}/{}: {error}",
                    service.org, service.stack, service.service
                )),
            }
        }

        // What is left in `by_name` is owned by this engine and no longer desired.
        let orphans: Vec<orphans::OrphanWork> = by_name
            .into_values()
            .map(|container| {
                let known = self.known.contains_key(&container.name);
                let first_seen = *self
                    .orphans_seen
                    .entry(container.id.clone())
                    .or_insert_with(Instant::now);
                let record = records.remove(&container.name);
                orphans::OrphanWork::new(container, record, known, first_seen)
            })
            .collect();
        // Records without a container and without a slot are stale.
        for name in records.into_keys() {
            if let Err(error) = ctx.store.delete_container_record(&name).await {
                report.errors.push(format!("{name}: {error}"));
            }
        }

        let parallelism = ctx.settings.parallelism.max(1);
        let slot_results: Vec<_> = futures::stream::iter(work.into_iter().map(|w| w.run(&ctx)))
            .buffer_unordered(parallelism)
            .collect()
            .await;
        let orphan_results: Vec<_> =
            futures::stream::iter(orphans.into_iter().map(|o| o.run(&ctx)))
                .buffer_unordered(parallelism)
                .collect()
                .await;
        for (outcome, learned) in slot_results.into_iter().chain(orphan_results) {
            report.absorb(outcome);
            for fact in learned {
                match fact {
                    Learned::Known { name, id } => {
                        self.known.insert(name, id);
                    }
                    Learned::Gone { name } => {
                        if let Some(id) = self.known.remove(&name) {
                            self.orphans_seen.remove(&id);
                        }
                    }
                }
            }
        }
        // With the orphans gone, the networks of stacks nobody declares any more are free.
        let wanted: HashSet<(String, String)> = desired
            .iter()
            .map(|d| (d.org.clone(), d.stack.clone()))
            .collect();
        self.prune_networks(&wanted, &mut report).await;
        for (service, spec, state, updating) in updates {
            let key = (
                service.org.clone(),
                service.stack.clone(),
                service.service.clone(),
            );
            let facts: Vec<rollout::Fact> = report
                .rollout
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, f)| f.clone())
                .collect();
            if let Err(error) = rollout::finish(&ctx, service, spec, state, updating, &facts).await
            {
                report
                    .errors
                    .push(format!("{}/{}/{}: {error}", key.0, key.1, key.2));
            }
            if !updating {
                self.rolling.remove(&key);
            }
        }
        if !report.errors.is_empty() {
            tracing::warn!(errors = ?report.errors, "reconcile pass left work for the next one");
            // A network or volume may have been removed behind our back: ensure them again.
            self.ensured.clear();
        }
        tracing::debug!(?report, "reconcile pass done");
        Ok(report)
    }

    /// Gives each slot its part in the service's rolling update (start-first: at most
    /// `max_parallel` surges at once) and returns the update's state for the bookkeeping after
    /// the pass, if the service is updating or just finished.
    async fn plan_update<'a>(
        &mut self,
        service: &'a crate::DesiredService,
        spec: &'a ServiceSpec,
        items: Vec<SlotWork>,
    ) -> Result<
        (
            Vec<SlotWork>,
            Option<(
                &'a crate::DesiredService,
                &'a ServiceSpec,
                crate::store::Rollout,
                bool,
            )>,
        ),
        EngineError,
    > {
        let key = (
            service.org.clone(),
            service.stack.clone(),
            service.service.clone(),
        );
        // Two replicas cannot hold one host port, and two database processes must not share
        // one data directory: those services are replaced stop-first whatever they ask.
        let start_first = spec.update.order == crate::lifecycle::UpdateOrder::StartFirst
            && !spec.ports.iter().any(|p| p.host_port.is_some())
            && !spec.volumes.iter().any(|v| !v.read_only);
        let changing: Vec<bool> = items
            .iter()
            .map(|i| start_first && i.changes_revision())
            .collect();
        let updating = items.iter().any(SlotWork::has_surge) || changing.contains(&true);
        if !updating {
            if self.rolling.contains(&key)
                && let Some(state) = self
                    .ctx
                    .store
                    .rollout(&service.org, &service.stack, &service.service)
                    .await?
            {
                return Ok((items, Some((service, spec, state, false))));
            }
            self.rolling.remove(&key);
            return Ok((items, None));
        }
        self.rolling.insert(key);
        let from = items
            .iter()
            .filter_map(SlotWork::existing_revision)
            .filter(|r| *r != service.revision)
            .min()
            .unwrap_or(0);
        let (state, halted) = rollout::begin(&self.ctx, service, from).await?;
        let deadline = rollout::deadline_passed(&state, spec);
        let surging = items.iter().filter(|i| i.has_current_surge()).count() as u32;
        let mut budget = spec.update.max_parallel.max(1).saturating_sub(surging);
        let items = items
            .into_iter()
            .zip(changing)
            .map(|(item, changing)| {
                let mut item = item.with_update_state(halted, deadline);
                if changing && !item.has_surge() {
                    item.role = if !halted && budget > 0 {
                        budget -= 1;
                        rollout::Role::MaySurge
                    } else {
                        rollout::Role::Hold
                    };
                }
                item
            })
            .collect();
        Ok((items, Some((service, spec, state, true))))
    }

    /// Forgets that these networks or volumes were ensured (they were removed), so the next
    /// pass that needs them creates them again.
    pub(crate) fn forget_ensured(&mut self, names: &[String]) {
        for name in names {
            self.ensured.remove(name);
        }
    }

    /// Announces services that start or stop waiting for their dependencies.
    async fn announce_gates(&mut self, blocked: &HashMap<(String, String, String), Vec<String>>) {
        let mut events = Vec::new();
        for (key, waiting_for) in blocked {
            if self.waiting.get(key) != Some(waiting_for) {
                events.push(
                    NewEvent::new("service-waiting")
                        .with_org(&key.0)
                        .with_stack(&key.1)
                        .with_service(&key.2)
                        .with_payload(serde_json::json!({ "waiting_for": waiting_for })),
                );
            }
        }
        for key in self.waiting.keys() {
            if !blocked.contains_key(key) {
                events.push(
                    NewEvent::new("dependencies-met")
                        .with_org(&key.0)
                        .with_stack(&key.1)
                        .with_service(&key.2),
                );
            }
        }
        self.waiting = blocked.clone();
        if !events.is_empty() {
            self.ctx.emit_all(events).await;
        }
    }

    /// Ensures the stack's network and the volumes the service mounts (once per process).
    async fn ensure_stack_objects(
        &mut self,
        service: &crate::DesiredService,
        spec: &ServiceSpec,
    ) -> Result<(), EngineError> {
        let ctx = &self.ctx;
        let network = crate::naming::network_name(&ctx.engine_id, &service.org, &service.stack);
        if !self.ensured.contains(&network) {
            let mut network_spec = crate::runtime::NetworkSpec::new(&network);
            for (key, value) in ctx.stack_labels(&service.org, &service.stack) {
                network_spec = network_spec.with_label(key, value);
            }
            let info = ctx.runtime.ensure_network(&network_spec).await?;
            if info.created {
                ctx.emit(
                    NewEvent::new("network-created")
                        .with_org(&service.org)
                        .with_stack(&service.stack)
                        .with_payload(serde_json::json!({ "network": network })),
                )
                .await;
            }
            self.ensured.insert(network);
        }
        for mount in &spec.volumes {
            let volume = crate::naming::volume_name(
                &ctx.engine_id,
                &service.org,
                &service.stack,
                &mount.volume,
            );
            if self.ensured.contains(&volume) {
                continue;
            }
            let mut volume_spec = crate::runtime::VolumeSpec::new(&volume);
            for (key, value) in ctx.stack_labels(&service.org, &service.stack) {
                volume_spec = volume_spec.with_label(key, value);
            }
            let info = ctx.runtime.ensure_volume(&volume_spec).await?;
            if info.created {
                ctx.emit(
                    NewEvent::new("volume-created")
                        .with_org(&service.org)
                        .with_stack(&service.stack)
                        .with_payload(serde_json::json!({ "volume": volume })),
                )
                .await;
            }
            self.ensured.insert(volume);
        }
        Ok(())
    }
}
