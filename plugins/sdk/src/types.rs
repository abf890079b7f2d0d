//! Every type of the `windlass:plugin@0.2.0` contract, one set shared by all four worlds.
//!
//! The types are generated from `wit/0.2.0/types.wit` (interface `types`) and from the exported
//! interfaces of `wit/0.2.0/worlds.wit` (`template` and `adapter` define a few of their own). Their
//! documentation is the WIT's. All of them derive `Clone`, `Debug`, `PartialEq` and `Eq`.
//!
//! This module adds constructors for the common cases, such as
//! [`PluginError::invalid_parameter`] and [`ServiceSpec::new`].

pub use crate::bindings::cloud_adapter::exports::windlass::plugin::adapter::{
    AdapterError, AdapterInfo, Capabilities, DeployRequest, DeploymentPhase, DeploymentRef,
    DeploymentStatus, FailureAction, Group, GroupPage, JoinInfo, LogLine, NodeAvailability,
    NodeInfo, NodeRole, TaskInfo, UpdateOrder, UpdatePolicy,
};
pub use crate::bindings::stack_template::exports::windlass::plugin::template::{
    Parameter, ParameterType, TemplateInfo,
};
pub use crate::bindings::stack_template::windlass::plugin::host::LogLevel;
pub use crate::bindings::stack_template::windlass::plugin::types::*;

/// The `code`s of [`PluginError`] that Windlass's own plugins use.
///
/// Codes are open-ended strings; these are the ones the engine and its tests know.
pub mod codes {
    /// A parameter's value is invalid (bad integer, out of range, bad identifier...).
    pub const INVALID_PARAMETER: &str = "invalid-parameter";
    /// A required parameter was not given.
    pub const MISSING_PARAMETER: &str = "missing-parameter";
    /// A parameter the plugin does not know was given.
    pub const UNKNOWN_PARAMETER: &str = "unknown-parameter";
    /// The plugin's configuration (set by the operator) is invalid.
    pub const INVALID_CONFIG: &str = "invalid-config";
    /// A build strategy cannot build the tree.
    pub const NO_MATCH: &str = "no-match";
    /// The input the plugin was given is invalid (e.g. a malformed file in a source tree).
    pub const INVALID_INPUT: &str = "invalid-input";
    /// Something failed inside the plugin.
    pub const INTERNAL: &str = "internal";
}

impl PluginError {
    /// An error with `code` and `message`, about no field in particular.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// The same error, naming `field` as the one at fault.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// `invalid-parameter`: parameter `name` has an invalid value. `message` should name it.
    pub fn invalid_parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMETER, message).with_field(name)
    }

    /// `missing-parameter`: required parameter `name` was not given.
    pub fn missing_parameter(name: impl Into<String>) -> Self {
        let name = name.into();
        Self::new(
            codes::MISSING_PARAMETER,
            format!("parameter `{name}` is required"),
        )
        .with_field(name)
    }

    /// `unknown-parameter`: parameter `name` is not one the plugin accepts.
    pub fn unknown_parameter(name: impl Into<String>) -> Self {
        let name = name.into();
        Self::new(
            codes::UNKNOWN_PARAMETER,
            format!("unknown parameter `{name}`"),
        )
        .with_field(name)
    }

    /// `invalid-config`: configuration key `key` has an invalid value. `message` should name it.
    pub fn invalid_config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_CONFIG, message).with_field(key)
    }

    /// `no-match`: a build strategy cannot build the tree; `message` says what it looked for.
    pub fn no_match(message: impl Into<String>) -> Self {
        Self::new(codes::NO_MATCH, message)
    }

    /// `invalid-input`: the input is malformed; `message` says where and how.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_INPUT, message)
    }

    /// `internal`: something failed inside the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL, message)
    }
}

impl Money {
    /// `minor` units of `currency` (an ISO 4217 code such as `EUR`).
    pub fn new(minor: i64, currency: impl Into<String>) -> Self {
        Self {
            minor,
            currency: currency.into(),
        }
    }
}

impl Default for Resources {
    /// No limits: every dimension unset.
    fn default() -> Self {
        Self {
            cpu_millis: None,
            memory_bytes: None,
            disk_bytes: None,
        }
    }
}

impl ServiceSpec {
    /// A service running `image` under `name`: one replica, no command override, no env, ports,
    /// volumes, limits, dependencies, checks or labels, restarted always.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            command: None,
            env: Vec::new(),
            provides: Vec::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            resources: Resources::default(),
            replicas: 1,
            depends_on: Vec::new(),
            health_checks: Vec::new(),
            restart: RestartPolicy::Always,
            labels: Vec::new(),
            build: None,
        }
    }
}

impl Port {
    /// A TCP port `container_port` named `name`, not published.
    pub fn tcp(name: impl Into<String>, container_port: u16) -> Self {
        Self {
            name: name.into(),
            container_port,
            publish: false,
            host_port: None,
            protocol: Protocol::Tcp,
        }
    }

    /// The same port, published on the Docker host at `host_port` (none: Docker assigns one).
    #[must_use]
    pub fn published(mut self, host_port: Option<u16>) -> Self {
        self.publish = true;
        self.host_port = host_port;
        self
    }
}

impl HealthCheck {
    /// A check of `kind` probing with `probe`, every 5 s with a 2 s timeout, failing after 3
    /// consecutive failures, passing after 1 success, with a 10 s start period.
    pub fn new(kind: CheckKind, probe: Probe) -> Self {
        Self {
            kind,
            probe,
            interval_ms: 5_000,
            timeout_ms: 2_000,
            failure_threshold: 3,
            success_threshold: 1,
            start_period_ms: 10_000,
        }
    }

    /// An HTTP probe: GET `path` on `port`, statuses 200 to 399 pass.
    pub fn http_probe(port: u16, path: impl Into<String>) -> Probe {
        Probe::Http(HttpProbe {
            port,
            path: path.into(),
            status_min: 200,
            status_max: 399,
            body_contains: None,
        })
    }
}

impl Dependency {
    /// Waits for `service` to be `condition`.
    pub fn new(service: impl Into<String>, condition: DependencyCondition) -> Self {
        Self {
            service: service.into(),
            condition,
        }
    }
}

impl Parameter {
    /// A parameter `name` of type `ty`, not secret. `default: None` makes it required.
    pub fn new(
        name: impl Into<String>,
        ty: ParameterType,
        default: Option<&str>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            type_: ty,
            default: default.map(str::to_owned),
            secret: false,
        }
    }

    /// The same parameter, marked secret: the engine must not log or show its value.
    #[must_use]
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

impl DeploymentRef {
    /// A reference to deployment `id`, deployed under `name`.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
        }
    }
}

impl UsageRecord {
    /// What `container` of `org`/`stack`/`service` was allocated from `start_ms` to `end_ms`, with
    /// nothing measured (`used` zero).
    pub fn new(
        org: impl Into<String>,
        stack: impl Into<String>,
        service: impl Into<String>,
        container: impl Into<String>,
        resources: Resources,
        start_ms: u64,
        end_ms: u64,
    ) -> Self {
        Self {
            org: org.into(),
            stack: stack.into(),
            service: service.into(),
            container: container.into(),
            resources,
            start_ms,
            end_ms,
            used: MeasuredUsage::ZERO,
        }
    }
}

impl DeploymentStatus {
    /// The status of `deployment`: its phase and replica counts, no update state, no tasks.
    pub fn new(
        deployment: DeploymentRef,
        phase: DeploymentPhase,
        desired_replicas: u32,
        running_replicas: u32,
        message: Option<String>,
    ) -> Self {
        Self {
            deployment,
            phase,
            desired_replicas,
            running_replicas,
            message,
            update_state: None,
            tasks: Vec::new(),
        }
    }
}

impl ContainerInfo {
    /// A container as 0.1.0 described one; every field 0.2.0 added is none.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        image: impl Into<String>,
        state: impl Into<String>,
        labels: Vec<(String, String)>,
        created_ms: u64,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            state: state.into(),
            labels,
            created_ms,
            org: None,
            scope: None,
            group: None,
            location: None,
            ready: None,
            message: None,
            replicas: None,
            replicas_ready: None,
            cpu_millis: None,
            memory_bytes: None,
            restarts: None,
            version: None,
            current_version: None,
            job_status: None,
        }
    }
}

impl MeasuredUsage {
    /// Nothing measured: every figure zero.
    pub const ZERO: Self = Self {
        cpu_core_micros: 0,
        memory_byte_seconds: 0,
        storage_byte_seconds: 0,
        egress_bytes: 0,
        build_seconds: 0,
    };
}

impl Capabilities {
    /// None of the optional parts: deploy, status, scale, remove and list-containers only.
    pub const NONE: Self = Self {
        read_only: false,
        rolling_update: false,
        rollback: false,
        networks: false,
        volumes: false,
        logs: false,
        nodes: false,
        inventory: false,
    };
}

impl AdapterError {
    /// `unsupported`: the adapter does not do `function` on its platform.
    pub fn unsupported(function: &str) -> Self {
        Self::Unsupported(format!("this adapter does not support `{function}`"))
    }
}

impl BuildOptions {
    /// `subdirectory` as a clean relative path inside the source tree (`None` for the root).
    /// An absolute path or one that climbs out with `..` is an `invalid-input` error on the
    /// `subdirectory` field: a build strategy must never read outside the tree it was given.
    pub fn checked_subdirectory(&self) -> Result<Option<String>, PluginError> {
        use std::path::{Component, Path};
        let Some(sub) = self.subdirectory.as_deref() else {
            return Ok(None);
        };
        let mut parts = Vec::new();
        for component in Path::new(sub).components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::CurDir => {}
                _ => {
                    return Err(PluginError::invalid_input(format!(
                        "subdirectory `{sub}` must be a relative path inside the source tree (no `..`, not absolute)"
                    ))
                    .with_field("subdirectory"));
                }
            }
        }
        Ok((!parts.is_empty()).then(|| parts.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_error_constructors_name_the_field() {
        let e = PluginError::invalid_parameter("web_port", "`web_port` must be 1..=65535");
        assert_eq!(e.code, "invalid-parameter");
        assert_eq!(e.field.as_deref(), Some("web_port"));
        let e = PluginError::missing_parameter("db_password");
        assert_eq!(e.code, "missing-parameter");
        assert!(e.message.contains("db_password"));
        let e = PluginError::unknown_parameter("colour");
        assert_eq!(e.code, "unknown-parameter");
        assert_eq!(e.field.as_deref(), Some("colour"));
        assert_eq!(PluginError::no_match("x").field, None);
    }

    #[test]
    fn service_defaults() {
        let s = ServiceSpec::new("web", "nginx");
        assert_eq!(s.replicas, 1);
        assert_eq!(s.resources, Resources::default());
        assert_eq!(s.restart, RestartPolicy::Always);
    }
}
