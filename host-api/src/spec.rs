//! What the operator says about a plugin: where it comes from, its limits, its grants and its
//! configuration. Plain data; the host turns it into a sandbox for every call.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The four kinds of plugin, one per WIT world.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// Renders a stack from parameters (`world stack-template`).
    StackTemplate,
    /// Detects a source tree and plans its build (`world build-strategy`).
    BuildStrategy,
    /// Prices usage and checks quotas (`world billing-rule`).
    BillingRule,
    /// Drives another platform over HTTP (`world cloud-adapter`).
    CloudAdapter,
}

impl PluginKind {
    /// Every kind, in a stable order.
    pub const ALL: [PluginKind; 4] = [
        Self::StackTemplate,
        Self::BuildStrategy,
        Self::BillingRule,
        Self::CloudAdapter,
    ];

    /// The kind's name as written in WIT and in configuration files, e.g. `stack-template`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StackTemplate => "stack-template",
            Self::BuildStrategy => "build-strategy",
            Self::BillingRule => "billing-rule",
            Self::CloudAdapter => "cloud-adapter",
        }
    }

    /// The interface the kind's world exports, e.g. `template` for `stack-template`.
    pub(crate) fn interface(self) -> &'static str {
        match self {
            Self::StackTemplate => "template",
            Self::BuildStrategy => "build",
            Self::BillingRule => "billing",
            Self::CloudAdapter => "adapter",
        }
    }

    /// Parses a kind from its name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a plugin's component comes from.
#[derive(Clone)]
pub enum PluginSource {
    /// A `.wasm` component file; reloading reads the file again.
    File(PathBuf),
    /// Component bytes held in memory.
    Bytes(Arc<[u8]>),
}

impl fmt::Debug for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
        }
    }
}

/// Resource limits of one plugin; every call gets a fresh sandbox with these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most linear memory an instance may have, in bytes.
    pub memory_bytes: u64,
    /// The wall-clock deadline of one call.
    pub timeout: Duration,
    /// Fuel for one call, when the host was built with fuel metering; `None` is unlimited.
    pub fuel: Option<u64>,
    /// The largest value a call may return, measured as its JSON encoding, in bytes.
    pub max_output_bytes: u64,
    /// Bytes one call may write through each log channel (`host.log`, stdout, stderr) before
    /// the rest of that channel's output in the call is dropped.
    pub log_bytes: u64,
    /// Lines (`host.log` messages) one call may write through each log channel.
    pub log_lines: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            timeout: Duration::from_millis(1_000),
            fuel: None,
            max_output_bytes: 1 << 20,
            log_bytes: 64 << 10,
            log_lines: 1_000,
        }
    }
}

/// What a plugin may reach beyond its own memory. Everything not granted is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Hosts a cloud adapter may send HTTP requests to: `host` (any port) or `host:port`.
    pub outbound_hosts: Vec<String>,
    /// HTTP authorities a cloud adapter reaches through a Unix socket of the host instead of
    /// the network: (name, socket path). A request to `http://NAME/…` (any port) is sent over
    /// the socket at the path, and the name is never resolved. This is how an adapter drives
    /// the local Docker engine (`docker = "/var/run/docker.sock"`, endpoint `http://docker`)
    /// without the engine opening a TCP port. A name here is a grant of its own: it need not
    /// be in `outbound_hosts`.
    pub unix_sockets: Vec<(String, PathBuf)>,
    /// Host directories mounted read-only: (host path, guest path).
    pub read_only_dirs: Vec<(PathBuf, String)>,
}

impl Grants {
    /// The Unix socket granted under the HTTP authority `host`, if any.
    pub(crate) fn unix_socket(&self, host: &str) -> Option<&std::path::Path> {
        self.unix_sockets
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, path)| path.as_path())
    }

    /// Whether an HTTP request to `authority` (`host` or `host:port`) is granted.
    pub(crate) fn allows_authority(&self, host: &str, port: Option<u16>) -> bool {
        self.outbound_hosts
            .iter()
            .any(|grant| match grant.rsplit_once(':') {
                Some((grant_host, grant_port))
                    if grant_port.chars().all(|c| c.is_ascii_digit()) =>
                {
                    grant_host.eq_ignore_ascii_case(host) && grant_port.parse::<u16>().ok() == port
                }
                _ => grant.eq_ignore_ascii_case(host),
            })
    }
}

/// When a plugin is taken out of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Consecutive sandbox failures (traps, timeouts, limit hits) after which the plugin is
    /// disabled until it is reloaded. `0` never disables it.
    pub max_consecutive_failures: u32,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            max_consecutive_failures: 5,
        }
    }
}

/// Everything the host needs to load one plugin. Its `Debug` shows the config's keys, never
/// their values.
#[derive(Clone)]
pub struct PluginSpec {
    /// The plugin's name: unique in a host, used in every log line, event and error.
    pub name: String,
    /// The kind the operator expects; loading fails when the component is another kind.
    /// `None` accepts whatever the component is.
    pub kind: Option<PluginKind>,
    /// Where the component comes from.
    pub source: PluginSource,
    /// Memory, time, fuel and output limits.
    pub limits: Limits,
    /// What the plugin may reach.
    pub grants: Grants,
    /// Configuration values the plugin reads through `host.config-get`.
    pub config: BTreeMap<String, String>,
    /// Configuration values that are secrets, read through `host.config-get` like `config`
    /// but held as secrets and replaceable while the plugin is loaded (the engine fills them
    /// from its secret store and refreshes them on rotation).
    pub secret_config: crate::SecretConfig,
    /// When the plugin is disabled.
    pub failure_policy: FailurePolicy,
}

impl fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("limits", &self.limits)
            .field("grants", &self.grants)
            .field(
                "config",
                &self
                    .config
                    .keys()
                    .map(|k| (k, "***"))
                    .collect::<BTreeMap<_, _>>(),
            )
            .field("secret_config", &self.secret_config)
            .field("failure_policy", &self.failure_policy)
            .finish()
    }
}

impl PluginSpec {
    /// A spec with default limits, no grants and no configuration.
    pub fn new(name: impl Into<String>, source: PluginSource) -> Self {
        Self {
            name: name.into(),
            kind: None,
            source,
            limits: Limits::default(),
            grants: Grants::default(),
            config: BTreeMap::new(),
            secret_config: crate::SecretConfig::default(),
            failure_policy: FailurePolicy::default(),
        }
    }

    /// A spec for a component file.
    pub fn from_file(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::new(name, PluginSource::File(path.into()))
    }

    /// Sets the expected kind.
    pub fn with_kind(mut self, kind: PluginKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the grants.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Adds one configuration value.
    pub fn with_config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }

    /// Shares `values` as the plugin's secret configuration (see [`PluginSpec::secret_config`]).
    pub fn with_secret_config(mut self, values: crate::SecretConfig) -> Self {
        self.secret_config = values;
        self
    }

    /// Sets the failure policy.
    pub fn with_failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_match_host_and_host_port() {
        let grants = Grants {
            outbound_hosts: vec!["api.example.com".into(), "127.0.0.1:8080".into()],
            ..Grants::default()
        };
        assert!(grants.allows_authority("api.example.com", Some(443)));
        assert!(grants.allows_authority("API.example.com", None));
        assert!(grants.allows_authority("127.0.0.1", Some(8080)));
        assert!(!grants.allows_authority("127.0.0.1", Some(8081)));
        assert!(!grants.allows_authority("example.com", Some(443)));
        assert!(!Grants::default().allows_authority("127.0.0.1", Some(80)));
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in PluginKind::ALL {
            assert_eq!(PluginKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PluginKind::parse("stack_template"), None);
    }
}
