//! Conversion of the stack a template plugin renders (the WIT `stack-spec`, as
//! [`windlass_host_api::types::StackSpec`]) into the engine's [`StackSpec`].
//!
//! The mapping is mechanical, with a few decisions:
//! - resources become the engine's resource strings: `cpu-millis: 500` → `"500m"`,
//!   `memory-bytes` → the canonical binary form (`"512Mi"`); zero or out of range is an error;
//! - a port with `publish: false` is left out: on the stack's network every port of a container
//!   is reachable by its service name without Docker's help, and the engine's ports are the
//!   published ones. `publish: false` with a `host-port` is a contradiction and an error. Port
//!   names have no counterpart and are dropped;
//! - what the engine cannot represent yet is an error naming the field, never silently dropped:
//!   `resources.disk-bytes`, volume `labels`, a key given twice in `env`, `provides` or
//!   `labels`, a service label under the engine's reserved `dev.windlass.` prefix, an HTTP probe
//!   whose status range is empty. Service `labels` are applied to every replica's container.
//!
//! The result is not validated here: call [`StackSpec::validate`] (or
//! [`StackSpec::resolve`]) next, as for a stack from TOML.

use std::collections::BTreeMap;

use windlass_host_api::types as wit;

use super::{Condition, Dependency, StackError, StackErrors, StackSpec};
use crate::ServiceSpec;
use crate::health::{CheckKind, HealthCheck, Probe};
use crate::lifecycle::RestartPolicy;
use crate::resources::{CpuMillis, MemoryBytes};
use crate::runtime::{PortSpec, Protocol, VolumeMount};

impl StackSpec {
    /// The engine's form of a stack rendered by a template plugin, or every field that cannot
    /// be mapped (paths in the rendered stack, e.g. `services[0].resources.disk_bytes`).
    pub fn from_rendered(rendered: &wit::StackSpec) -> Result<StackSpec, StackErrors> {
        let mut errors = Vec::new();
        let services = rendered
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| service(&format!("services[{i}]"), s, &mut errors))
            .collect();
        let mut volumes = Vec::with_capacity(rendered.volumes.len());
        for (v, volume) in rendered.volumes.iter().enumerate() {
            if !volume.labels.is_empty() {
                errors.push(unmappable(
                    format!("volumes[{v}].labels"),
                    "the engine does not label volumes yet; render none",
                ));
            }
            volumes.push(volume.name.clone());
        }
        StackErrors::check(errors)?;
        Ok(StackSpec {
            services,
            volumes,
            target: None,
        })
    }
}

fn unmappable(field: String, message: &str) -> StackError {
    StackError::Unmappable {
        field,
        message: message.to_owned(),
    }
}

fn service(at: &str, s: &wit::ServiceSpec, errors: &mut Vec<StackError>) -> ServiceSpec {
    let mut spec = ServiceSpec::new(&s.name, &s.image);
    spec.command = s.command.clone();
    spec.env = map(&format!("{at}.env"), &s.env, errors);
    spec.provides = map(&format!("{at}.provides"), &s.provides, errors);
    spec.replicas = s.replicas;
    for (p, port) in s.ports.iter().enumerate() {
        if port.publish {
            spec.ports.push(PortSpec {
                container_port: port.container_port,
                protocol: match port.protocol {
                    wit::Protocol::Tcp => Protocol::Tcp,
                    wit::Protocol::Udp => Protocol::Udp,
                },
                host_port: port.host_port,
                host_ip: None,
            });
        } else if port.host_port.is_some() {
            errors.push(unmappable(
                format!("{at}.ports[{p}].host_port"),
                "a host port on a port that is not published; set `publish` or drop the host port",
            ));
        }
    }
    spec.volumes = s
        .volumes
        .iter()
        .map(|m| VolumeMount {
            volume: m.volume.clone(),
            path: m.target.clone(),
            read_only: m.read_only,
        })
        .collect();
    match s.resources.cpu_millis.map(CpuMillis::new) {
        None => {}
        Some(Some(cpu)) => spec.cpu = Some(cpu.to_millicores_string()),
        Some(None) => errors.push(unmappable(
            format!("{at}.resources.cpu_millis"),
            "a CPU limit of 0; leave it unset for no limit",
        )),
    }
    match s.resources.memory_bytes.map(MemoryBytes::new) {
        None => {}
        Some(Some(memory)) => spec.memory = Some(memory.to_string()),
        Some(None) => errors.push(unmappable(
            format!("{at}.resources.memory_bytes"),
            "a memory limit must be 1 byte to 8 EiB - 1 (i64::MAX); leave it unset for no limit",
        )),
    }
    if s.resources.disk_bytes.is_some() {
        errors.push(unmappable(
            format!("{at}.resources.disk_bytes"),
            "the engine has no disk limit yet; leave it unset",
        ));
    }
    spec.labels = map(&format!("{at}.labels"), &s.labels, errors);
    for key in spec.labels.keys() {
        let field = format!("{at}.labels.{key}");
        if let Err(error) = crate::spec::validate_label_key(&field, key) {
            errors.push(StackError::Unmappable {
                field,
                message: error.message,
            });
        }
    }
    if let Some(build) = &s.build {
        spec.build = Some(build_source(&format!("{at}.build"), build, errors));
    }
    spec.depends_on = s
        .depends_on
        .iter()
        .map(|d| {
            Dependency::new(
                &d.service,
                match d.condition {
                    wit::DependencyCondition::Started => Condition::Started,
                    wit::DependencyCondition::Healthy => Condition::Healthy,
                    wit::DependencyCondition::Completed => Condition::Completed,
                },
            )
        })
        .collect();
    for (c, check) in s.health_checks.iter().enumerate() {
        if let Some(check) = health_check(&format!("{at}.health_checks[{c}]"), check, errors) {
            spec.health_checks.push(check);
        }
    }
    spec.restart = match s.restart {
        wit::RestartPolicy::Never => RestartPolicy::Never,
        wit::RestartPolicy::OnFailure(max_restarts) => RestartPolicy::OnFailure { max_restarts },
        wit::RestartPolicy::Always => RestartPolicy::Always,
    };
    spec
}

/// A list of pairs as a map; a key given twice is an error rather than "the last one wins".
/// A rendered service's `build` (contract 0.2.0) as the engine's build source. A credentials
/// secret is refused: a template cannot grant itself an org's secret.
fn build_source(
    at: &str,
    b: &wit::BuildSource,
    errors: &mut Vec<StackError>,
) -> crate::builds::BuildSource {
    if b.credentials_secret.is_some() {
        errors.push(unmappable(
            format!("{at}.credentials_secret"),
            "a rendered stack cannot name a credentials secret; leave it unset",
        ));
    }
    let mut source = crate::builds::BuildSource::new(&b.repository);
    source.reference = b.reference.clone();
    source.subdirectory = b.subdirectory.clone();
    source.strategy = b.strategy.clone();
    source.build_args = map(&format!("{at}.build_args"), &b.build_args, errors);
    source
}

fn map(
    at: &str,
    pairs: &[(String, String)],
    errors: &mut Vec<StackError>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in pairs {
        if out.insert(key.clone(), value.clone()).is_some() {
            errors.push(unmappable(
                format!("{at}.{key}"),
                "the key is given more than once; render each key once",
            ));
        }
    }
    out
}

fn health_check(
    at: &str,
    c: &wit::HealthCheck,
    errors: &mut Vec<StackError>,
) -> Option<HealthCheck> {
    let probe = match &c.probe {
        wit::Probe::Http(http) => {
            if http.status_min > http.status_max {
                errors.push(unmappable(
                    format!("{at}.probe.status_min"),
                    &format!(
                        "the accepted statuses {}..={} are empty; status_min must not exceed status_max",
                        http.status_min, http.status_max
                    ),
                ));
                return None;
            }
            Probe::Http {
                port: http.port,
                path: http.path.clone(),
                status: http.status_min..=http.status_max,
                body_contains: http.body_contains.clone(),
            }
        }
        wit::Probe::Tcp(port) => Probe::Tcp { port: *port },
        wit::Probe::Exec(command) => Probe::Exec {
            command: command.clone(),
        },
    };
    let kind = match c.kind {
        wit::CheckKind::Startup => CheckKind::Startup,
        wit::CheckKind::Readiness => CheckKind::Readiness,
        wit::CheckKind::Liveness => CheckKind::Liveness,
    };
    Some(HealthCheck {
        kind,
        probe,
        interval_ms: u64::from(c.interval_ms),
        timeout_ms: u64::from(c.timeout_ms),
        failure_threshold: c.failure_threshold,
        success_threshold: c.success_threshold,
        start_period_ms: u64::from(c.start_period_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::Variables;

    fn check(kind: wit::CheckKind, probe: wit::Probe) -> wit::HealthCheck {
        wit::HealthCheck {
            kind,
            probe,
            interval_ms: 2_000,
            timeout_ms: 1_000,
            failure_threshold: 3,
            success_threshold: 1,
            start_period_ms: 30_000,
        }
    }

    fn port(name: &str, container_port: u16, publish: bool) -> wit::Port {
        wit::Port {
            name: name.into(),
            container_port,
            publish,
            host_port: None,
            protocol: wit::Protocol::Tcp,
        }
    }

    fn service(name: &str, image: &str) -> wit::ServiceSpec {
        wit::ServiceSpec {
            name: name.into(),
            image: image.into(),
            command: None,
            env: Vec::new(),
            provides: Vec::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            resources: wit::Resources {
                cpu_millis: None,
                memory_bytes: None,
                disk_bytes: None,
            },
            replicas: 1,
            depends_on: Vec::new(),
            health_checks: Vec::new(),
            restart: wit::RestartPolicy::OnFailure(5),
            labels: Vec::new(),
            build: None,
        }
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    /// What `stack-web-postgres` renders for `db_password = "p$ss"` (its `$` escaped as `$$`).
    fn web_postgres() -> wit::StackSpec {
        let mut db = service("db", "local/postgres:15");
        db.env = vec![
            pair("POSTGRES_USER", "app"),
            pair("POSTGRES_PASSWORD", "p$$ss"),
        ];
        db.provides = vec![pair("DATABASE_URL", "postgres://app:p%24ss@db:5432/app")];
        db.ports = vec![port("postgres", 5432, false)];
        db.volumes = vec![wit::VolumeMount {
            volume: "pgdata".into(),
            target: "/var/lib/postgresql/data".into(),
            read_only: false,
        }];
        db.resources.memory_bytes = Some(512 << 20);
        db.resources.cpu_millis = Some(500);
        db.health_checks = vec![check(wit::CheckKind::Readiness, wit::Probe::Tcp(5432))];

        let mut api = service("api", "local/windlass-demo-api:1");
        api.replicas = 2;
        api.command = Some(vec!["serve".into()]);
        api.ports = vec![port("http", 8080, false)];
        api.depends_on = vec![wit::Dependency {
            service: "db".into(),
            condition: wit::DependencyCondition::Healthy,
        }];
        let healthz = wit::Probe::Http(wit::HttpProbe {
            port: 8080,
            path: "/healthz".into(),
            status_min: 200,
            status_max: 399,
            body_contains: Some("ok".into()),
        });
        api.health_checks = vec![
            check(wit::CheckKind::Readiness, healthz.clone()),
            check(wit::CheckKind::Liveness, healthz),
        ];
        api.restart = wit::RestartPolicy::Always;

        let mut web = service("web", "local/windlass-demo-web:1");
        web.env = vec![pair("API_URL", "http://api:8080")];
        web.ports = vec![wit::Port {
            host_port: Some(8081),
            protocol: wit::Protocol::Udp,
            ..port("http", 80, true)
        }];
        web.depends_on = vec![wit::Dependency {
            service: "api".into(),
            condition: wit::DependencyCondition::Started,
        }];
        web.health_checks = vec![check(
            wit::CheckKind::Startup,
            wit::Probe::Exec(vec!["true".into()]),
        )];
        web.restart = wit::RestartPolicy::Never;

        wit::StackSpec {
            services: vec![db, api, web],
            volumes: vec![wit::VolumeSpec {
                name: "pgdata".into(),
                labels: Vec::new(),
            }],
        }
    }

    fn engine_check(kind: CheckKind, probe: Probe) -> HealthCheck {
        HealthCheck {
            interval_ms: 2_000,
            start_period_ms: 30_000,
            ..HealthCheck::new(kind, probe)
        }
    }

    #[test]
    fn a_rendered_stack_maps_field_by_field() {
        let stack = StackSpec::from_rendered(&web_postgres()).unwrap();
        let healthz = Probe::Http {
            port: 8080,
            path: "/healthz".into(),
            status: 200..=399,
            body_contains: Some("ok".into()),
        };
        let expected = StackSpec::new()
            .with_volume("pgdata")
            .with_service(
                ServiceSpec::new("db", "local/postgres:15")
                    .with_env("POSTGRES_USER", "app")
                    .with_env("POSTGRES_PASSWORD", "p$$ss")
                    .with_provides("DATABASE_URL", "postgres://app:p%24ss@db:5432/app")
                    .with_volume("pgdata", "/var/lib/postgresql/data", false)
                    .with_memory("512Mi")
                    .with_cpu("500m")
                    .with_health_check(engine_check(
                        CheckKind::Readiness,
                        Probe::Tcp { port: 5432 },
                    )),
            )
            .with_service(
                ServiceSpec::new("api", "local/windlass-demo-api:1")
                    .with_command(["serve"])
                    .with_replicas(2)
                    .with_dependency("db", Condition::Healthy)
                    .with_health_check(engine_check(CheckKind::Readiness, healthz.clone()))
                    .with_health_check(engine_check(CheckKind::Liveness, healthz))
                    .with_restart(RestartPolicy::Always),
            )
            .with_service(
                ServiceSpec::new("web", "local/windlass-demo-web:1")
                    .with_env("API_URL", "http://api:8080")
                    .with_port(PortSpec {
                        protocol: Protocol::Udp,
                        ..PortSpec::tcp(80).with_host_port(8081)
                    })
                    .with_dependency("api", Condition::Started)
                    .with_health_check(engine_check(
                        CheckKind::Startup,
                        Probe::Exec {
                            command: vec!["true".into()],
                        },
                    ))
                    .with_restart(RestartPolicy::Never),
            );
        assert_eq!(stack, expected);
    }

    #[test]
    fn the_rendered_demo_stack_validates_and_resolves() {
        let stack = StackSpec::from_rendered(&web_postgres()).unwrap();
        let resolved = stack
            .resolve(&Variables::for_stack("demo", "shop"))
            .unwrap();
        let db = resolved.service("db").unwrap();
        assert_eq!(
            db.env.get("POSTGRES_PASSWORD").map(String::as_str),
            Some("p$ss")
        );
        let api = resolved.service("api").unwrap();
        assert_eq!(
            api.env.get("DATABASE_URL").map(String::as_str),
            Some("postgres://app:p%24ss@db:5432/app")
        );
        assert_eq!(
            resolved.graph().waves(),
            [vec!["db"], vec!["api"], vec!["web"]]
        );
    }

    #[test]
    fn service_labels_are_kept() {
        let mut rendered = web_postgres();
        rendered.services[0].labels = vec![pair("team", "data"), pair("tier", "db")];
        let spec = StackSpec::from_rendered(&rendered).unwrap();
        assert_eq!(
            spec.services[0].labels,
            BTreeMap::from([("team".into(), "data".into()), ("tier".into(), "db".into())])
        );
    }

    #[test]
    fn a_rendered_build_becomes_the_services_build_source() {
        let mut rendered = web_postgres();
        rendered.services[2].build = Some(wit::BuildSource {
            repository: "https://git.example/shop.git".into(),
            reference: Some("main".into()),
            subdirectory: Some("web".into()),
            strategy: None,
            credentials_secret: None,
            build_args: vec![pair("MODE", "prod")],
        });
        let spec = StackSpec::from_rendered(&rendered).unwrap();
        let service = |name: &str| spec.services.iter().find(|s| s.name == name).unwrap();
        let build = service("web").build.as_ref().expect("mapped");
        assert_eq!(build.repository, "https://git.example/shop.git");
        assert_eq!(
            (build.reference.as_deref(), build.subdirectory.as_deref()),
            (Some("main"), Some("web"))
        );
        assert_eq!(
            build.build_args,
            BTreeMap::from([("MODE".into(), "prod".into())])
        );
        assert!(service("db").build.is_none());

        rendered.services[2]
            .build
            .as_mut()
            .unwrap()
            .credentials_secret = Some("git".into());
        let errors = StackSpec::from_rendered(&rendered).unwrap_err();
        let fields: Vec<&str> = errors.errors().iter().map(StackError::field).collect();
        assert_eq!(fields, ["services[2].build.credentials_secret"]);
    }

    #[test]
    fn what_cannot_be_mapped_is_named() {
        let mut rendered = web_postgres();
        rendered.services[0].resources.disk_bytes = Some(1 << 30);
        rendered.services[0].resources.cpu_millis = Some(0);
        rendered.services[0].resources.memory_bytes = Some(u64::MAX);
        rendered.services[0].labels = vec![pair("team", "data"), pair("dev.windlass.org", "x")];
        rendered.services[0].ports[0].host_port = Some(5432);
        rendered.services[1].env = vec![pair("A", "1"), pair("A", "2")];
        rendered.services[1].health_checks[0].probe = wit::Probe::Http(wit::HttpProbe {
            port: 8080,
            path: "/".into(),
            status_min: 400,
            status_max: 200,
            body_contains: None,
        });
        rendered.volumes[0].labels = vec![pair("backup", "daily")];
        let errors = StackSpec::from_rendered(&rendered).unwrap_err();
        let fields: Vec<&str> = errors.errors().iter().map(StackError::field).collect();
        assert_eq!(
            fields,
            [
                "services[0].ports[0].host_port",
                "services[0].resources.cpu_millis",
                "services[0].resources.memory_bytes",
                "services[0].resources.disk_bytes",
                "services[0].labels.dev.windlass.org",
                "services[1].env.A",
                "services[1].health_checks[0].probe.status_min",
                "volumes[0].labels",
            ]
        );
        assert!(
            errors
                .errors()
                .iter()
                .all(|e| matches!(e, StackError::Unmappable { .. }))
        );
        assert_eq!(
            errors.errors()[3].to_string(),
            "services[0].resources.disk_bytes: cannot be mapped: the engine has no disk limit yet; leave it unset"
        );
    }
}
