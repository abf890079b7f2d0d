//! Reading what the engine manages: containers, health, resources, events.

use std::time::Duration;

use super::{ContainerFilter, Engine, ManagedContainer};
use crate::events::{EventFilter, EventStream};
use crate::runtime::labels::{
    LABEL_ENGINE, LABEL_ORG, LABEL_REVISION, LABEL_SERVICE, LABEL_SLOT, LABEL_STACK,
};
use crate::{ContainerInfo, EngineError, Event};

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
        let readiness = self.inner.monitor.readiness().await;
        let mut containers: Vec<ManagedContainer> = summaries
            .into_iter()
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
                }
            })
            .collect();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
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

    /// The health of a managed container with health checks, as the monitor last judged it
    /// (`None` when it has no checks or is not running). Checks run while [`Engine::run`] runs.
    pub async fn health(&self, name: &str) -> Option<crate::health::ContainerHealth> {
        self.inner.monitor.health(name).await
    }

    /// Samples a managed container's CPU and memory use now and judges it against the
    /// thresholds; a container that is not running is `stopped`. (Docker measures CPU over
    /// about a second, so this takes that long.)
    pub async fn sample(&self, name: &str) -> Result<crate::health::ResourceSample, EngineError> {
        let info = self.inspect(name).await?;
        let now = crate::reconcile::now_ms();
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

    /// Runs a probe against one managed container now (an HTTP or TCP probe goes to the
    /// container's address on its stack network; an exec probe runs inside it).
    pub async fn probe(
        &self,
        name: &str,
        probe: &crate::health::Probe,
        timeout: Duration,
    ) -> Result<crate::health::ProbeOutcome, EngineError> {
        let info = self.inspect(name).await?;
        Ok(probe.run(&self.inner.ctx.runtime, &info, timeout).await)
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
