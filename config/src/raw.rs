//! The config file as written: serde structs that refuse unknown keys and keep the span of
//! every value that validation looks at, so its errors can point at the value.
//!
//! Nothing here is checked beyond TOML types; `validate` turns this into a
//! [`RunnerConfig`](super::RunnerConfig).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub(crate) use super::raw_value::RawValue;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub engine: RawEngine,
    #[serde(default)]
    pub store: Option<RawStore>,
    #[serde(default)]
    pub runtime: Option<RawRuntime>,
    #[serde(default)]
    pub api: Option<RawApi>,
    #[serde(default)]
    pub health: Option<RawHealth>,
    #[serde(default)]
    pub events: Option<RawEvents>,
    #[serde(default)]
    pub secrets: Option<RawSecrets>,
    pub billing: Option<RawBilling>,
    #[serde(default)]
    pub quotas: Option<RawQuotas>,
    #[serde(default)]
    pub plugins: Vec<RawPlugin>,
    #[serde(default)]
    pub stacks: Vec<RawStack>,
    #[serde(default)]
    pub policy: Option<RawPolicy>,
    #[serde(default)]
    pub targets: Vec<RawTarget>,
    #[serde(default)]
    pub inventory: Option<RawInventory>,
    #[serde(default)]
    pub workers: Option<RawWorkers>,
    #[serde(default)]
    pub builds: Option<RawBuilds>,
    #[serde(default)]
    pub swarm: Option<RawSwarm>,
}

/// `[swarm]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwarm {
    #[serde(default)]
    pub embedded: Option<bool>,
    #[serde(default)]
    pub advertise_addr: Option<Spanned<String>>,
}

/// `[builds]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuilds {
    #[serde(default)]
    pub strategies: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub concurrency: Option<Spanned<u64>>,
    #[serde(default)]
    pub keep_images: Option<Spanned<u64>>,
    #[serde(default)]
    pub clone_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub build_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub work_dir: Option<Spanned<String>>,
}

/// One `[[targets]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    pub name: Spanned<String>,
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
    pub plugin: Spanned<String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// `[inventory]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInventory {
    #[serde(default)]
    pub concurrency: Option<Spanned<u64>>,
    #[serde(default)]
    pub ttl: Option<Spanned<String>>,
    #[serde(default)]
    pub max_attempts: Option<Spanned<u64>>,
}

/// `[workers]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkers {
    #[serde(default)]
    pub poll_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub unhealthy_after: Option<Spanned<String>>,
}

/// `[engine]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEngine {
    pub id: Spanned<String>,
    #[serde(default)]
    pub data_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub orphan_grace: Option<Spanned<String>>,
    #[serde(default)]
    pub probes: Option<Spanned<String>>,
    #[serde(default)]
    pub probe_image: Option<Spanned<String>>,
}

/// `[store]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    #[serde(default)]
    pub url: Option<Spanned<String>>,
}

/// `[secrets]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecrets {
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
    #[serde(default)]
    pub key_env: Option<Spanned<String>>,
    #[serde(default)]
    pub runtime_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub retention: Option<Spanned<String>>,
}

/// `[runtime]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRuntime {
    #[serde(default, rename = "type")]
    pub kind: Option<Spanned<String>>,
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
}

/// `[api]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
}

/// `[health]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    #[serde(default)]
    pub snapshot_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub retention: Option<Spanned<String>>,
    #[serde(default)]
    pub warning_percent: Option<Spanned<f64>>,
    #[serde(default)]
    pub critical_percent: Option<Spanned<f64>>,
}

/// `[events]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvents {
    #[serde(default)]
    pub retention: Option<Spanned<String>>,
    #[serde(default)]
    pub max_events: Option<Spanned<u64>>,
}

/// One `[[plugins]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugin {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub source: Spanned<String>,
    #[serde(default)]
    pub limits: Option<RawLimits>,
    #[serde(default)]
    pub grants: Option<RawGrants>,
    #[serde(default)]
    pub config: BTreeMap<String, Spanned<RawValue>>,
}

/// A plugin's `limits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    #[serde(default)]
    pub memory_mib: Option<Spanned<u64>>,
    #[serde(default)]
    pub timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub fuel: Option<Spanned<u64>>,
    #[serde(default)]
    pub log_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    pub log_lines: Option<Spanned<u64>>,
}

/// A plugin's `grants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrants {
    #[serde(default)]
    pub outbound_hosts: Vec<Spanned<String>>,
    /// HTTP authority name → Unix socket path.
    #[serde(default)]
    pub unix_sockets: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub read_only_dirs: Vec<RawDir>,
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
}

/// One entry of `grants.read_only_dirs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDir {
    pub host: Spanned<String>,
    pub guest: Spanned<String>,
}

/// One `[[stacks]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStack {
    pub name: Spanned<String>,
    pub org: Spanned<String>,
    pub template: Spanned<String>,
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<RawValue>>,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
}

/// `[policy]`: defaults and limits of container hardening, and what orgs may deploy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    #[serde(default)]
    pub pids_limit: Option<Spanned<u64>>,
    #[serde(default)]
    pub max_pids_limit: Option<Spanned<u64>>,
    #[serde(default)]
    pub log_max_size: Option<Spanned<String>>,
    #[serde(default)]
    pub max_log_size: Option<Spanned<String>>,
    #[serde(default)]
    pub log_max_files: Option<Spanned<u64>>,
    #[serde(default)]
    pub max_log_files: Option<Spanned<u64>>,
    #[serde(default)]
    pub no_new_privileges: Option<bool>,
    #[serde(default)]
    pub allow_new_privileges: Option<bool>,
    #[serde(default)]
    pub read_only_root: Option<bool>,
    #[serde(default)]
    pub images: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub host_ports: Option<bool>,
    #[serde(default)]
    pub orgs: BTreeMap<Spanned<String>, RawOrgPolicy>,
}

/// `[policy.orgs.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOrgPolicy {
    #[serde(default)]
    pub images: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub host_ports: Option<bool>,
}

/// `[billing]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBilling {
    #[serde(default)]
    pub rule: Option<Spanned<String>>,
    #[serde(default)]
    pub orgs: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub cycle: Option<Spanned<String>>,
    #[serde(default)]
    pub metering_interval: Option<Spanned<String>>,
    #[serde(default)]
    pub grace: Option<Spanned<String>>,
    #[serde(default)]
    pub on_grace_end: Option<Spanned<String>>,
    #[serde(default)]
    pub on_plugin_failure: Option<Spanned<String>>,
    #[serde(default)]
    pub currency: Option<Spanned<String>>,
    #[serde(default)]
    pub opening_balance_minor: Option<Spanned<i64>>,
}

/// `[quotas]`: the defaults, and `[quotas.orgs.NAME]` per org.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuotas {
    #[serde(default)]
    pub cpu: Option<Spanned<String>>,
    #[serde(default)]
    pub memory: Option<Spanned<String>>,
    #[serde(default)]
    pub disk: Option<Spanned<String>>,
    #[serde(default)]
    pub containers: Option<Spanned<u64>>,
    #[serde(default)]
    pub services: Option<Spanned<u64>>,
    #[serde(default)]
    pub monthly_spend_minor: Option<Spanned<u64>>,
    #[serde(default)]
    pub orgs: BTreeMap<String, Spanned<RawQuotaLimits>>,
}

impl RawQuotas {
    /// The defaults, as one set of limits.
    pub(crate) fn defaults(&self) -> RawQuotaLimits {
        RawQuotaLimits {
            cpu: self.cpu.clone(),
            memory: self.memory.clone(),
            disk: self.disk.clone(),
            containers: self.containers.clone(),
            services: self.services.clone(),
            monthly_spend_minor: self.monthly_spend_minor.clone(),
        }
    }
}

/// One set of limits.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuotaLimits {
    #[serde(default)]
    pub cpu: Option<Spanned<String>>,
    #[serde(default)]
    pub memory: Option<Spanned<String>>,
    #[serde(default)]
    pub disk: Option<Spanned<String>>,
    #[serde(default)]
    pub containers: Option<Spanned<u64>>,
    #[serde(default)]
    pub services: Option<Spanned<u64>>,
    #[serde(default)]
    pub monthly_spend_minor: Option<Spanned<u64>>,
}
