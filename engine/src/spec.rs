//! What a host application declares: a service with its image, configuration and replicas.
//!
//! A [`ServiceSpec`] is validated once, when it is applied ([`ServiceSpec::validate`]): names
//! are DNS-safe, resource strings parse, ports and volumes make sense. The engine then derives
//! the Docker [`ContainerSpec`](crate::runtime::ContainerSpec) of each replica from it.
//!
//! A service also carries its relations within a stack — what it waits for
//! ([`ServiceSpec::depends_on`]) and what it offers its dependents ([`ServiceSpec::provides`]).
//! They live here rather than in a wrapper type of [`crate::stacks`] because:
//! - the stored desired state is a `ServiceSpec`, and a deployer gating a service on its
//!   dependencies must find them there after a restart of the engine, not only in the request
//!   that declared the stack;
//! - a wrapper would need `#[serde(flatten)]`, which serde does not support together with
//!   `deny_unknown_fields`: the TOML and JSON shape of a stack's service stays flat and strict
//!   this way.
//!
//! Both fields default to empty and are left out of the JSON when empty, so the stored JSON (and
//! so the revision hash) of every service declared before they existed is unchanged.
//! [`ServiceSpec::validate`] checks the service alone (e.g. `provides` keys);
//! whether a dependency exists, is not the service itself and forms no cycle is a property of
//! the stack, checked by [`StackSpec::validate`](crate::stacks::StackSpec::validate).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lifecycle::RestartPolicy;
use crate::resources::{CpuMillis, MemoryBytes};
use crate::runtime::{PortSpec, VolumeMount};
use crate::stacks::{Condition, Dependency};

/// One service as declared: an image run as `replicas` containers.
///
/// Its `Debug` shows the names in `env` and `provides`, never their values: they carry what
/// templates interpolate, secret parameters included (a `DATABASE_URL` with its password).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service's name: lowercase letters, digits and `-`, unique in its stack. Other
    /// services of the stack reach it by this name.
    pub name: String,
    /// A local image reference (nothing is pulled from a registry).
    pub image: String,
    /// The command; `None` keeps the image's.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Published and exposed ports.
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// Named volumes of the stack mounted into every replica.
    #[serde(default)]
    pub volumes: Vec<VolumeMount>,
    /// CPU limit per replica: `"0.5"`, `"500m"`, `"2"`.
    #[serde(default)]
    pub cpu: Option<String>,
    /// Memory limit per replica: `"512m"`, `"1g"`, `"512Mi"`, `"1Gi"` or bytes.
    #[serde(default)]
    pub memory: Option<String>,
    /// What happens when a replica exits.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// How many replicas run.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Health checks the engine runs against every replica.
    #[serde(default)]
    pub health_checks: Vec<crate::health::HealthCheck>,
    /// Services of the same stack that must be started, healthy or completed before this one
    /// starts. Checked against the stack by
    /// [`StackSpec::validate`](crate::stacks::StackSpec::validate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// Environment variables offered to every service that depends on this one (e.g. a
    /// `DATABASE_URL`). Values may use `${VAR}` interpolation like `env`; see
    /// [`crate::stacks`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub provides: BTreeMap<String, String>,
    /// Labels set on every replica's container, beside the engine's own. Keys under
    /// `dev.windlass.` are the engine's and refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// How a new revision replaces the running replicas (default: start-first, one at a time).
    #[serde(
        default,
        skip_serializing_if = "crate::lifecycle::UpdatePolicy::is_default"
    )]
    pub update: crate::lifecycle::UpdatePolicy,
    /// Secrets injected into every replica, as files under `/run/secrets` (default) or as
    /// environment variables; see [`crate::secrets`]. Left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<crate::secrets::SecretRef>,
    /// How its containers are locked down beyond the operator's defaults, within the
    /// operator's limits ([`crate::policy`]).
    #[serde(
        default,
        skip_serializing_if = "crate::policy::HardeningSpec::is_default"
    )]
    pub hardening: crate::policy::HardeningSpec,
    /// Build the image from source instead of running `image` as is ([`crate::builds`]).
    /// `image` may then be empty: the engine sets it to each successful build's tag. Left out
    /// of the JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<crate::builds::BuildSource>,
    /// Where it runs: `local` (the engine's Docker, the default) or the name of a configured
    /// adapter target ([`crate::placement`]). Left out of the JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

fn one() -> u32 {
    1
}

/// Names with their values masked, for `Debug`.
pub(crate) struct MaskedValues<'a, I>(pub &'a I);

impl<'a, I, K> std::fmt::Debug for MaskedValues<'a, I>
where
    &'a I: IntoIterator<Item = (K, &'a String)>,
    K: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.into_iter().map(|(k, _)| (k, "***")))
            .finish()
    }
}

impl std::fmt::Debug for ServiceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("command", &self.command)
            .field("env", &MaskedValues(&self.env))
            .field("ports", &self.ports)
            .field("volumes", &self.volumes)
            .field("cpu", &self.cpu)
            .field("memory", &self.memory)
            .field("restart", &self.restart)
            .field("replicas", &self.replicas)
            .field("health_checks", &self.health_checks)
            .field("depends_on", &self.depends_on)
            .field("provides", &MaskedValues(&self.provides))
            .field("labels", &self.labels)
            .field("update", &self.update)
            .field("hardening", &self.hardening)
            .field("build", &self.build)
            .field("target", &self.target)
            .finish()
    }
}

/// Checks a service label's key: non-empty, printable, and outside the engine's reserved
/// `dev.windlass.` prefix (the labels the engine finds its containers by).
pub fn validate_label_key(field: &str, key: &str) -> Result<(), SpecError> {
    if key.trim().is_empty() || key.chars().any(char::is_control) {
        return Err(SpecError::new(
            field,
            "a label key must be non-empty, without control characters",
        ));
    }
    if key.starts_with(crate::runtime::labels::LABEL_PREFIX) {
        return Err(SpecError::new(
            field,
            format!(
                "labels under `{}` are reserved for the engine; use a prefix of your own",
                crate::runtime::labels::LABEL_PREFIX
            ),
        ));
    }
    Ok(())
}

/// Why a declaration was refused. Names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct SpecError {
    /// The field at fault, e.g. `memory` or `ports[1].host_port`.
    pub field: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

impl SpecError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The longest name of an org, stack or service (container names combine them).
pub const MAX_NAME_LEN: usize = 40;

/// Checks an org, stack or service name: 1 to 40 of `[a-z0-9-]`, starting with a letter,
/// not ending with `-`.
pub fn validate_name(field: &str, name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            field,
            format!(
                "`{name}` is not a valid name: use 1 to {MAX_NAME_LEN} lowercase letters, digits \
                 and `-`, starting with a letter and not ending with `-`"
            ),
        ))
    }
}

impl ServiceSpec {
    /// A spec with one replica, the default restart policy and nothing else set.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            command: None,
            env: BTreeMap::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            cpu: None,
            memory: None,
            restart: RestartPolicy::default(),
            replicas: 1,
            health_checks: Vec::new(),
            depends_on: Vec::new(),
            provides: BTreeMap::new(),
            labels: BTreeMap::new(),
            update: crate::lifecycle::UpdatePolicy::default(),
            secrets: Vec::new(),
            hardening: crate::policy::HardeningSpec::default(),
            build: None,
            target: None,
        }
    }

    /// Runs the service on `target` (see [`ServiceSpec::target`]).
    pub fn on_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// The adapter target it runs on; `None` for the engine's own Docker (`local`).
    pub fn adapter_target(&self) -> Option<&str> {
        self.target
            .as_deref()
            .filter(|t| *t != crate::inventory::LOCAL_TARGET)
    }

    /// Builds the image from `source` (see [`ServiceSpec::build`]).
    pub fn with_build(mut self, source: crate::builds::BuildSource) -> Self {
        self.build = Some(source);
        self
    }

    /// Injects a secret (see [`crate::secrets::SecretRef`]).
    pub fn with_secret(mut self, secret: crate::secrets::SecretRef) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Adds (or replaces) a label of every replica's container.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Waits for another service of the stack to reach `condition` before starting.
    pub fn with_dependency(mut self, service: impl Into<String>, condition: Condition) -> Self {
        self.depends_on.push(Dependency::new(service, condition));
        self
    }

    /// Whether readiness or startup checks decide when a replica is ready (without them a
    /// running replica counts as ready).
    pub fn readiness_checked(&self) -> bool {
        self.health_checks.iter().any(|c| {
            matches!(
                c.kind,
                crate::health::CheckKind::Readiness | crate::health::CheckKind::Startup
            )
        })
    }

    /// Sets how a new revision replaces the running replicas.
    pub fn with_update(mut self, update: crate::lifecycle::UpdatePolicy) -> Self {
        self.update = update;
        self
    }

    /// Offers an environment variable to every service that depends on this one.
    pub fn with_provides(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.provides.insert(key.into(), value.into());
        self
    }

    /// Sets the command.
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
        self.env.insert(key.into(), value.into());
        self
    }

    /// Adds a port.
    pub fn with_port(mut self, port: PortSpec) -> Self {
        self.ports.push(port);
        self
    }

    /// Mounts a named volume of the stack.
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

    /// Sets the replicas.
    pub fn with_replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// Sets the restart policy.
    pub fn with_restart(mut self, restart: RestartPolicy) -> Self {
        self.restart = restart;
        self
    }

    /// Adds a health check.
    pub fn with_health_check(mut self, check: crate::health::HealthCheck) -> Self {
        self.health_checks.push(check);
        self
    }

    /// Sets the CPU limit (`"0.5"`, `"500m"`…).
    pub fn with_cpu(mut self, cpu: impl Into<String>) -> Self {
        self.cpu = Some(cpu.into());
        self
    }

    /// Sets the memory limit (`"512Mi"`, `"1g"`…).
    pub fn with_memory(mut self, memory: impl Into<String>) -> Self {
        self.memory = Some(memory.into());
        self
    }

    /// Checks everything that can be checked without Docker. The error names the field.
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_name("name", &self.name)?;
        if let Some(build) = &self.build {
            build.validate()?;
        }
        let image_optional = self.build.is_some() && self.image.is_empty();
        if !image_optional
            && (self.image.trim().is_empty() || self.image.chars().any(char::is_whitespace))
        {
            return Err(SpecError::new(
                "image",
                "an image reference is required, without spaces",
            ));
        }
        if self.replicas > 1_000 {
            return Err(SpecError::new("replicas", "at most 1000 replicas"));
        }
        if let Some(cpu) = &self.cpu {
            cpu.parse::<CpuMillis>()
                .map_err(|e| SpecError::new("cpu", e.to_string()))?;
        }
        if let Some(memory) = &self.memory {
            memory
                .parse::<MemoryBytes>()
                .map_err(|e| SpecError::new("memory", e.to_string()))?;
        }
        for (map, keys) in [("env", &self.env), ("provides", &self.provides)] {
            for key in keys.keys() {
                if key.is_empty() || key.contains('=') || key.contains('\0') {
                    return Err(SpecError::new(
                        format!("{map}.{key}"),
                        "a variable name must be non-empty, without `=`",
                    ));
                }
            }
        }
        for key in self.labels.keys() {
            validate_label_key(&format!("labels.{key}"), key)?;
        }
        for (i, port) in self.ports.iter().enumerate() {
            if port.container_port == 0 {
                return Err(SpecError::new(
                    format!("ports[{i}].container_port"),
                    "must be 1 to 65535",
                ));
            }
            if port.host_port.is_some() && self.replicas > 1 {
                return Err(SpecError::new(
                    format!("ports[{i}].host_port"),
                    "a fixed host port cannot be shared by several replicas; leave it unset to get one port per replica",
                ));
            }
        }
        for (i, check) in self.health_checks.iter().enumerate() {
            let field = |name: &str| format!("health_checks[{i}].{name}");
            if check.interval_ms < 50 {
                return Err(SpecError::new(field("interval_ms"), "at least 50 ms"));
            }
            if check.timeout_ms == 0 {
                return Err(SpecError::new(field("timeout_ms"), "must be more than 0"));
            }
            match &check.probe {
                crate::health::Probe::Http { path, .. } if !path.starts_with('/') => {
                    return Err(SpecError::new(field("probe.path"), "must start with `/`"));
                }
                crate::health::Probe::Exec { command } if command.is_empty() => {
                    return Err(SpecError::new(field("probe.command"), "needs a command"));
                }
                _ => {}
            }
        }
        crate::secrets::validate_refs(&self.secrets, &self.env)?;
        for (i, mount) in self.volumes.iter().enumerate() {
            validate_name(&format!("volumes[{i}].volume"), &mount.volume)?;
            if !mount.path.starts_with('/') {
                return Err(SpecError::new(
                    format!("volumes[{i}].path"),
                    "must be an absolute path",
                ));
            }
        }
        self.hardening.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_spec_is_valid() {
        let spec = ServiceSpec::new("web", "local/web:1")
            .with_cpu("500m")
            .with_memory("256Mi");
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (ServiceSpec::new("Web", "img"), "name"),
            (ServiceSpec::new("web", " "), "image"),
            (ServiceSpec::new("web", "img").with_memory("lots"), "memory"),
            (ServiceSpec::new("web", "img").with_cpu("-1"), "cpu"),
            (
                ServiceSpec::new("web", "img").with_volume("data", "relative", false),
                "volumes[0].path",
            ),
            (
                ServiceSpec::new("web", "img")
                    .with_port(PortSpec::tcp(80).with_host_port(8080))
                    .with_replicas(2),
                "ports[0].host_port",
            ),
        ];
        for (spec, field) in cases {
            assert_eq!(spec.validate().unwrap_err().field, field, "{spec:?}");
        }
    }

    #[test]
    fn provides_keys_are_checked_like_env_keys() {
        let spec = ServiceSpec::new("db", "img").with_provides("A=B", "x");
        assert_eq!(spec.validate().unwrap_err().field, "provides.A=B");
    }

    #[test]
    fn empty_relations_leave_the_stored_json_unchanged() {
        // The revision hash is taken over this JSON: services declared before `depends_on` and
        // `provides` existed must hash the same.
        let json = serde_json::to_value(ServiceSpec::new("web", "img")).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            !keys.contains(&"depends_on") && !keys.contains(&"provides"),
            "{keys:?}"
        );
        let old = r#"{"name":"web","image":"img","replicas":1}"#;
        let spec: ServiceSpec = serde_json::from_str(old).unwrap();
        assert!(spec.depends_on.is_empty() && spec.provides.is_empty());

        let related = ServiceSpec::new("api", "img")
            .with_dependency("db", Condition::Healthy)
            .with_provides("API_URL", "http://api:8080");
        let back: ServiceSpec =
            serde_json::from_value(serde_json::to_value(&related).unwrap()).unwrap();
        assert_eq!(back, related);
    }

    #[test]
    fn env_and_provides_values_never_show_in_debug_output() {
        let spec = ServiceSpec::new("api", "img:1")
            .with_env("DB_PASSWORD", "hunter2-env")
            .with_provides("DATABASE_URL", "postgres://u:hunter2-provides@db/x");
        let mut container = crate::runtime::ContainerSpec::new("c", "img:1");
        container.env = vec![("DB_PASSWORD".into(), "hunter2-container".into())];
        let debug = format!("{spec:?} {spec:#?} {container:?} {container:#?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("\"DB_PASSWORD\": \"***\"") && debug.contains("DATABASE_URL"),
            "{debug}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json = r#"{"name":"web","image":"img","replicas":1,"colour":"blue"}"#;
        let error = serde_json::from_str::<ServiceSpec>(json).unwrap_err();
        assert!(error.to_string().contains("colour"), "{error}");
    }
}
