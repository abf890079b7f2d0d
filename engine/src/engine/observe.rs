//! Reading what the engine manages: containers, health, resources, events.

use std::time::Duration;

use super::{ContainerFilter, Engine, ManagedContainer};
use crate::events::{EventFilter, EventStream};
use crate::health::{HealthReport, HealthSnapshot, ProbeStats, SnapshotReport};
use crate::runtime::labels::{
    LABEL_ENGINE, LABEL_ORG, LABEL_REVISION, LABEL_SERVICE, LABEL_SLOT, LABEL_STACK,
};
use crate::{ContainerInfo, EngineError, Event};

impl super::Inner {
    pub(crate) async fn snapshot_health(&self) -> Result<SnapshotReport, EngineError> {
        crate::health::snapshot::take(&self.ctx, &self.monitor, &self.sampler).await
    }
}

impl Engine {
    /// The containers this engine manages, as Docker reports them now, with the engine's
    /// lifecycle state. Never includes another engine's or unmanaged containers.
    pub async fn containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ManagedContainer>, EngineError> {
        let ctx = &self.inner.ctx;
        let mut labels = vec![(LABEL_ENGINE, ctx.engine_id.as_str())];
        let scoped = [
            (LABEL_ORG, filter.org.as_deref()),
            (LABEL_STACK, filter.stack.as_deref()),
            (LABEL_SERVICE, filter.service.as_deref()),
        ];
        labels.extend(scoped.iter().filter_map(|(k, v)| v.map(|v| (*k, v))));
        let summaries = ctx.runtime.list_containers(&labels).await?;
        let records = ctx.records_by_name().await?;
        let readiness = self.inner.monitor.readiness();
        let mut containers: Vec<ManagedContainer> = summaries
            .into_iter()
            // Probe containers run no service (see `health::route`).
            .filter(|c| !c.labels.contains_key(crate::health::LABEL_PROBE))
            .map(|c| {
                let label = |key: &str| c.labels.get(key).cloned().unwrap_or_default();
                let record = records.get(&c.name);
                ManagedContainer {
                    org: label(LABEL_ORG),
                    stack: label(LABEL_STACK),
                    service: label(LABEL_SERVICE),
                    slot: label(LABEL_SLOT).parse().ok(),
                    revision: label(LABEL_REVISION).parse().ok(),
                    state: record.map(|r| r.state.clone()),
                    restart_count: record.map_or(0, |r| r.restart_count),
                    last_exit_code: record.and_then(|r| r.last_exit_code),
                    ready: readiness.get(&c.name).copied().flatten(),
                    name: c.name,
                    id: c.id,
                    image: c.image,
                    status: c.status,
                    target: crate::inventory::LOCAL_TARGET.to_owned(),
                    node: None,
                }
            })
            .collect();
        containers.extend(self.placed_containers(filter).await?);
        containers.sort_by(|a, b| (&a.target, &a.name).cmp(&(&b.target, &b.name)));
        Ok(containers)
    }

    /// Docker's full view of one managed container (ports as assigned, networks, limits).
    pub async fn inspect(&self, name: &str) -> Result<ContainerInfo, EngineError> {
        let info = self.inner.ctx.runtime.inspect_container(name).await?;
        if info.labels.get(LABEL_ENGINE).map(String::as_str) != Some(self.id()) {
            return Err(EngineError::NotFound {
                what: format!("container {name} of engine {}", self.id()),
            });
        }
        Ok(info)
    }

    /// The current health of a managed container: its resource use and status (the latest
    /// reading of Docker's stats stream; `stopped` when it does not run) and its checks as
    /// last judged. Checks and the stream are followed while [`Engine::run`] runs; without a
    /// streamed reading, resource use is read now (Docker takes about a second for that).
    pub async fn health(&self, name: &str) -> Result<HealthReport, EngineError> {
        let info = self.inspect(name).await?;
        self.health_report(crate::ContainerSummary {
            id: info.id,
            name: info.name,
            image: info.image,
            status: info.status,
            created: None,
            labels: info.labels,
        })
        .await
    }

    /// [`Engine::health`] of a container as [`Engine::containers`] listed it, without asking
    /// Docker again (the API's shared list; its status may be up to a second old).
    pub async fn health_of(&self, listed: &ManagedContainer) -> Result<HealthReport, EngineError> {
        let labels = [
            (LABEL_ORG, &listed.org),
            (LABEL_STACK, &listed.stack),
            (LABEL_SERVICE, &listed.service),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
        self.health_report(crate::ContainerSummary {
            id: listed.id.clone(),
            name: listed.name.clone(),
            image: listed.image.clone(),
            status: listed.status.clone(),
            created: None,
            labels,
        })
        .await
    }

    async fn health_report(
        &self,
        container: crate::ContainerSummary,
    ) -> Result<HealthReport, EngineError> {
        let ctx = &self.inner.ctx;
        let resources =
            crate::health::snapshot::current_sample(ctx, &self.inner.sampler, &container).await?;
        let checks = self.inner.monitor.health(&container.name);
        let label = |key: &str| container.labels.get(key).cloned().unwrap_or_default();
        Ok(HealthReport {
            org: label(LABEL_ORG),
            stack: label(LABEL_STACK),
            service: label(LABEL_SERVICE),
            resources,
            ready: checks.as_ref().and_then(|h| h.ready()),
            checks: checks.map(|h| h.checks).unwrap_or_default(),
        })
    }

    /// A managed container's recorded health in `from_ms..=to_ms` (ms since the Unix epoch,
    /// by the engine's clock), oldest first, at most 10 000 snapshots.
    pub async fn health_history(
        &self,
        name: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<HealthSnapshot>, EngineError> {
        Ok(self
            .inner
            .ctx
            .store
            .health_history(name, from_ms, to_ms, 10_000)
            .await?)
    }

    /// Records every managed container's health now and prunes snapshots older than the
    /// retention period ([`Engine::run`] does this at the snapshot interval).
    pub async fn snapshot_health(&self) -> Result<SnapshotReport, EngineError> {
        self.inner.snapshot_health().await
    }

    /// How well the health monitor keeps its probe schedule (probes run, scheduling lag
    /// percentiles over the most recent probes).
    pub fn probe_stats(&self) -> ProbeStats {
        self.inner.monitor.probe_stats()
    }

    /// Starts a fresh measurement window for [`Engine::probe_stats`].
    pub fn reset_probe_stats(&self) {
        self.inner.monitor.reset_probe_stats();
    }

    /// Samples a managed container's CPU and memory use now and judges it against the
    /// thresholds; a container that is not running is `stopped`. (Docker measures CPU over
    /// about a second, so this takes that long.)
    pub async fn sample(&self, name: &str) -> Result<crate::health::ResourceSample, EngineError> {
        let info = self.inspect(name).await?;
        let now = self.inner.ctx.now_ms();
        if !info.status.is_alive() {
            return Ok(crate::health::ResourceSample::stopped(&info.name, now));
        }
        let stats = self.inner.ctx.runtime.stats(&info.id).await?;
        Ok(crate::health::ResourceSample::judge(
            &info,
            &stats,
            self.inner.ctx.settings.thresholds,
            now,
        ))
    }

    /// Runs a probe against one managed container now, as the health monitor runs it (an
    /// HTTP or TCP probe goes to the container's address on its stack network, from the
    /// engine or from the network's probe container by the probe mode; an exec probe runs
    /// inside it).
    pub async fn probe(
        &self,
        name: &str,
        probe: &crate::health::Probe,
        timeout: Duration,
    ) -> Result<crate::health::ProbeOutcome, EngineError> {
        let info = self.inspect(name).await?;
        let ctx = &self.inner.ctx;
        Ok(ctx.prober.run(&ctx.runtime, probe, &info, timeout).await)
    }

    /// Follows the event log from `from_index`: stored events first, then live ones, with no
    /// gap and no duplicate.
    pub fn subscribe(&self, from_index: u64) -> EventStream {
        self.inner.ctx.events.subscribe(from_index)
    }

    /// A page of event history.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<Event>, EngineError> {
        Ok(self.inner.ctx.events.query(filter).await?)
    }
}
