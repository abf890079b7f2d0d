//! Building an engine: settings, validation, opening the store, Docker and the event log.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Notify};

use super::{Ctx, Engine, Inner, Settings};
use crate::EngineError;
use crate::events::EventLog;
use crate::events::{EventLogConfig, RetentionPolicy};
use crate::lifecycle::Backoff;
use crate::reconcile::Reconciler;
use crate::runtime::DockerRuntime;
use crate::spec::validate_name;
use crate::store::Store;

/// Builds an [`Engine`]. Its `Debug` masks the store URL's password.
#[derive(Clone)]
pub struct EngineBuilder {
    engine_id: String,
    store_url: String,
    docker_endpoint: Option<String>,
    settings: Settings,
    event_log: EventLogConfig,
    clock: Arc<dyn crate::Clock>,
    secrets: Option<crate::secrets::SecretsConfig>,
    billing: crate::billing::BillingConfig,
    targets: Vec<crate::targets::Target>,
    inventory: crate::inventory::InventoryConfig,
    workers: crate::workers::WorkersConfig,
    placement: crate::placement::PlacementConfig,
    inventory_sources: Vec<Arc<dyn crate::inventory::InventorySource>>,
    builds: crate::builds::BuildsConfig,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("engine_id", &self.engine_id)
            .field("store_url", &crate::store::redact_url(&self.store_url))
            .field("docker_endpoint", &self.docker_endpoint)
            .field("settings", &self.settings)
            .field("event_log", &self.event_log)
            .field("clock", &self.clock)
            .field("targets", &self.targets)
            .field("inventory", &self.inventory)
            .field("workers", &self.workers)
            .field("placement", &self.placement)
            .finish_non_exhaustive()
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            engine_id: "dev-1".to_owned(),
            store_url: "sqlite://.windlass/windlass.db".to_owned(),
            docker_endpoint: None,
            settings: Settings::default(),
            event_log: EventLogConfig::default(),
            clock: Arc::new(crate::SystemClock),
            secrets: None,
            billing: crate::billing::BillingConfig::default(),
            targets: Vec::new(),
            inventory: crate::inventory::InventoryConfig::default(),
            workers: crate::workers::WorkersConfig::default(),
            placement: crate::placement::PlacementConfig::default(),
            inventory_sources: Vec::new(),
            builds: crate::builds::BuildsConfig::default(),
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

    /// Whether to follow Docker's stats stream of every running container (default on): the
    /// source of current resource status and `resource-status-changed` events. Off, resource
    /// use is read once when asked for (which takes Docker about a second per container).
    pub fn with_resource_sampling(mut self, on: bool) -> Self {
        self.settings.sampling = on;
        self
    }

    /// How often every managed container's health is recorded (default 60 s).
    pub fn with_snapshot_interval(mut self, interval: Duration) -> Self {
        self.settings.snapshot_interval = interval;
        self
    }

    /// How long health snapshots are kept (default 7 days); older ones are pruned with each
    /// snapshot round.
    pub fn with_snapshot_retention(mut self, retention: Duration) -> Self {
        self.settings.snapshot_retention = retention;
        self
    }

    /// The operator's policy: which images each org may run, whether it may publish host
    /// ports, and the defaults and limits of container hardening (default: any image, host
    /// ports allowed, the hardened baseline of [`Hardening`](crate::Hardening)).
    pub fn with_policy(mut self, policy: crate::policy::Policy) -> Self {
        self.settings.policy = policy;
        self
    }

    /// The wall clock that timestamps (and so ages) health snapshots; default the system's.
    /// Tests pass a [`ManualClock`](crate::ManualClock) to age snapshots without waiting.
    pub fn with_clock(mut self, clock: Arc<dyn crate::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Billing rules, quotas, the billing period, grace and its policy (see [`crate::billing`]).
    /// Default: no rule (nothing is priced) and no limits.
    pub fn with_billing(mut self, billing: crate::billing::BillingConfig) -> Self {
        self.billing = billing;
        self
    }

    /// The length of a metering interval of the engine's clock (default 1 min).
    pub fn with_metering_interval(mut self, interval: Duration) -> Self {
        self.settings.metering_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long events are kept.
    pub fn with_event_retention(mut self, retention: RetentionPolicy) -> Self {
        self.event_log = self.event_log.with_retention(retention);
        self
    }

    /// Where HTTP and TCP probes run from: from the engine (`Direct`), from a probe container
    /// on each stack network (`InNetwork`), or `Auto` (the default): direct when Docker is on a
    /// local socket or loopback, in-network otherwise or once container addresses turn out
    /// unroutable. See `docs/engine.md`.
    pub fn with_probe_mode(mut self, mode: crate::health::ProbeMode) -> Self {
        self.settings.probes = mode;
        self
    }

    /// The image of in-network probe containers (default `busybox:1.36`): it needs BusyBox's
    /// `sh`, `printf` and `nc` (with `-e`). The engine never pulls it: it must be on the
    /// Docker host.
    pub fn with_probe_image(mut self, image: impl Into<String>) -> Self {
        self.settings.probe_image = image.into();
        self
    }

    /// Keeps secrets with this key and settings. Without it, secret operations and services
    /// referring to secrets fail with [`SecretError::NotConfigured`](crate::secrets::SecretError::NotConfigured).
    /// A key that does not open the store's values fails [`build`](Self::build).
    pub fn with_secrets(mut self, secrets: crate::secrets::SecretsConfig) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Adds a target (an adapter plugin under the operator's name); `local` always exists.
    pub fn with_target(mut self, target: crate::targets::Target) -> Self {
        self.targets.push(target);
        self
    }

    /// How inventories fetch, cache and retry (default 5 calls in flight, a 300 s TTL, 5
    /// attempts for rate-limited calls).
    pub fn with_inventory(mut self, config: crate::inventory::InventoryConfig) -> Self {
        self.inventory = config;
        self
    }

    /// How the heartbeat watches the workers of targets that have some (default: a poll every
    /// 30 s, unhealthy after 120 s not ready; [`crate::workers`]).
    pub fn with_workers(mut self, config: crate::workers::WorkersConfig) -> Self {
        self.workers = config;
        self
    }

    /// How often the placement pass looks at adapter targets (default every 5 s, and after
    /// each declaration; [`crate::placement`]).
    pub fn with_placement(mut self, config: crate::placement::PlacementConfig) -> Self {
        self.placement = config;
        self
    }

    /// Adds an inventory source of the host application's (a target name of its own).
    pub fn with_inventory_source(
        mut self,
        source: Arc<dyn crate::inventory::InventorySource>,
    ) -> Self {
        self.inventory_sources.push(source);
        self
    }

    /// How the engine builds images from source: the build strategy plugins, the concurrency
    /// limit, the images kept ([`crate::builds`]). Default: no strategies, 2 at once, 3 kept.
    pub fn with_builds(mut self, builds: crate::builds::BuildsConfig) -> Self {
        self.builds = builds;
        self
    }

    /// Builds the engine: opens the store (migrating it), connects to Docker, opens the event
    /// log and, with [`with_secrets`](Self::with_secrets), checks the key against the store.
    /// Builds a crash cut off are marked failed and what they left is removed.
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
        let targets = crate::targets::Targets::new(self.targets)
            .await
            .map_err(EngineError::Config)?;
        let store = Store::open(&self.store_url).await?;
        let runtime = match &self.docker_endpoint {
            Some(endpoint) => DockerRuntime::connect(endpoint).await?,
            None => DockerRuntime::connect_default().await?,
        };
        let secrets = match self.secrets {
            Some(config) => Some(Arc::new(
                crate::secrets::Vault::open(config, &store, &self.engine_id).await?,
            )),
            None => None,
        };
        let events = EventLog::open_with(store.clone(), self.event_log).await?;
        let prober = crate::health::route::Prober::new(
            &self.engine_id,
            runtime.endpoint(),
            self.settings.probes,
            &self.settings.probe_image,
        );
        let inventory = super::inventory::build(
            &self.inventory,
            &targets,
            self.inventory_sources,
            &runtime,
            &self.engine_id,
        )
        .map_err(EngineError::Config)?;
        let ctx = Arc::new(Ctx {
            prober,
            engine_id: self.engine_id,
            runtime,
            store,
            events,
            settings: self.settings,
            clock: self.clock,
            secrets,
            meter: crate::billing::meter::UsageMeter::default(),
            ledger: crate::billing::ledger::Ledger::default(),
        });
        let builds = crate::builds::Builds::new(self.builds, &ctx.engine_id);
        let engine = Engine {
            inner: Arc::new(Inner {
                builds,
                reconciler: Mutex::new(Reconciler::new(ctx.clone())),
                billing: crate::billing::BillingState::new(self.billing),
                monitor: crate::health::monitor::Monitor::new(ctx.clone()),
                sampler: crate::health::sampler::Sampler::new(ctx.clone()),
                wake: Notify::new(),
                recheck: std::sync::atomic::AtomicBool::new(false),
                targets,
                inventory,
                workers: crate::workers::WorkersState::new(self.workers),
                placement: crate::placement::PlacementState::new(self.placement),
                plugin_secrets: std::sync::Mutex::default(),
                ctx,
            }),
        };
        engine.recover_builds().await?;
        Ok(engine)
    }
}
