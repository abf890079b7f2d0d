//! The placement pass: services on adapter targets made to match their declarations through
//! the adapter contract (what it does and why is [`crate::placement`]).

use std::collections::HashMap;
use std::sync::Arc;

use windlass_host_api::CloudAdapter;
use windlass_host_api::types::{DeploymentRef, DeploymentStatus};

use super::{Engine, Inner};
use crate::placement::{Key, PlacementReport, Seen, deploy_request, phase_name};
use crate::store::{Placement, Scope};
use crate::targets::{Target, adapter_answer};
use crate::{DesiredService, EngineError, NewEvent, ServiceSpec};

impl Engine {
    /// One placement pass now (the engine runs one every
    /// [`PlacementConfig::poll_interval`](crate::placement::PlacementConfig) while `run`
    /// runs, and after each declaration).
    pub async fn place_now(&self) -> Result<PlacementReport, EngineError> {
        place(&self.inner).await
    }

    /// Where the engine deployed the services of adapter targets, as stored.
    pub async fn placements(&self) -> Result<Vec<Placement>, EngineError> {
        Ok(self.inner.ctx.store.placements().await?)
    }

    /// The platform's status of a placed service, asked now.
    pub async fn placement_status(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<DeploymentStatus, EngineError> {
        Ok(self.placement(org, stack, service).await?.1)
    }

    /// A placed service's stored placement with its platform's status, asked now.
    pub async fn placement(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<(Placement, DeploymentStatus), EngineError> {
        let p = self
            .inner
            .ctx
            .store
            .placements()
            .await?
            .into_iter()
            .find(|p| p.org == org && p.stack == stack && p.service == service)
            .ok_or_else(|| EngineError::NotFound {
                what: format!(
                    "placement of {org}/{stack}/{service} (it is not placed on an adapter target)"
                ),
            })?;
        let (_, adapter) = writable(&self.inner, &p.target)?;
        let status = adapter_answer(&p.target, adapter.status(&reference(&p)).await)?;
        Ok((p, status))
    }
}

/// Runs passes while the engine runs: at once, after every declaration, and every poll
/// interval.
pub(crate) async fn watch_placements(inner: Arc<Inner>) {
    if !inner
        .targets
        .all()
        .iter()
        .any(|t| t.cloud_adapter().is_some() && !t.read_only)
    {
        return;
    }
    loop {
        match place(&inner).await {
            Ok(report) if report.errors.is_empty() => {
                tracing::debug!(?report, "placement pass done");
            }
            Ok(report) => tracing::warn!(?report, "placement pass left work for the next one"),
            Err(error) => tracing::warn!(%error, "placement pass failed"),
        }
        tokio::select! {
            () = inner.placement.wake.notified() => {}
            () = tokio::time::sleep(inner.placement.config.poll_interval) => {}
        }
    }
}

/// The target `name` with its adapter, if it takes deployments.
pub(super) fn writable<'a>(
    inner: &'a Inner,
    name: &str,
) -> Result<(&'a Target, &'a CloudAdapter), EngineError> {
    let target = inner
        .targets
        .get(name)
        .ok_or_else(|| EngineError::NotFound {
            what: format!("target `{name}`"),
        })?;
    target.check_writable()?;
    let adapter = target
        .cloud_adapter()
        .ok_or_else(|| EngineError::TargetRefused {
            target: name.to_owned(),
            message: "it is the engine's own Docker, not an adapter target".to_owned(),
        })?;
    Ok((target, adapter))
}

pub(super) fn reference(p: &Placement) -> DeploymentRef {
    DeploymentRef {
        id: p.deployment_id.clone(),
        name: p.deployment_name.clone(),
    }
}

fn event(kind: &str, key: &Key) -> NewEvent {
    NewEvent::new(kind)
        .with_org(&key.0)
        .with_stack(&key.1)
        .with_service(&key.2)
}

/// One pass over every declared service on an adapter target and every stored placement.
pub(crate) async fn place(inner: &Inner) -> Result<PlacementReport, EngineError> {
    let mut seen = inner.placement.seen.lock().await;
    let ctx = &inner.ctx;
    let desired = ctx.store.list_desired_services(Scope::All).await?;
    let mut rows: HashMap<Key, Placement> = ctx
        .store
        .placements()
        .await?
        .into_iter()
        .map(|p| ((p.org.clone(), p.stack.clone(), p.service.clone()), p))
        .collect();
    let mut report = PlacementReport::default();
    let mut pass = Pass {
        inner,
        networks: HashMap::new(),
        events: Vec::new(),
    };
    for d in &desired {
        let key = (d.org.clone(), d.stack.clone(), d.service.clone());
        let spec: ServiceSpec = match serde_json::from_value(d.spec.clone()) {
            Ok(spec) => spec,
            Err(error) => {
                report.errors.push(format!(
                    "{}/{}/{}: stored spec unreadable: {error}",
                    key.0, key.1, key.2
                ));
                continue;
            }
        };
        let Some(target) = spec.adapter_target() else {
            continue;
        };
        let row = rows.remove(&key);
        let entry = seen.entry(key.clone()).or_default();
        match pass.one(d, &spec, target, row, entry, &mut report).await {
            Ok(()) => entry.error = None,
            Err(error) => pass.failed(&key, entry, error.to_string(), &mut report),
        }
    }
    // What is left was placed by this engine and is no longer declared on an adapter target.
    for (key, row) in rows {
        match pass.remove(&row).await {
            Ok(()) => {
                seen.remove(&key);
                report.removed += 1;
            }
            Err(error) => {
                let entry = seen.entry(key.clone()).or_default();
                pass.failed(&key, entry, error.to_string(), &mut report);
            }
        }
    }
    pass.remove_orphans(&mut report).await;
    let events = std::mem::take(&mut pass.events);
    if !events.is_empty() {
        ctx.emit_all(events).await;
    }
    Ok(report)
}

/// One pass's working state: the org networks ensured so far (per target) and the events to
/// append at its end.
struct Pass<'a> {
    inner: &'a Inner,
    networks: HashMap<(String, String), Option<String>>,
    events: Vec<NewEvent>,
}

impl Pass<'_> {
    /// Makes one declared service's deployment match it.
    async fn one(
        &mut self,
        d: &DesiredService,
        spec: &ServiceSpec,
        target_name: &str,
        row: Option<Placement>,
        seen: &mut Seen,
        report: &mut PlacementReport,
    ) -> Result<(), EngineError> {
        let key = (d.org.clone(), d.stack.clone(), d.service.clone());
        let (target, adapter) = writable(self.inner, target_name)?;
        let row = match row {
            Some(row) if row.target != target_name => {
                // Moved to another target: the old deployment goes first.
                self.remove(&row).await?;
                report.removed += 1;
                None
            }
            row => row,
        };
        if let Some(row) = &row
            && row.revision == d.revision
        {
            let deployment = reference(row);
            if row.replicas != d.replicas {
                match adapter_answer(target_name, adapter.scale(&deployment, d.replicas).await) {
                    Ok(()) => {
                        self.store(d, target_name, &deployment).await?;
                        report.scaled += 1;
                        self.events
                            .push(event("placement-scaled", &key).with_payload(
                                serde_json::json!({
                                    "target": target_name, "deployment": deployment.id,
                                    "from": row.replicas, "to": d.replicas,
                                }),
                            ));
                        return Ok(());
                    }
                    Err(EngineError::NotFound { .. }) => {}
                    Err(error) => return Err(error),
                }
            } else {
                match adapter_answer(target_name, adapter.status(&deployment).await) {
                    Ok(status) => {
                        report.checked += 1;
                        self.observe(&key, target_name, &status, seen);
                        return Ok(());
                    }
                    Err(EngineError::NotFound { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            // The platform lost it (removed by hand, a swarm rebuilt): deploy it again.
            self.events.push(
                event("placement-lost", &key).with_payload(serde_json::json!({
                    "target": target_name, "deployment": deployment.id,
                })),
            );
        }
        let network = self.network(target, adapter, &d.org).await?;
        let request = deploy_request(&self.inner.ctx.engine_id, d, spec, network)
            .map_err(EngineError::InvalidSpec)?;
        let deployment = adapter_answer(target_name, adapter.deploy(&request).await)?;
        // The crash window a restart must survive: deployed, not yet recorded.
        crate::failpoint::point("placement.after-deploy").await;
        self.store(d, target_name, &deployment).await?;
        report.deployed += 1;
        seen.status = None;
        self.events.push(
            event("placement-deployed", &key).with_payload(serde_json::json!({
                "target": target_name,
                "deployment": deployment.id,
                "name": deployment.name,
                "revision": d.revision,
                "replicas": d.replicas,
                "from_revision": row.as_ref().map(|r| r.revision),
            })),
        );
        Ok(())
    }

    /// The org's network on the target (once per pass), when the adapter has networks.
    async fn network(
        &mut self,
        target: &Target,
        adapter: &CloudAdapter,
        org: &str,
    ) -> Result<Option<String>, EngineError> {
        let has_networks = target
            .adapter_info()
            .is_some_and(|i| i.capabilities.networks);
        if !has_networks {
            return Ok(None);
        }
        let key = (target.name.clone(), org.to_owned());
        if let Some(network) = self.networks.get(&key) {
            return Ok(network.clone());
        }
        let network = adapter_answer(&target.name, adapter.ensure_network(org).await)?;
        self.networks.insert(key, Some(network.clone()));
        Ok(Some(network))
    }

    async fn store(
        &self,
        d: &DesiredService,
        target: &str,
        deployment: &DeploymentRef,
    ) -> Result<(), EngineError> {
        let row = Placement {
            org: d.org.clone(),
            stack: d.stack.clone(),
            service: d.service.clone(),
            target: target.to_owned(),
            deployment_id: deployment.id.clone(),
            deployment_name: deployment.name.clone(),
            revision: d.revision,
            replicas: d.replicas,
            updated_ms: crate::reconcile::now_ms(),
        };
        Ok(self.inner.ctx.store.upsert_placement(&row).await?)
    }

    /// Removes a placed deployment and forgets it.
    async fn remove(&mut self, row: &Placement) -> Result<(), EngineError> {
        let (_, adapter) = writable(self.inner, &row.target)?;
        match adapter_answer(&row.target, adapter.remove(&reference(row)).await) {
            Ok(()) | Err(EngineError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        self.inner
            .ctx
            .store
            .delete_placement(&row.org, &row.stack, &row.service)
            .await?;
        let key = (row.org.clone(), row.stack.clone(), row.service.clone());
        self.events.push(
            event("placement-removed", &key).with_payload(serde_json::json!({
                "target": row.target, "deployment": row.deployment_id,
            })),
        );
        Ok(())
    }

    /// Removes deployments carrying this engine's label that no placement names: what a crash
    /// between a removal's answer and its row's deletion (or a hand-deleted row) left.
    async fn remove_orphans(&mut self, report: &mut PlacementReport) {
        let ctx = &self.inner.ctx;
        let known = match ctx.store.placements().await {
            Ok(rows) => rows,
            Err(error) => {
                report.errors.push(format!("orphans: {error}"));
                return;
            }
        };
        let labels = [(
            crate::runtime::labels::LABEL_ENGINE.to_owned(),
            ctx.engine_id.clone(),
        )];
        for target in self.inner.targets.all() {
            let Some(adapter) = target.cloud_adapter() else {
                continue;
            };
            if target.read_only || target.adapter_info().is_none() {
                continue;
            }
            let found = match adapter_answer(&target.name, adapter.list_deployments(&labels).await)
            {
                Ok(found) => found,
                Err(error) => {
                    report
                        .errors
                        .push(format!("target {}: {error}", target.name));
                    continue;
                }
            };
            for deployment in found {
                if known
                    .iter()
                    .any(|p| p.target == target.name && p.deployment_id == deployment.id)
                {
                    continue;
                }
                match adapter_answer(&target.name, adapter.remove(&deployment).await) {
                    Ok(()) | Err(EngineError::NotFound { .. }) => {
                        report.removed += 1;
                        self.events
                            .push(NewEvent::new("placement-orphan-removed").with_payload(
                                serde_json::json!({
                                    "target": target.name, "deployment": deployment.id,
                                    "name": deployment.name,
                                }),
                            ));
                    }
                    Err(error) => report.errors.push(format!(
                        "target {}: orphan {}: {error}",
                        target.name, deployment.name
                    )),
                }
            }
        }
    }

    /// Reports a status that differs from the last one seen: `placement-rolled-back` when the
    /// platform rolled an update back by itself, `placement-phase` otherwise.
    fn observe(&mut self, key: &Key, target: &str, status: &DeploymentStatus, seen: &mut Seen) {
        let now = (
            phase_name(status.phase).to_owned(),
            status.update_state.clone(),
        );
        if seen.status.as_ref() == Some(&now) {
            return;
        }
        let kind = if status.update_state.as_deref() == Some("rollback_completed") {
            "placement-rolled-back"
        } else {
            "placement-phase"
        };
        self.events
            .push(event(kind, key).with_payload(serde_json::json!({
                "target": target,
                "deployment": status.deployment.id,
                "phase": now.0,
                "update_state": status.update_state,
                "running": status.running_replicas,
                "desired": status.desired_replicas,
                "message": status.message,
            })));
        seen.status = Some(now);
    }

    /// Reports a failure once until it changes (every pass retries it).
    fn failed(&mut self, key: &Key, seen: &mut Seen, error: String, report: &mut PlacementReport) {
        report
            .errors
            .push(format!("{}/{}/{}: {error}", key.0, key.1, key.2));
        if seen.error.as_deref() != Some(error.as_str()) {
            self.events.push(
                event("placement-failed", key).with_payload(serde_json::json!({ "error": error })),
            );
            seen.error = Some(error);
        }
    }
}
