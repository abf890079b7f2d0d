//! A rendered service (the plugin contract's `service-spec`) → the engine's [`ServiceSpec`].
//!
//! What maps: name, image, command, env, published ports, volume mounts, CPU and memory limits,
//! replicas, restart policy and health checks. What does not yet (reported in
//! [`ConvertedService::left_out`], never silently): dependency ordering (`depends_on`),
//! environment offered to dependents (`provides`), `${VAR}` interpolation, extra labels, disk
//! limits, and ports the template did not publish (the engine publishes every port it is
//! given; services of a stack reach each other on the stack network without it).

use windlass_host_api::types as plugin;

use crate::ServiceSpec;
use crate::health::{CheckKind, HealthCheck, Probe};
use crate::lifecycle::RestartPolicy;
use crate::runtime::{PortSpec, Protocol};

/// A rendered service converted for [`Engine::apply`](crate::Engine::apply).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConvertedService {
    /// What the engine runs.
    pub spec: ServiceSpec,
    /// What the template asked for that the engine does not do yet, one sentence each.
    pub left_out: Vec<String>,
}

/// Converts every service of a rendered stack, in the template's order. The stack's own
/// volume list is not needed: the engine creates the volumes its services mount (their labels
/// are left out).
pub fn convert_stack(stack: &plugin::StackSpec) -> Vec<ConvertedService> {
    stack.services.iter().map(convert_service).collect()
}

/// Converts one rendered service. It cannot fail: whatever the engine refuses,
/// [`Engine::apply`](crate::Engine::apply) reports with the field at fault.
pub fn convert_service(service: &plugin::ServiceSpec) -> ConvertedService {
    let mut left_out = Vec::new();
    let mut spec = ServiceSpec::new(&service.name, &service.image).with_replicas(service.replicas);
    spec.command.clone_from(&service.command);
    for (key, value) in &service.env {
        if spec.env.insert(key.clone(), value.clone()).is_some() {
            left_out.push(format!("env {key} is set twice: the last value is used"));
        }
        if value.contains('$') {
            left_out.push(format!(
                "env {key}: `$` interpolation is not done yet; the value is passed as written"
            ));
        }
    }
    for port in &service.ports {
        if port.publish {
            let mut published = PortSpec::tcp(port.container_port);
            published.protocol = match port.protocol {
                plugin::Protocol::Tcp => Protocol::Tcp,
                plugin::Protocol::Udp => Protocol::Udp,
            };
            published.host_port = port.host_port;
            spec.ports.push(published);
        } else {
            left_out.push(format!(
                "port {} ({}) is not published: reachable on the stack network only",
                port.name, port.container_port
            ));
        }
    }
    for mount in &service.volumes {
        spec = spec.with_volume(&mount.volume, &mount.target, mount.read_only);
    }
    if let Some(millis) = service.resources.cpu_millis {
        spec.cpu = Some(format!("{millis}m"));
    }
    if let Some(bytes) = service.resources.memory_bytes {
        spec.memory = Some(bytes.to_string());
    }
    if service.resources.disk_bytes.is_some() {
        left_out.push("resources.disk_bytes: disk limits are not enforced yet".to_owned());
    }
    spec.restart = match service.restart {
        plugin::RestartPolicy::Never => RestartPolicy::Never,
        plugin::RestartPolicy::OnFailure(max_restarts) => RestartPolicy::OnFailure { max_restarts },
        plugin::RestartPolicy::Always => RestartPolicy::Always,
    };
    spec.health_checks = service.health_checks.iter().map(health_check).collect();
    if !service.depends_on.is_empty() {
        let deps: Vec<&str> = service
            .depends_on
            .iter()
            .map(|d| d.service.as_str())
            .collect();
        left_out.push(format!(
            "depends_on [{}]: no dependency ordering yet, it starts at once",
            deps.join(", ")
        ));
    }
    if !service.provides.is_empty() {
        let keys: Vec<&str> = service.provides.iter().map(|(k, _)| k.as_str()).collect();
        left_out.push(format!(
            "provides [{}]: not injected into dependents yet",
            keys.join(", ")
        ));
    }
    if !service.labels.is_empty() {
        left_out.push("labels: extra container labels are not supported yet".to_owned());
    }
    ConvertedService { spec, left_out }
}

fn health_check(check: &plugin::HealthCheck) -> HealthCheck {
    let kind = match check.kind {
        plugin::CheckKind::Startup => CheckKind::Startup,
        plugin::CheckKind::Readiness => CheckKind::Readiness,
        plugin::CheckKind::Liveness => CheckKind::Liveness,
    };
    let probe = match &check.probe {
        plugin::Probe::Http(http) => Probe::Http {
            port: http.port,
            path: http.path.clone(),
            status: http.status_min..=http.status_max,
            body_contains: http.body_contains.clone(),
        },
        plugin::Probe::Tcp(port) => Probe::Tcp { port: *port },
        plugin::Probe::Exec(command) => Probe::Exec {
            command: command.clone(),
        },
    };
    let mut converted = HealthCheck::new(kind, probe);
    converted.interval_ms = u64::from(check.interval_ms);
    converted.timeout_ms = u64::from(check.timeout_ms);
    converted.failure_threshold = check.failure_threshold;
    converted.success_threshold = check.success_threshold;
    converted.start_period_ms = u64::from(check.start_period_ms);
    converted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> plugin::ServiceSpec {
        plugin::ServiceSpec {
            name: "db".into(),
            image: "local/postgres:15".into(),
            command: Some(vec!["postgres".into()]),
            env: vec![("POSTGRES_PASSWORD".into(), "pa$$word".into())],
            provides: vec![("DATABASE_URL".into(), "postgres://db/app".into())],
            ports: vec![
                plugin::Port {
                    name: "postgres".into(),
                    container_port: 5432,
                    publish: false,
                    host_port: None,
                    protocol: plugin::Protocol::Tcp,
                },
                plugin::Port {
                    name: "metrics".into(),
                    container_port: 9187,
                    publish: true,
                    host_port: Some(19187),
                    protocol: plugin::Protocol::Udp,
                },
            ],
            volumes: vec![plugin::VolumeMount {
                volume: "pgdata".into(),
                target: "/var/lib/postgresql/data".into(),
                read_only: false,
            }],
            resources: plugin::Resources {
                cpu_millis: Some(500),
                memory_bytes: Some(256 << 20),
                disk_bytes: Some(1 << 30),
            },
            replicas: 1,
            depends_on: vec![plugin::Dependency {
                service: "init".into(),
                condition: plugin::DependencyCondition::Completed,
            }],
            health_checks: vec![plugin::HealthCheck {
                kind: plugin::CheckKind::Readiness,
                probe: plugin::Probe::Http(plugin::HttpProbe {
                    port: 8080,
                    path: "/healthz".into(),
                    status_min: 200,
                    status_max: 299,
                    body_contains: Some("ok".into()),
                }),
                interval_ms: 2_000,
                timeout_ms: 500,
                failure_threshold: 4,
                success_threshold: 2,
                start_period_ms: 30_000,
            }],
            restart: plugin::RestartPolicy::OnFailure(3),
            labels: vec![("team".into(), "data".into())],
        }
    }

    #[test]
    fn maps_what_the_engine_runs() {
        let converted = convert_service(&rendered());
        let spec = &converted.spec;
        assert_eq!(spec.name, "db");
        assert_eq!(spec.image, "local/postgres:15");
        assert_eq!(spec.command, Some(vec!["postgres".to_owned()]));
        assert_eq!(spec.env["POSTGRES_PASSWORD"], "pa$$word");
        assert_eq!(spec.ports.len(), 1);
        assert_eq!(spec.ports[0].container_port, 9187);
        assert_eq!(spec.ports[0].host_port, Some(19187));
        assert_eq!(spec.ports[0].protocol, Protocol::Udp);
        assert_eq!(spec.volumes[0].path, "/var/lib/postgresql/data");
        assert_eq!(spec.cpu.as_deref(), Some("500m"));
        assert_eq!(spec.memory.as_deref(), Some("268435456"));
        assert_eq!(spec.restart, RestartPolicy::OnFailure { max_restarts: 3 });
        let check = &spec.health_checks[0];
        assert_eq!(check.kind, CheckKind::Readiness);
        assert_eq!(
            check.probe,
            Probe::Http {
                port: 8080,
                path: "/healthz".into(),
                status: 200..=299,
                body_contains: Some("ok".into()),
            }
        );
        assert_eq!(
            (check.interval_ms, check.timeout_ms, check.start_period_ms),
            (2_000, 500, 30_000)
        );
        assert_eq!((check.failure_threshold, check.success_threshold), (4, 2));
        assert_eq!(spec.validate(), Ok(()));
    }

    #[test]
    fn says_what_it_leaves_out() {
        let left_out = convert_service(&rendered()).left_out.join("\n");
        for expected in [
            "env POSTGRES_PASSWORD",
            "port postgres (5432)",
            "resources.disk_bytes",
            "depends_on [init]",
            "provides [DATABASE_URL]",
            "labels",
        ] {
            assert!(
                left_out.contains(expected),
                "{expected} missing in:\n{left_out}"
            );
        }
        let mut plain = rendered();
        plain.env.clear();
        plain.ports.clear();
        plain.resources.disk_bytes = None;
        plain.depends_on.clear();
        plain.provides.clear();
        plain.labels.clear();
        assert_eq!(convert_service(&plain).left_out, Vec::<String>::new());
    }
}
