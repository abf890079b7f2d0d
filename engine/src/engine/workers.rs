//! Workers as the engine exposes them, and the heartbeat that watches them while `run` runs
//! (the judgement itself is `crate::workers::heartbeat`, the moves `crate::workers::migrations`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use windlass_host_api::CloudAdapter;
use windlass_host_api::types::ContainerInfo;

use super::{Engine, Inner};
use crate::runtime::labels::{LABEL_ENGINE, LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
use crate::targets::{Target, adapter_answer};
use crate::workers::migrations::SlotSeen;
use crate::workers::{Availability, JoinCommand, Worker, WorkerRole, resolve};
use crate::{EngineError, NewEvent, SpecError};

/// The longest wait between two polls of a target that keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Whether a target's adapter has workers.
fn has_nodes(target: &Target) -> bool {
    target
        .adapter_info()
        .is_some_and(|info| info.capabilities.nodes)
}

impl Engine {
    /// The targets that have workers (their adapter has the `nodes` capability).
    pub fn worker_targets(&self) -> Vec<String> {
        self.inner
            .targets
            .all()
            .iter()
            .filter(|t| has_nodes(t))
            .map(|t| t.name.clone())
            .collect()
    }

    /// The target `name` names, or the only one with workers when none is named.
    fn worker_target(&self, name: Option<&str>) -> Result<(&Target, &CloudAdapter), EngineError> {
        let target = match name {
            Some(name) => self.inner.targets.get(name).ok_or(EngineError::NotFound {
                what: format!("target `{name}`"),
            })?,
            None => {
                let with: Vec<&Target> = self
                    .inner
                    .targets
                    .all()
                    .iter()
                    .filter(|t| has_nodes(t))
                    .collect();
                match with.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(EngineError::NotFound {
                            what: "a target with workers (no configured target's adapter has \
                                   the `nodes` capability)"
                                .to_owned(),
                        });
                    }
                    many => {
                        let names: Vec<&str> = many.iter().map(|t| t.name.as_str()).collect();
                        return Err(SpecError::new(
                            "target",
                            format!(
                                "several targets have workers ({}): name one",
                                names.join(", ")
                            ),
                        )
                        .into());
                    }
                }
            }
        };
        match target.cloud_adapter() {
            Some(adapter) if has_nodes(target) => Ok((target, adapter)),
            _ => Err(EngineError::TargetRefused {
                target: target.name.clone(),
                message: "it has no workers (its adapter lacks the `nodes` capability)".to_owned(),
            }),
        }
    }

    /// The workers of `target` (or of every target that has some), as the platform reports
    /// them now, with the heartbeat's verdict. Reading them is a heartbeat too: what changed
    /// since the last poll is reported as events before the answer.
    pub async fn workers(&self, target: Option<&str>) -> Result<Vec<Worker>, EngineError> {
        let names = match target {
            Some(name) => vec![self.worker_target(Some(name))?.0.name.clone()],
            None => self.worker_targets(),
        };
        let mut all = Vec::new();
        for name in names {
            all.extend(self.poll_workers(&name).await?);
        }
        Ok(all)
    }

    /// Reads `target`'s nodes, feeds the heartbeat, emits what it concludes, and returns the
    /// judged workers. An unreachable platform is reported once (`target-unavailable`).
    async fn poll_workers(&self, target: &str) -> Result<Vec<Worker>, EngineError> {
        let (_, adapter) = self.worker_target(Some(target))?;
        let ctx = &self.inner.ctx;
        let answer = adapter_answer(target, adapter.nodes().await);
        let now = ctx.now_ms();
        let state = &self.inner.workers;
        let nodes = match answer {
            Ok(nodes) => nodes,
            Err(error) => {
                let events = lock(&state.heartbeat).unreachable(target, &error.to_string(), now);
                ctx.emit_all(events).await;
                return Err(error);
            }
        };
        let mut workers: Vec<Worker> = nodes.into_iter().map(|n| Worker::new(target, n)).collect();
        let after = i64::try_from(state.config.unhealthy_after.as_millis()).unwrap_or(i64::MAX);
        let events = {
            let mut heartbeat = lock(&state.heartbeat);
            let events = heartbeat.observe(target, &workers, now, after);
            for w in &mut workers {
                heartbeat.judge(w);
            }
            events
        };
        ctx.emit_all(events).await;
        Ok(workers)
    }

    /// The worker `name` names on `target`: its id, a unique id prefix or a unique hostname.
    async fn find_worker(&self, target: Option<&str>, name: &str) -> Result<Worker, EngineError> {
        let target = self.worker_target(target)?.0.name.clone();
        let workers = self.poll_workers(&target).await?;
        match resolve(&workers, name) {
            Ok(w) => Ok(w.clone()),
            Err(message) if message.starts_with("no worker") => Err(EngineError::NotFound {
                what: format!("worker `{name}` of target `{target}`"),
            }),
            Err(message) => Err(SpecError::new("name", message).into()),
        }
    }

    /// Sets whether a worker takes tasks: `drain` moves its tasks to other workers (Swarm
    /// reschedules them; each move is a `container-migrated` event as the heartbeat sees it),
    /// `pause` keeps them, `active` takes new ones again. Emits `worker-availability-changed`.
    pub async fn set_worker_availability(
        &self,
        target: Option<&str>,
        name: &str,
        availability: Availability,
    ) -> Result<Worker, EngineError> {
        let mut worker = self.find_worker(target, name).await?;
        let (target, adapter) = self.worker_target(Some(&worker.target))?;
        adapter_answer(
            &target.name,
            adapter
                .set_availability(&worker.id, availability.to_wit())
                .await,
        )?;
        let from = worker.availability;
        worker.availability = availability;
        lock(&self.inner.workers.heartbeat).availability_set(
            &target.name,
            &worker.id,
            availability,
        );
        self.inner
            .ctx
            .emit(NewEvent::new("worker-availability-changed").with_payload(
                serde_json::json!({"target": target.name, "worker": worker.id,
                    "hostname": worker.hostname, "from": from.as_str(), "to": availability.as_str(),
                    "by": "engine"}),
            ))
            .await;
        Ok(worker)
    }

    /// Removes a worker from its cluster (`force`: one that is still up; drain it first to
    /// move its tasks gracefully). Emits `worker-removed`.
    pub async fn remove_worker(
        &self,
        target: Option<&str>,
        name: &str,
        force: bool,
    ) -> Result<Worker, EngineError> {
        let worker = self.find_worker(target, name).await?;
        let (target, adapter) = self.worker_target(Some(&worker.target))?;
        adapter_answer(&target.name, adapter.remove_node(&worker.id, force).await)?;
        lock(&self.inner.workers.heartbeat).forget(&target.name, &worker.id);
        self.inner
            .ctx
            .emit(
                NewEvent::new("worker-removed").with_payload(serde_json::json!({
                    "target": target.name, "worker": worker.id, "hostname": worker.hostname,
                    "force": force,
                })),
            )
            .await;
        Ok(worker)
    }

    /// The exact command that adds a machine to `target`'s cluster as `role` (it holds the join
    /// token, a secret: show it to the operator only).
    pub async fn join_command(
        &self,
        target: Option<&str>,
        role: WorkerRole,
    ) -> Result<JoinCommand, EngineError> {
        let (target, adapter) = self.worker_target(target)?;
        let info = adapter_answer(&target.name, adapter.join_instructions(role.to_wit()).await)?;
        Ok(JoinCommand {
            target: target.name.clone(),
            role,
            command: info.command,
            manager_address: info.manager_address,
        })
    }

    /// Replaces `target`'s join token for `role` (the old one stops working; machines already
    /// joined stay) and returns the new join command. Emits `join-token-rotated`.
    pub async fn rotate_join_token(
        &self,
        target: Option<&str>,
        role: WorkerRole,
    ) -> Result<JoinCommand, EngineError> {
        let (found, adapter) = self.worker_target(target)?;
        adapter_answer(&found.name, adapter.rotate_join_token(role.to_wit()).await)?;
        self.inner
            .ctx
            .emit(
                NewEvent::new("join-token-rotated")
                    .with_payload(serde_json::json!({"target": found.name, "role": role.as_str()})),
            )
            .await;
        self.join_command(Some(found.name.as_str()), role).await
    }

    /// One heartbeat of every target with workers: their nodes (unhealthy and recovered
    /// workers), then where the engine's containers there run (migrations). `run` does this
    /// every poll interval; a host application that does not call `run` may call it itself.
    /// Returns the targets that could not be read, with why.
    pub async fn heartbeat_workers(&self) -> Vec<(String, EngineError)> {
        let mut failed = Vec::new();
        for target in self.worker_targets() {
            match self.poll_workers(&target).await {
                Ok(workers) => {
                    if let Err(error) = self.follow_placements(&target, &workers).await {
                        failed.push((target, error));
                    }
                }
                Err(error) => failed.push((target, error)),
            }
        }
        failed
    }

    /// Reads where the engine's containers on `target` run (the adapter's inventory) and
    /// reports the moves.
    async fn follow_placements(&self, target: &str, workers: &[Worker]) -> Result<(), EngineError> {
        let Some(found) = self.inner.targets.get(target) else {
            return Ok(());
        };
        let (Some(adapter), true) = (found.cloud_adapter(), found.inventory) else {
            return Ok(());
        };
        let engine_id = &self.inner.ctx.engine_id;
        let mut seen = Vec::new();
        let mut groups = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = adapter_answer(target, adapter.list_groups(None, cursor.as_deref()).await)?;
            for group in &page.groups {
                groups.insert(group.name.clone());
                let containers =
                    adapter_answer(target, adapter.list_group_containers(group).await)?;
                seen.extend(
                    containers
                        .into_iter()
                        .filter(|c| label(c, LABEL_ENGINE) == Some(engine_id.as_str()))
                        .map(|c| slot_seen(&group.name, c)),
                );
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let hostnames: HashMap<String, String> = workers
            .iter()
            .map(|w| (w.id.clone(), w.hostname.clone()))
            .collect();
        let events =
            lock(&self.inner.workers.placements).observe(target, &groups, &seen, &hostnames);
        self.inner.ctx.emit_all(events).await;
        Ok(())
    }
}

fn label<'a>(c: &'a ContainerInfo, key: &str) -> Option<&'a str> {
    c.labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn slot_seen(group: &str, c: ContainerInfo) -> SlotSeen {
    SlotSeen {
        group: group.to_owned(),
        org: c
            .org
            .clone()
            .or_else(|| label(&c, LABEL_ORG).map(str::to_owned)),
        stack: c
            .scope
            .clone()
            .or_else(|| label(&c, LABEL_STACK).map(str::to_owned)),
        service: label(&c, LABEL_SERVICE).map(str::to_owned).or(c.group),
        worker: c.location,
        container_id: c.id,
        name: c.name,
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The heartbeat while `run` runs: every target with workers every poll interval, a target
/// that keeps failing less and less often (doubling, up to five minutes) until it answers.
pub(super) async fn watch_workers(inner: Arc<Inner>) {
    let engine = Engine { inner };
    if engine.worker_targets().is_empty() {
        return;
    }
    let every = engine
        .inner
        .workers
        .config
        .poll_interval
        .max(Duration::from_millis(100));
    let mut wait = every;
    loop {
        let failed = engine.heartbeat_workers().await;
        for (target, error) in &failed {
            tracing::warn!(%target, %error, "worker heartbeat failed");
        }
        wait = if failed.is_empty() {
            every
        } else {
            (wait * 2).min(MAX_BACKOFF.max(every))
        };
        tokio::time::sleep(wait).await;
    }
}
