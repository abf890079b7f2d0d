//! The embeddable engine: [`Engine::builder`] → [`EngineBuilder::build`] → [`Engine::run`].
//!
//! The engine owns a store (desired state, container records, events), a Docker runtime and a
//! reconciler. Host applications declare services with [`Engine::apply`], read containers with
//! [`Engine::containers`] and follow [`Engine::subscribe`]. `run` keeps the containers matching
//! the declarations until its shutdown future resolves; containers keep running after the
//! engine stops (the next run adopts them).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{Mutex, Notify};

use crate::events::{EventFilter, EventLog, EventLogConfig, EventStream, RetentionPolicy};
use crate::lifecycle::Backoff;
use crate::reconcile::{ReconcileReport, Reconciler};
use crate::runtime::DockerRuntime;
use crate::runtime::labels::{
    LABEL_ENGINE, LABEL_MANAGED, LABEL_ORG, LABEL_REVISION, LABEL_SERVICE, LABEL_SLOT, LABEL_STACK,
};
use crate::spec::validate_name;
use crate::store::{DesiredService, Scope, Store};
use crate::{ContainerInfo, ContainerStatus, EngineError, Event, NewEvent, ServiceSpec};

/// Tunables of the reconciler.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub resync: Duration,
    pub orphan_grace: Duration,
    pub stop_timeout: Duration,
    pub backoff: Backoff,
    pub parallelism: usize,
    pub thresholds: crate::health::Thresholds,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(10),
            orphan_grace: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            parallelism: 16,
            thresholds: crate::health::Thresholds::default(),
        }
    }
}

/// What every part of the engine shares.
pub(crate) struct Ctx {
    pub engine_id: String,
    pub runtime: DockerRuntime,
    pub store: Store,
    pub events: EventLog,
    pub settings: Settings,
}

impl Ctx {
    /// Appends an event (written before it is announced). An event log failure is logged, not
    /// propagated: the action it describes has happened and is in Docker and the store.
    pub(crate) async fn emit(&self, event: NewEvent) {
        if let Err(error) = self.events.append(event).await {
            tracing::error!(%error, "could not append an event");
        }
    }

    /// Every container record of the engine, by container name.
    pub(crate) async fn records_by_name(
        &self,
    ) -> Result<std::collections::HashMap<String, crate::ContainerRecord>, crate::StoreError> {
        let records = self.store.list_container_records(Scope::All).await?;
        Ok(records
            .into_iter()
            .map(|r| (r.container_name.clone(), r))
            .collect())
    }

    /// Appends several events with consecutive indexes, in one commit.
    pub(crate) async fn emit_all(&self, events: Vec<NewEvent>) {
        if let Err(error) = self.events.append_many(events).await {
            tracing::error!(%error, "could not append events");
        }
    }

    /// Labels for the stack's network and volumes.
    pub(crate) fn stack_labels(&self, org: &str, stack: &str) -> [(String, String); 4] {
        [
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_ENGINE.to_owned(), self.engine_id.clone()),
            (LABEL_ORG.to_owned(), org.to_owned()),
            (LABEL_STACK.to_owned(), stack.to_owned()),
        ]
    }
}

/// Builds an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    engine_id: String,
    store_url: String,
    docker_endpoint: Option<String>,
    settings: Settings,
    event_log: EventLogConfig,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            engine_id: "dev-1".to_owned(),
            store_url: "sqlite://.windlass/windlass.db".to_owned(),
            docker_endpoint: None,
            settings: Settings::default(),
            event_log: EventLogConfig::default(),
        }
    }
}

impl EngineBuilder {
    /// The engine's id: it scopes container ownership on a shared Docker engine. Default `dev-1`.
    pub fn with_engine_id(mut self, id: impl Into<String>) -> Self {
        self.engine_id = id.into();
        self
    }

    /// The store: `sqlite://path/to/file.db` (default `sqlite://.windlass/windlass.db`) or
    /// `postgres://user:password@host/db`.
    pub fn with_store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = url.into();
        self
    }

    /// The Docker endpoint (`unix:///var/run/docker.sock`, `tcp://…`); default: `DOCKER_HOST`
    /// or the local socket.
    pub fn with_docker_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.docker_endpoint = Some(endpoint.into());
        self
    }

    /// How often the reconciler looks at everything even without news (default 10 s).
    pub fn with_resync_interval(mut self, interval: Duration) -> Self {
        self.settings.resync = interval;
        self
    }

    /// How long an owned container nobody declared survives after a restart (default 30 s).
    pub fn with_orphan_grace(mut self, grace: Duration) -> Self {
        self.settings.orphan_grace = grace;
        self
    }

    /// How long a stopping container gets before it is killed (default 10 s).
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.settings.stop_timeout = timeout;
        self
    }

    /// The shape of restart delays.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// How many containers the reconciler works on at once (default 16).
    pub fn with_parallelism(mut self, parallelism: usize) -> Self {
        self.settings.parallelism = parallelism.max(1);
        self
    }

    /// Where resource use turns `warning` and `critical` (defaults 80 % and 95 %).
    pub fn with_resource_thresholds(mut self, thresholds: crate::health::Thresholds) -> Self {
        self.settings.thresholds = thresholds;
        self
    }

    /// How long events are kept.
    pub fn with_event_retention(mut self, retention: RetentionPolicy) -> Self {
        self.event_log = self.event_log.with_retention(retention);
        self
    }

    /// Validates the settings, opens the store (running its migrations), connects to Docker and
    /// opens the event log.
    pub async fn build(self) -> Result<Engine, EngineError> {
        validate_name("engine id", &self.engine_id)
            .map_err(|e| EngineError::Config(e.to_string()))?;
        if let Some(path) = self.store_url.strip_prefix("sqlite://")
            && let Some(parent) =
                std::path::Path::new(path.split('?').next().unwrap_or(path)).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                EngineError::Config(format!(
                    "cannot create the directory of {}: {e}",
                    self.store_url
                ))
            })?;
        }
        let store = Store::open(&self.store_url).await?;
        let runtime = match &self.docker_endpoint {
            Some(endpoint) => DockerRuntime::connect(endpoint).await?,
            None => DockerRuntime::connect_default().await?,
        };
        let events = EventLog::open_with(store.clone(), self.event_log).await?;
        let ctx = Arc::new(Ctx {
            engine_id: self.engine_id,
            runtime,
            store,
            events,
            settings: self.settings,
        });
        Ok(Engine {
            inner: Arc::new(Inner {
                reconciler: Mutex::new(Reconciler::new(ctx.clone())),
                monitor: crate::health::monitor::Monitor::new(ctx.clone()),
                wake: Notify::new(),
                recheck: std::sync::atomic::AtomicBool::new(false),
                ctx,
            }),
        })
    }
}

/// The engine. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) reconciler: Mutex<Reconciler>,
    monitor: crate::health::monitor::Monitor,
    wake: Notify,
    /// Set by the Docker watcher: look again shortly after the pass the event triggered, since
    /// Docker may announce a death before its container list shows it.
    recheck: std::sync::atomic::AtomicBool,
}

/// How soon the follow-up pass after a Docker event runs.
const RECHECK_AFTER: Duration = Duration::from_millis(300);

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("id", &self.inner.ctx.engine_id)
            .finish_non_exhaustive()
    }
}

/// Which containers [`Engine::containers`] returns.
#[derive(Debug, Clone, Default)]
pub struct ContainerFilter {
    /// Only this org's.
    pub org: Option<String>,
    /// Only this stack's (with `org`).
    pub stack: Option<String>,
    /// Only this service's (with `org` and `stack`).
    pub service: Option<String>,
}

/// A container the engine manages, as Docker and the engine's records see it.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedContainer {
    /// The container's name.
    pub name: String,
    /// Docker's id.
    pub id: String,
    /// The org, stack, service and replica slot it belongs to.
    pub org: String,
    /// The stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// The replica slot.
    pub slot: Option<u32>,
    /// The revision it was created for.
    pub revision: Option<u64>,
    /// Its image.
    pub image: String,
    /// What Docker says.
    pub status: ContainerStatus,
    /// What the engine's lifecycle says (`running`, `backing-off`, `failed`…), if it has a record.
    pub state: Option<String>,
    /// Consecutive restarts.
    pub restart_count: u32,
    /// The last exit code seen.
    pub last_exit_code: Option<i64>,
    /// Whether its readiness checks pass (`None`: no checks, or not decided yet).
    pub ready: Option<bool>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The engine's id.
    pub fn id(&self) -> &str {
        &self.inner.ctx.engine_id
    }

    /// The event log, for queries and subscriptions beyond the shortcuts here.
    pub fn event_log(&self) -> &EventLog {
        &self.inner.ctx.events
    }

    /// Declares a service of a stack (creating or updating it). The revision goes up when the
    /// spec changes. The reconciler acts on it at once when `run` is running.
    #[tracing::instrument(name = "engine.apply", skip(self, spec), fields(engine = %self.id(), service = %spec.name))]
    pub async fn apply(
        &self,
        org: &str,
        stack: &str,
        spec: ServiceSpec,
    ) -> Result<DesiredService, EngineError> {
        validate_name("org", org)?;
        validate_name("stack", stack)?;
        spec.validate()?;
        let ctx = &self.inner.ctx;
        let value = serde_json::to_value(&spec).map_err(|e| EngineError::Config(e.to_string()))?;
        let previous = ctx
            .store
            .get_desired_service(org, stack, &spec.name)
            .await?;
        // Scaling is not a new revision: the replica count stays out of the hash.
        let config_hash = spec_hash(&ServiceSpec {
            replicas: 0,
            ..spec.clone()
        })?;
        let revision = match &previous {
            Some(p) if p.config_hash == config_hash => p.revision,
            Some(p) => p.revision + 1,
            None => 1,
        };
        let desired = DesiredService {
            org: org.to_owned(),
            stack: stack.to_owned(),
            service: spec.name.clone(),
            revision,
            replicas: spec.replicas,
            spec: value,
            config_hash,
            updated_ms: crate::reconcile::now_ms(),
        };
        ctx.store.upsert_desired_service(&desired).await?;
        ctx.emit(
            NewEvent::new("service-applied")
                .with_org(org)
                .with_stack(stack)
                .with_service(&spec.name)
                .with_payload(
                    serde_json::json!({ "revision": revision, "replicas": spec.replicas }),
                ),
        )
        .await;
        self.inner.wake.notify_one();
        Ok(desired)
    }

    /// Removes a service; its containers are stopped and removed by the reconciler. Returns
    /// whether it existed.
    pub async fn remove_service(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<bool, EngineError> {
        let ctx = &self.inner.ctx;
        let existed = ctx
            .store
            .delete_desired_service(org, stack, service)
            .await?;
        if existed {
            ctx.emit(
                NewEvent::new("service-removed")
                    .with_org(org)
                    .with_stack(stack)
                    .with_service(service),
            )
            .await;
            self.inner.wake.notify_one();
        }
        Ok(existed)
    }

    /// The declared services in `scope`.
    pub async fn services(&self, scope: Scope<'_>) -> Result<Vec<DesiredService>, EngineError> {
        Ok(self.inner.ctx.store.list_desired_services(scope).await?)
    }

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

    /// Runs one reconcile pass now and returns what it did.
    pub async fn reconcile(&self) -> Result<ReconcileReport, EngineError> {
        self.inner.reconciler.lock().await.pass().await
    }

    /// Keeps the containers matching the declarations until `shutdown` resolves: reconciles at
    /// once (this is crash recovery), then on every declaration, every Docker event about the
    /// engine's containers, every due backoff or grace period, and every resync interval. On
    /// shutdown it flushes the event log; containers keep running.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let ctx = self.inner.ctx.clone();
        tracing::info!(engine = %ctx.engine_id, "engine running");
        let watcher = tokio::spawn(watch_docker(ctx.clone(), self.inner.clone()));
        let monitor = tokio::spawn(monitor_health(self.inner.clone()));
        tokio::pin!(shutdown);
        let result = loop {
            let report = match self.reconcile().await {
                Ok(report) => report,
                Err(error) => {
                    tracing::error!(%error, "reconcile pass failed; retrying");
                    ReconcileReport {
                        next_wake: Some(Duration::from_secs(1)),
                        ..ReconcileReport::default()
                    }
                }
            };
            let mut wait = report
                .next_wake
                .map_or(ctx.settings.resync, |w| w.min(ctx.settings.resync));
            if self
                .inner
                .recheck
                .swap(false, std::sync::atomic::Ordering::AcqRel)
            {
                wait = wait.min(RECHECK_AFTER);
            }
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        };
        watcher.abort();
        monitor.abort();
        ctx.events.flush().await?;
        tracing::info!(engine = %ctx.engine_id, "engine stopped");
        result
    }
}

/// Runs the health checks that are due, every monitor tick.
async fn monitor_health(inner: Arc<Inner>) {
    loop {
        if let Err(error) = inner.monitor.tick().await {
            tracing::warn!(%error, "health monitor tick failed");
        }
        tokio::time::sleep(crate::health::monitor::TICK).await;
    }
}

/// Wakes the reconciler on every Docker event about the engine's containers, reconnecting
/// after a dropped stream.
async fn watch_docker(ctx: Arc<Ctx>, inner: Arc<Inner>) {
    loop {
        let mut stream = ctx
            .runtime
            .events(&ctx.engine_id, Some(std::time::SystemTime::now()));
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    tracing::debug!(container = %event.name, action = ?event.action, "docker event");
                    inner
                        .recheck
                        .store(true, std::sync::atomic::Ordering::Release);
                    inner.wake.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, "docker event stream failed");
                    break;
                }
            }
        }
        // Whatever happened meanwhile is caught by the pass this wake-up triggers.
        inner.wake.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The hash of a declared spec, to tell whether an apply changed anything. The JSON form is
/// canonical: `env` is a sorted map and every other field keeps its declared order.
fn spec_hash(spec: &ServiceSpec) -> Result<String, EngineError> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(spec).map_err(|e| EngineError::Config(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(&json)))
}
