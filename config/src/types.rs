//! The validated runner config: what the runner (or a host application reusing the file
//! format) builds an engine, a plugin host and stacks from. Paths are resolved, defaults
//! applied and references checked; nothing here can be wrong in a way the file could express.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use windlass::plugins::{Grants, Limits, PluginKind, PluginSpec};

use windlass::EngineBuilder;
use windlass::events::RetentionPolicy;
use windlass::health::{ProbeMode, Thresholds};

/// A validated `windlass.toml`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunnerConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[engine]`.
    pub engine: EngineConfig,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[runtime]`.
    pub runtime: RuntimeConfig,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[health]`.
    pub health: HealthConfig,
    /// `[events]`.
    pub events: EventsConfig,
    /// `[secrets]`.
    pub secrets: SecretsSection,
    /// `[billing]`.
    pub billing: BillingSection,
    /// `[quotas]`.
    pub quotas: QuotasSection,
    /// `[[plugins]]`, in file order; names are unique.
    pub plugins: Vec<PluginConfig>,
    /// `[[stacks]]`, in file order; (org, name) pairs are unique and every template is a
    /// stack-template plugin of [`RunnerConfig::plugins`].
    pub stacks: Vec<StackConfig>,
    /// `[policy]`: what tenants may deploy, and how their containers are hardened.
    pub policy: windlass::policy::Policy,
    /// `[[targets]]`, in file order; names are unique, `local` is implicit, every plugin is a
    /// cloud-adapter of [`RunnerConfig::plugins`].
    pub targets: Vec<TargetConfig>,
    /// `[inventory]`: calls in flight, cache TTL, attempts of rate-limited calls.
    pub inventory: windlass::inventory::InventoryConfig,
    /// `[workers]`: how often the workers of targets that have some are polled, and when one
    /// is unhealthy.
    pub workers: windlass::workers::WorkersConfig,
    /// `[builds]`.
    pub builds: BuildsSection,
    /// `[swarm]`: the embedded development swarm.
    pub swarm: SwarmSection,
}

/// `[swarm]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwarmSection {
    /// `embedded`: at start, make the local Docker engine (the `[runtime]` one) a single-node
    /// swarm if it is in none, so an `adapter-swarm` target can drive it. Default `false`.
    pub embedded: bool,
    /// `advertise_addr`: the address that swarm listens (port 2377) and advertises on.
    /// Default `127.0.0.1`: nothing outside the machine can join it.
    pub advertise_addr: std::net::IpAddr,
}

impl Default for SwarmSection {
    fn default() -> Self {
        Self {
            embedded: false,
            advertise_addr: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        }
    }
}

/// One `[[targets]]` entry: a cloud adapter plugin under the operator's name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetConfig {
    /// The target's name (not `local`, which always exists).
    pub name: String,
    /// The cloud-adapter plugin that serves it.
    pub plugin: String,
    /// Free-form options features read (deploy targets, inventory).
    pub options: BTreeMap<String, String>,
}

/// `[secrets]`: the key that encrypts secret values at rest and where secret files go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretsSection {
    /// Where the key comes from.
    pub key: SecretsKeySource,
    /// The host directory (on a tmpfs) for secret files; `None`: the engine's default.
    pub runtime_dir: Option<PathBuf>,
    /// How long versions that are no longer the latest are kept. Default 30 days.
    pub retention: Duration,
}

/// Where the secrets key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretsKeySource {
    /// `key_file`, resolved against the config file's directory; created (mode 0600) when
    /// absent. Default `<data_dir>/secrets.key`.
    File(PathBuf),
    /// `key_env`: the name of an environment variable holding 64 hex digits.
    Env(String),
}

/// `[engine]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The engine id: scopes container ownership on a shared Docker engine.
    pub id: String,
    /// Where the engine keeps its files (the default SQLite store, compiled plugins), resolved
    /// against the config file's directory. Default `.windlass`.
    pub data_dir: PathBuf,
    /// How long a container, network or file-declared stack the engine owns but no longer
    /// wants waits before it is removed, when this process has not managed it (found after a
    /// restart, or dropped from the file). Default 30 s.
    pub orphan_grace: Duration,
    /// Where HTTP and TCP probes run from: `auto` (default), `direct` or `in-network`.
    pub probes: ProbeMode,
    /// The image of in-network probe containers (BusyBox). Default `busybox:1.36`.
    pub probe_image: String,
}

/// `[store]`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// `sqlite://…` (a relative path resolved against the config file's directory) or
    /// `postgres://…`. Default `sqlite://<data_dir>/windlass.db`.
    pub url: String,
}

impl StoreConfig {
    /// The URL with its password masked, for logs and summaries.
    pub fn redacted_url(&self) -> String {
        windlass::redact_store_url(&self.url)
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.redacted_url())
            .finish()
    }
}

/// Where containers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeKind {
    /// A Docker engine.
    Docker,
}

/// `[runtime]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// `type`: the only one so far is `docker`.
    pub kind: RuntimeKind,
    /// The Docker endpoint (`unix://…`, `tcp://…`, `http://…`); `None`: `DOCKER_HOST` or the
    /// local socket.
    pub endpoint: Option<String>,
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiConfig {
    /// Where the HTTP API listens. Default `127.0.0.1:7878`.
    pub listen: SocketAddr,
}

/// `[health]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthConfig {
    /// How often resource snapshots are taken. Default 60 s.
    pub snapshot_interval: Duration,
    /// How long snapshots are kept. Default 7 days.
    pub snapshot_retention: Duration,
    /// Where resource use turns `warning` and `critical`; warning is below critical.
    pub thresholds: Thresholds,
}

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventsConfig {
    /// How long, or how many, events are kept. Default: all of them.
    pub retention: RetentionPolicy,
}

/// Values whose keys may show but whose values may be secrets: `{"key": "***"}` in `Debug`.
struct MaskedValues<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for MaskedValues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "***")))
            .finish()
    }
}

/// `[builds]`: how images are built from source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildsSection {
    /// `strategies`: the build-strategy plugins asked, in tie-break order. Default: every
    /// build-strategy plugin of the file, in its order.
    pub strategies: Vec<String>,
    /// `concurrency`: builds at once (1..=64). Default 2.
    pub concurrency: usize,
    /// `keep_images`: images of a service kept for rollback (1..=100). Default 3.
    pub keep_images: usize,
    /// `clone_timeout`. Default 5 min.
    pub clone_timeout: std::time::Duration,
    /// `build_timeout`. Default 30 min.
    pub build_timeout: std::time::Duration,
    /// `work_dir`: where clones live while built. Default `<data_dir>/builds`.
    pub work_dir: std::path::PathBuf,
}

/// `[billing]`: which rule prices which org, the period, grace and policies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BillingSection {
    /// `rule`: the billing-rule plugin of orgs without their own (`None`: nothing is priced).
    pub rule: Option<String>,
    /// `orgs`: a rule per org.
    pub orgs: BTreeMap<String, String>,
    /// `cycle`: the billing period. Default 1 h.
    pub cycle: Duration,
    /// `metering_interval`. Default 1 min.
    pub metering_interval: Duration,
    /// `grace`: how long a negative balance is tolerated. Default 24 h.
    pub grace: Duration,
    /// `on_grace_end`: `stop` (default) or `none`.
    pub on_grace_end: windlass::billing::GracePolicy,
    /// `on_plugin_failure`: what a failing quota check does, `deny` (default) or `allow`.
    pub on_plugin_failure: windlass::billing::QuotaFailurePolicy,
    /// `currency` of new accounts. Default `EUR`.
    pub currency: String,
    /// `opening_balance_minor` of new accounts. Default 0.
    pub opening_balance_minor: i64,
}

/// `[quotas]`: defaults, and per org (`[quotas.orgs.NAME]`, over the defaults key by key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotasSection {
    /// The limits of orgs not named.
    pub default: windlass::billing::Quotas,
    /// Limits by org.
    pub orgs: BTreeMap<String, windlass::billing::Quotas>,
}

/// One `[[plugins]]` entry. Its `Debug` shows the config's keys, never their values (a
/// plugin's config may hold credentials).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PluginConfig {
    /// The plugin's name, unique in the file.
    pub name: String,
    /// What the component must implement.
    pub kind: PluginKind,
    /// The component file, resolved against the config file's directory; it existed when the
    /// file was validated.
    pub source: PathBuf,
    /// Memory, time and fuel per call (the host's defaults where the file says nothing).
    pub limits: Limits,
    /// What the plugin may reach beyond its memory.
    pub grants: Grants,
    /// Values the plugin reads with `config-get`.
    pub config: BTreeMap<String, String>,
    /// Config values that are secrets (`{ secret = "NAME", org = "ORG" }`), each granted in
    /// `grants.secrets`; the engine fills them ([`windlass::Engine::grant_plugin_secrets`]).
    pub secrets: Vec<windlass::secrets::PluginSecret>,
}

impl fmt::Debug for PluginConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("limits", &self.limits)
            .field("grants", &self.grants)
            .field("config", &MaskedValues(&self.config))
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl PluginConfig {
    /// The spec to load this plugin with
    /// ([`PluginHost::load`](windlass_host_api::PluginHost::load)).
    pub fn plugin_spec(&self) -> PluginSpec {
        let mut spec = PluginSpec::from_file(&self.name, &self.source)
            .with_kind(self.kind)
            .with_limits(self.limits.clone())
            .with_grants(self.grants.clone());
        spec.config = self.config.clone();
        spec
    }
}

/// One `[[stacks]]` entry: a stack rendered by a template plugin. Its `Debug` shows the
/// parameters' names, never their values: which ones the template marks `secret` is known
/// only to the template, so none is shown.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackConfig {
    /// The organisation that owns the stack.
    pub org: String,
    /// The stack's name, unique in its org.
    pub name: String,
    /// The name of the stack-template plugin that renders it.
    pub template: String,
    /// The template's parameters, as written; one bound to a secret
    /// (`{ secret = "NAME" }`) holds the secret's placeholder
    /// ([`windlass::secrets::param_placeholder`]), never its value.
    pub params: BTreeMap<String, String>,
    /// Where its services run: `None` for the engine's own Docker (`local`), else the name of
    /// a `[[targets]]` entry.
    pub target: Option<String>,
}

impl fmt::Debug for StackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackConfig")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("template", &self.template)
            .field("params", &MaskedValues(&self.params))
            .field("target", &self.target)
            .finish()
    }
}

impl StackConfig {
    /// The parameters as the template's `render` takes them.
    pub fn render_params(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl RunnerConfig {
    /// An engine builder with everything the file says about the engine: id, store, Docker
    /// endpoint, resource thresholds, event retention, the policy, and the health snapshot
    /// interval and retention.
    pub fn engine_builder(&self) -> EngineBuilder {
        let mut builder = windlass::Engine::builder()
            .with_engine_id(&self.engine.id)
            .with_store_url(&self.store.url)
            .with_orphan_grace(self.engine.orphan_grace)
            .with_probe_mode(self.engine.probes)
            .with_probe_image(&self.engine.probe_image)
            .with_resource_thresholds(self.health.thresholds)
            .with_event_retention(self.events.retention.clone())
            .with_policy(self.policy.clone());
        if let Some(endpoint) = &self.runtime.endpoint {
            builder = builder.with_docker_endpoint(endpoint);
        }
        let mut secrets = match &self.secrets.key {
            SecretsKeySource::File(path) => windlass::secrets::SecretsConfig::key_file(path),
            SecretsKeySource::Env(var) => windlass::secrets::SecretsConfig::key_env(var),
        }
        .with_retention(self.secrets.retention);
        if let Some(dir) = &self.secrets.runtime_dir {
            secrets = secrets.with_runtime_dir(dir);
        }
        builder
            .with_snapshot_interval(self.health.snapshot_interval)
            .with_snapshot_retention(self.health.snapshot_retention)
            .with_secrets(secrets)
            .with_metering_interval(self.billing.metering_interval)
            .with_inventory(self.inventory.clone())
            .with_workers(self.workers)
    }

    /// The engine's billing configuration, with each rule named in `[billing]` looked up by
    /// `rule` (the runner passes its loaded plugins); a name `rule` does not know is skipped.
    pub fn billing_config(
        &self,
        rule: impl Fn(&str) -> Option<windlass::plugins::BillingRule>,
    ) -> windlass::billing::BillingConfig {
        let mut config = windlass::billing::BillingConfig::default();
        let named = |name: &String| rule(name).map(|r| (name.clone(), r));
        config.default_rule = self.billing.rule.as_ref().and_then(named);
        config.rules = self
            .billing
            .orgs
            .iter()
            .filter_map(|(org, name)| Some((org.clone(), named(name)?)))
            .collect();
        config.default_quotas = self.quotas.default.clone();
        config.quotas = self.quotas.orgs.clone();
        config.on_plugin_failure = self.billing.on_plugin_failure;
        config.cycle = self.billing.cycle;
        config.grace = self.billing.grace;
        config.on_grace_end = self.billing.on_grace_end;
        config.currency = self.billing.currency.clone();
        config.opening_balance_minor = self.billing.opening_balance_minor;
        config
    }

    /// Where compiled plugins are cached: `<data_dir>/compiled`.
    pub fn compile_cache_dir(&self) -> PathBuf {
        self.engine.data_dir.join("compiled")
    }

    /// The engine's targets, each adapter looked up by plugin name in `adapter` (the runner
    /// passes its loaded plugins); a name `adapter` does not know is skipped.
    pub fn targets(
        &self,
        adapter: impl Fn(&str) -> Option<windlass::plugins::CloudAdapter>,
    ) -> Vec<windlass::targets::Target> {
        self.targets
            .iter()
            .filter_map(|t| {
                let plugin = adapter(&t.plugin)?;
                Some(
                    windlass::targets::Target::adapter(&t.name, &t.plugin, plugin)
                        .with_options(t.options.clone()),
                )
            })
            .collect()
    }

    /// The plugin with this name.
    pub fn plugin(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// The directory relative paths in the file start from.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new(""))
    }
}
