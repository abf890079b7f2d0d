//! The embeddable engine: [`Engine::builder`] → [`EngineBuilder::build`] → [`Engine::run`].
//!
//! The engine owns a store (desired state, container records, events), a Docker runtime and a
//! reconciler. Host applications declare services with [`Engine::apply`], read containers with
//! [`Engine::containers`] and follow [`Engine::subscribe`]. `run` keeps the containers matching
//! the declarations until its shutdown future resolves; containers keep running after the
//! engine stops (the next run adopts them).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Mutex, Notify};

use crate::events::EventLog;
use crate::lifecycle::Backoff;
use crate::reconcile::Reconciler;
use crate::runtime::DockerRuntime;
use crate::runtime::labels::{LABEL_ENGINE, LABEL_MANAGED, LABEL_ORG, LABEL_STACK};
use crate::store::{Scope, Store};
use crate::{ContainerStatus, NewEvent};

mod billing;
mod build_run;
mod builder;
mod builds;
mod declare;
mod embedded_swarm;
mod inventory;
mod logs;
mod observe;
mod origin;
mod placed;
mod placement;
mod plugin_secrets;
mod run;
mod secrets;
mod stacks;
mod templated;
mod webhooks;
mod workers;

pub(crate) use secrets::read_secret;

pub use builder::EngineBuilder;
pub use builds::BuildRequest;
pub use embedded_swarm::EmbeddedSwarm;
pub use logs::LogStream;
pub use origin::StackOrigin;
pub use stacks::{ServiceStatus, StackDeployment, StackStatus};
pub use webhooks::webhook_secret_name;

/// Tunables of the reconciler.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub resync: Duration,
    pub orphan_grace: Duration,
    pub stop_timeout: Duration,
    pub backoff: Backoff,
    pub parallelism: usize,
    pub thresholds: crate::health::Thresholds,
    /// Follow Docker's stats stream of every running container.
    pub sampling: bool,
    pub snapshot_interval: Duration,
    pub snapshot_retention: Duration,
    /// Where HTTP and TCP probes run from.
    pub probes: crate::health::ProbeMode,
    /// The image of in-network probe containers.
    pub probe_image: String,
    /// What tenants may deploy, and how their containers are hardened.
    pub policy: crate::policy::Policy,
    /// The length of a metering interval.
    pub metering_interval: Duration,
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
            sampling: true,
            snapshot_interval: Duration::from_secs(60),
            snapshot_retention: Duration::from_secs(7 * 24 * 3600),
            probes: crate::health::ProbeMode::Auto,
            probe_image: crate::health::DEFAULT_PROBE_IMAGE.to_owned(),
            policy: crate::policy::Policy::default(),
            metering_interval: Duration::from_secs(60),
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
    pub clock: Arc<dyn crate::Clock>,
    /// The key ring and secrets settings; `None` when the engine was built without a key.
    pub secrets: Option<Arc<crate::secrets::Vault>>,
    /// Runs probes from where they can reach the containers.
    pub prober: crate::health::route::Prober,
    /// Usage counted from the stats streams, between metering closes.
    pub meter: crate::billing::meter::UsageMeter,
    /// What each org holds, for quota checks without a store read.
    pub ledger: crate::billing::ledger::Ledger,
}

impl Ctx {
    /// Wall-clock now from the engine's clock, in ms since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

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

/// The engine. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) ctx: Arc<Ctx>,
    pub(crate) reconciler: Mutex<Reconciler>,
    pub(crate) billing: crate::billing::BillingState,
    pub(crate) builds: crate::builds::Builds,
    monitor: crate::health::monitor::Monitor,
    sampler: crate::health::sampler::Sampler,
    wake: Notify,
    /// Set by the Docker watcher: look again shortly after the pass the event triggered, since
    /// Docker may announce a death before its container list shows it.
    recheck: std::sync::atomic::AtomicBool,
    /// `local` and the configured targets.
    pub(crate) targets: crate::targets::Targets,
    /// The inventory's sources and cache.
    pub(crate) inventory: crate::inventory::Inventory,
    /// The workers' heartbeat and where the engine's containers on them run.
    pub(crate) workers: crate::workers::WorkersState,
    /// The placement passes' settings, wake-up and memory.
    pub(crate) placement: crate::placement::PlacementState,
    /// Plugins' granted secrets, refreshed when those secrets are set.
    pub(crate) plugin_secrets: std::sync::Mutex<Vec<plugin_secrets::PluginGrant>>,
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Where it runs: `local`, or the adapter target its service is placed on.
    pub target: String,
    /// The platform's node it runs on (adapter targets; `None` on `local`).
    pub node: Option<String>,
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
}
