//! [`ContainerSpec`]: what the engine asks the runtime to create, and its translation into a
//! Docker create request.
//!
//! Owns validation of engine-level specs (env keys, port numbers, mount paths) and the mapping
//! to Docker's body (ports, mounts, limits, networking, restart policy "no": restarts are the
//! engine's job, never Docker's). It must not talk to Docker or decide names and labels (see
//! `labels`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, Mount, MountType,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use serde::{Deserialize, Serialize};

use super::RuntimeError;
use crate::resources::{CpuMillis, MemoryBytes};

/// A transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// Docker's spelling: `tcp`, `udp`, `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Protocol> {
        match s {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container port published on the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// The port inside the container.
    pub container_port: u16,
    /// The protocol (TCP unless said otherwise).
    #[serde(default)]
    pub protocol: Protocol,
    /// The host port; `None` lets Docker pick a free one (read it back from
    /// [`ContainerInfo::ports`](super::ContainerInfo::ports)).
    #[serde(default)]
    pub host_port: Option<u16>,
    /// The host address to bind; `None` binds all interfaces (Docker's default).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub host_ip: Option<IpAddr>,
}

impl PortSpec {
    /// A TCP port published on a host port Docker picks.
    pub fn tcp(container_port: u16) -> Self {
        PortSpec {
            container_port,
            protocol: Protocol::Tcp,
            host_port: None,
            host_ip: None,
        }
    }

    /// The same port published on a fixed host port.
    pub fn with_host_port(mut self, host_port: u16) -> Self {
        self.host_port = Some(host_port);
        self
    }

    /// The same port bound to one host address only.
    pub fn with_host_ip(mut self, host_ip: IpAddr) -> Self {
        self.host_ip = Some(host_ip);
        self
    }
}

/// A named volume mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VolumeMount {
    /// The Docker volume name (see [`DockerRuntime::ensure_volume`](super::DockerRuntime::ensure_volume)).
    pub volume: String,
    /// The absolute path inside the container.
    pub path: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// How a container is locked down. The default is the engine's hardened baseline:
/// `no-new-privileges`, at most 512 processes, and the json-file log capped at 3 files of
/// 10 MiB; the root filesystem stays writable unless asked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hardening {
    /// Docker's `no-new-privileges`: setuid binaries and file capabilities gain nothing.
    pub no_new_privileges: bool,
    /// The most processes (and threads) the container may run; `None`: unlimited.
    pub pids_limit: Option<i64>,
    /// Mount the root filesystem read-only (volumes stay writable).
    pub read_only_root: bool,
    /// The json-file log's size before it rotates, in bytes; `None`: unbounded.
    pub log_max_size: Option<u64>,
    /// How many rotated json-file log files are kept (with `log_max_size`).
    pub log_max_files: Option<u32>,
}

impl Default for Hardening {
    fn default() -> Self {
        Self {
            no_new_privileges: true,
            pids_limit: Some(512),
            read_only_root: false,
            log_max_size: Some(10 << 20),
            log_max_files: Some(3),
        }
    }
}

impl Hardening {
    /// Nothing locked down: Docker's own defaults.
    pub fn none() -> Self {
        Self {
            no_new_privileges: false,
            pids_limit: None,
            read_only_root: false,
            log_max_size: None,
            log_max_files: None,
        }
    }

    /// Docker's host-config fields for these settings.
    fn apply(&self, host: &mut HostConfig) {
        if self.no_new_privileges {
            host.security_opt = Some(vec!["no-new-privileges:true".to_owned()]);
        }
        host.pids_limit = self.pids_limit;
        if self.read_only_root {
            host.readonly_rootfs = Some(true);
        }
        if let Some(size) = self.log_max_size {
            let mut config = HashMap::from([("max-size".to_owned(), size.to_string())]);
            if let Some(files) = self.log_max_files {
                config.insert("max-file".to_owned(), files.to_string());
            }
            host.log_config = Some(HostConfigLogConfig {
                typ: Some("json-file".to_owned()),
                config: Some(config),
            });
        }
    }
}

/// Everything the engine decides about one container; the runtime turns it into a Docker
/// create request. Docker's restart policy is always "no": the engine restarts containers.
/// Its `Debug` shows the environment's names, never their values (they may be secrets).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ContainerSpec {
    /// The container name (unique on the Docker host).
    pub name: String,
    /// The image reference; it must already be on the host (nothing is pulled).
    pub image: String,
    /// The command, replacing the image's `CMD`; `None` keeps the image's.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Environment variables; keys must be unique.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Labels, including the engine's `dev.windlass.*` set (see [`ManagedLabels`](super::ManagedLabels)).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Published ports.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// The user-defined network to join; `None` uses Docker's default bridge.
    #[serde(default)]
    pub network: Option<String>,
    /// DNS aliases on [`network`](Self::network) (ignored without one).
    #[serde(default)]
    pub network_aliases: Vec<String>,
    /// Named volumes to mount.
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// CPU limit.
    #[serde(default)]
    pub cpu: Option<CpuMillis>,
    /// Memory limit (swap is disabled: the memory limit is also the memory+swap limit).
    #[serde(default)]
    pub memory: Option<MemoryBytes>,
    /// Secrets to inject (names and versions only: the values are read when the container is
    /// created, never kept in the spec).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretMount>,
    /// How the container is locked down (default: the hardened baseline).
    #[serde(default)]
    pub hardening: Hardening,
}

impl fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, _)| (k.as_str(), "***")).collect();
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("command", &self.command)
            .field("env", &env)
            .field("labels", &self.labels)
            .field("ports", &self.ports)
            .field("network", &self.network)
            .field("network_aliases", &self.network_aliases)
            .field("volumes", &self.volumes)
            .field("cpu", &self.cpu)
            .field("memory", &self.memory)
            .field("hardening", &self.hardening)
            .field("secrets", &self.secrets)
            .finish()
    }
}

/// One secret injected into a container: which version, and as a file or a variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretMount {
    /// The secret's name in the container's org; a file one appears at `/run/secrets/NAME`.
    pub name: String,
    /// The version injected.
    pub version: u64,
    /// The variable it is injected as; `None` for a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The variable's value around the secret (its placeholder stands for the value); `None`:
    /// the value alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_template: Option<String>,
}

impl ContainerSpec {
    /// A container named `name` running `image` with its default command and nothing else.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            command: None,
            env: Vec::new(),
            labels: BTreeMap::new(),
            ports: Vec::new(),
            network: None,
            network_aliases: Vec::new(),
            volumes: Vec::new(),
            cpu: None,
            memory: None,
            secrets: Vec::new(),
            hardening: Hardening::default(),
        }
    }

    /// Replaces the image's command.
    pub fn with_command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = Some(command.into_iter().map(Into::into).collect());
        self
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds (or replaces) a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Publishes a port.
    pub fn with_port(mut self, port: PortSpec) -> Self {
        self.ports.push(port);
        self
    }

    /// Joins a user-defined network under the given DNS aliases.
    pub fn with_network<I, S>(mut self, network: impl Into<String>, aliases: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.network = Some(network.into());
        self.network_aliases = aliases.into_iter().map(Into::into).collect();
        self
    }

    /// Mounts a named volume.
    pub fn with_volume(
        mut self,
        volume: impl Into<String>,
        path: impl Into<String>,
        read_only: bool,
    ) -> Self {
        self.volumes.push(VolumeMount {
            volume: volume.into(),
            path: path.into(),
            read_only,
        });
        self
    }

    /// Limits CPU.
    pub fn with_cpu(mut self, cpu: CpuMillis) -> Self {
        self.cpu = Some(cpu);
        self
    }

    /// Limits memory.
    pub fn with_memory(mut self, memory: MemoryBytes) -> Self {
        self.memory = Some(memory);
        self
    }

    /// Checks what Docker would otherwise reject late or silently misread.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let fail = |reason: String| RuntimeError::InvalidSpec {
            target: self.name.clone(),
            reason,
        };
        if self.name.is_empty() {
            return Err(fail("the name is empty".into()));
        }
        if self.image.trim().is_empty() {
            return Err(fail("the image is empty".into()));
        }
        if matches!(&self.command, Some(c) if c.is_empty()) {
            return Err(fail(
                "the command is an empty list (use None to keep the image's)".into(),
            ));
        }
        let mut keys = BTreeSet::new();
        for (key, _) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(fail(format!("invalid environment variable name {key:?}")));
            }
            if !keys.insert(key.as_str()) {
                return Err(fail(format!("environment variable {key:?} is set twice")));
            }
        }
        let mut published = BTreeSet::new();
        for port in &self.ports {
            if port.container_port == 0 || port.host_port == Some(0) {
                return Err(fail(format!(
                    "port 0 in {port:?} (leave host_port empty to auto-assign)"
                )));
            }
            if !published.insert((port.container_port, port.protocol)) {
                return Err(fail(format!(
                    "container port {}/{} is published twice",
                    port.container_port, port.protocol
                )));
            }
        }
        let mut paths = BTreeSet::new();
        for mount in &self.volumes {
            if mount.volume.is_empty() {
                return Err(fail("a volume mount has an empty volume name".into()));
            }
            if !mount.path.starts_with('/') {
                return Err(fail(format!("mount path {:?} is not absolute", mount.path)));
            }
            if !paths.insert(mount.path.as_str()) {
                return Err(fail(format!("two volumes are mounted at {:?}", mount.path)));
            }
        }
        if self.network.is_none() && !self.network_aliases.is_empty() {
            return Err(fail("network aliases need a network".into()));
        }
        Ok(())
    }

    /// The Docker create request for this spec.
    pub(crate) fn to_create_body(&self) -> Result<ContainerCreateBody, RuntimeError> {
        self.validate()?;
        let mut exposed = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for port in &self.ports {
            let key = format!("{}/{}", port.container_port, port.protocol);
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: port.host_ip.map(|ip| ip.to_string()),
                    // An empty host port makes Docker pick a free one.
                    host_port: Some(port.host_port.map(|p| p.to_string()).unwrap_or_default()),
                }]),
            );
        }
        let mounts = self
            .volumes
            .iter()
            .map(|m| Mount {
                target: Some(m.path.clone()),
                source: Some(m.volume.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(m.read_only),
                ..Default::default()
            })
            .collect::<Vec<_>>();
        let mut host_config = HostConfig {
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            nano_cpus: self.cpu.map(CpuMillis::nano_cpus),
            memory: self.memory.map(MemoryBytes::as_i64),
            // Equal to the memory limit: no swap on top of it.
            memory_swap: self.memory.map(MemoryBytes::as_i64),
            network_mode: self.network.clone(),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::NO),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        self.hardening.apply(&mut host_config);
        let networking_config = self.network.as_ref().map(|network| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.clone(),
                EndpointSettings {
                    aliases: (!self.network_aliases.is_empty())
                        .then(|| self.network_aliases.clone()),
                    ..Default::default()
                },
            )])),
        });
        Ok(ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: self.command.clone(),
            env: Some(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(
                self.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ContainerSpec {
        ContainerSpec::new("web-1", "windlass-test/busybox:1")
    }

    #[test]
    fn maps_ports_limits_mounts_and_network() -> Result<(), RuntimeError> {
        let body = spec()
            .with_command(["httpd", "-f"])
            .with_env("A", "1")
            .with_port(PortSpec::tcp(8080))
            .with_port(PortSpec {
                protocol: Protocol::Udp,
                ..PortSpec::tcp(53).with_host_port(5353)
            })
            .with_volume("data", "/data", true)
            .with_network("net", ["web"])
            .with_cpu(CpuMillis::new(500).ok_or_else(|| invalid("cpu"))?)
            .with_memory(MemoryBytes::new(64 << 20).ok_or_else(|| invalid("memory"))?)
            .to_create_body()?;
        let host = body.host_config.ok_or_else(|| invalid("host config"))?;
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        assert_eq!(host.memory_swap, Some(64 << 20));
        assert_eq!(
            host.restart_policy.and_then(|p| p.name),
            Some(RestartPolicyNameEnum::NO)
        );
        let bindings = host.port_bindings.ok_or_else(|| invalid("bindings"))?;
        let auto = bindings
            .get("8080/tcp")
            .cloned()
            .flatten()
            .ok_or_else(|| invalid("8080"))?;
        assert_eq!(auto[0].host_port.as_deref(), Some(""));
        let fixed = bindings
            .get("53/udp")
            .cloned()
            .flatten()
            .ok_or_else(|| invalid("53"))?;
        assert_eq!(fixed[0].host_port.as_deref(), Some("5353"));
        let mounts = host.mounts.ok_or_else(|| invalid("mounts"))?;
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[0].typ, Some(MountType::VOLUME));
        assert_eq!(body.env, Some(vec!["A=1".to_owned()]));
        let endpoints = body
            .networking_config
            .and_then(|n| n.endpoints_config)
            .ok_or_else(|| invalid("net"))?;
        assert_eq!(
            endpoints.get("net").and_then(|e| e.aliases.clone()),
            Some(vec!["web".to_owned()])
        );
        Ok(())
    }

    fn invalid(what: &str) -> RuntimeError {
        RuntimeError::InvalidSpec {
            target: "test".into(),
            reason: format!("missing {what}"),
        }
    }

    #[test]
    fn refuses_bad_specs() {
        let cases = [
            spec().with_env("A", "1").with_env("A", "2"),
            spec().with_env("A=B", "1"),
            spec().with_env("", "1"),
            spec().with_port(PortSpec::tcp(0)),
            spec().with_port(PortSpec::tcp(80).with_host_port(0)),
            spec()
                .with_port(PortSpec::tcp(80))
                .with_port(PortSpec::tcp(80).with_host_port(81)),
            spec().with_volume("v", "relative", false),
            spec()
                .with_volume("v", "/a", false)
                .with_volume("w", "/a", false),
            spec().with_volume("", "/a", false),
            spec().with_command(Vec::<String>::new()),
            ContainerSpec::new("", "img"),
            ContainerSpec::new("x", " "),
            ContainerSpec {
                network_aliases: vec!["a".into()],
                ..spec()
            },
        ];
        for case in cases {
            let err = case.validate().expect_err(&format!("{case:?}"));
            assert!(matches!(err, RuntimeError::InvalidSpec { .. }), "{err}");
        }
    }

    #[test]
    fn spec_serde_round_trips() -> Result<(), serde_json::Error> {
        let s = spec()
            .with_port(PortSpec::tcp(80))
            .with_env("K", "V")
            .with_label("a", "b");
        let back: ContainerSpec = serde_json::from_str(&serde_json::to_string(&s)?)?;
        assert_eq!(back, s);
        let minimal: ContainerSpec = serde_json::from_str(r#"{"name":"n","image":"i"}"#)?;
        assert_eq!(minimal, ContainerSpec::new("n", "i"));
        assert!(
            serde_json::from_str::<ContainerSpec>(r#"{"name":"n","image":"i","bogus":1}"#).is_err()
        );
        Ok(())
    }
}
