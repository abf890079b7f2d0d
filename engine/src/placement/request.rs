//! A desired service as the adapter contract's `deploy-request`: the reverse of
//! [`crate::stacks::StackSpec::from_rendered`], field by field, with the engine's labels.

use windlass_host_api::types as wit;

use crate::lifecycle::{RestartPolicy, UpdateOrder};
use crate::runtime::Protocol;
use crate::runtime::labels::{
    LABEL_ENGINE, LABEL_MANAGED, LABEL_ORG, LABEL_REVISION, LABEL_SERVICE, LABEL_STACK,
};
use crate::{DesiredService, ServiceSpec, SpecError};

/// How long the platform watches an updated replica for failure before it counts as updated:
/// the engine's `min_healthy_ms` with a floor, since a platform's task states arrive later
/// than the engine's own probes.
const MIN_MONITOR_MS: u64 = 5_000;

/// The request that deploys `desired` (whose spec is `spec`) on a platform, on `network`.
pub(crate) fn deploy_request(
    engine_id: &str,
    desired: &DesiredService,
    spec: &ServiceSpec,
    network: Option<String>,
) -> Result<wit::DeployRequest, SpecError> {
    let (cpu_millis, memory_bytes) = crate::billing::meter::per_replica_of(spec);
    let ports = ports(spec)?;
    let service = wit::ServiceSpec {
        name: spec.name.clone(),
        image: spec.image.clone(),
        command: spec.command.clone(),
        env: pairs(&spec.env),
        provides: Vec::new(),
        ports,
        volumes: spec
            .volumes
            .iter()
            .map(|m| wit::VolumeMount {
                volume: m.volume.clone(),
                target: m.path.clone(),
                read_only: m.read_only,
            })
            .collect(),
        resources: wit::Resources {
            cpu_millis,
            memory_bytes,
            disk_bytes: None,
        },
        replicas: desired.replicas,
        depends_on: Vec::new(),
        health_checks: spec.health_checks.iter().map(health_check).collect(),
        restart: match spec.restart {
            RestartPolicy::Never => wit::RestartPolicy::Never,
            RestartPolicy::OnFailure { max_restarts } => {
                wit::RestartPolicy::OnFailure(max_restarts)
            }
            RestartPolicy::Always => wit::RestartPolicy::Always,
        },
        labels: pairs(&spec.labels),
        build: None,
    };
    let update = &spec.update;
    let mut request = wit::DeployRequest::new(&desired.org, &desired.stack, service);
    request.network = network;
    request.update = wit::UpdatePolicy {
        parallelism: update.max_parallel.max(1),
        delay_ms: 0,
        order: match update.order {
            UpdateOrder::StartFirst => wit::UpdateOrder::StartFirst,
            UpdateOrder::StopFirst => wit::UpdateOrder::StopFirst,
        },
        failure_action: if update.auto_rollback {
            wit::FailureAction::Rollback
        } else {
            wit::FailureAction::Pause
        },
        monitor_ms: u32::try_from(update.min_healthy_ms.max(MIN_MONITOR_MS)).unwrap_or(u32::MAX),
        max_failure_ratio_permille: 0,
    };
    request.labels = labels(engine_id, desired);
    Ok(request)
}

/// The service's ports in the contract's form (all published: the engine's ports are the
/// published ones); SCTP and a host address have no counterpart and are refused.
pub(crate) fn ports(spec: &ServiceSpec) -> Result<Vec<wit::Port>, SpecError> {
    let field = |f: &str| format!("services.{}.{f}", spec.name);
    let mut ports = Vec::with_capacity(spec.ports.len());
    for (i, p) in spec.ports.iter().enumerate() {
        let protocol = match p.protocol {
            Protocol::Tcp => wit::Protocol::Tcp,
            Protocol::Udp => wit::Protocol::Udp,
            Protocol::Sctp => {
                return Err(SpecError {
                    field: field(&format!("ports[{i}].protocol")),
                    message: "the adapter contract carries TCP and UDP ports only".to_owned(),
                });
            }
        };
        if p.host_ip.is_some() {
            return Err(SpecError {
                field: field(&format!("ports[{i}].host_ip")),
                message: "a platform publishes on its own addresses; leave host_ip unset"
                    .to_owned(),
            });
        }
        ports.push(wit::Port {
            name: format!("{}-{}", p.protocol.as_str(), p.container_port),
            container_port: p.container_port,
            publish: true,
            host_port: p.host_port,
            protocol,
        });
    }
    Ok(ports)
}

/// The labels the engine puts on what it deploys (the adapter copies them onto everything it
/// creates, so `list-deployments` finds this engine's objects again).
pub(crate) fn labels(engine_id: &str, desired: &DesiredService) -> Vec<(String, String)> {
    vec![
        (LABEL_MANAGED.to_owned(), "true".to_owned()),
        (LABEL_ENGINE.to_owned(), engine_id.to_owned()),
        (LABEL_ORG.to_owned(), desired.org.clone()),
        (LABEL_STACK.to_owned(), desired.stack.clone()),
        (LABEL_SERVICE.to_owned(), desired.service.clone()),
        (LABEL_REVISION.to_owned(), desired.revision.to_string()),
    ]
}

fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn health_check(check: &crate::health::HealthCheck) -> wit::HealthCheck {
    use crate::health::{CheckKind, Probe};
    let ms = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    wit::HealthCheck {
        kind: match check.kind {
            CheckKind::Startup => wit::CheckKind::Startup,
            CheckKind::Readiness => wit::CheckKind::Readiness,
            CheckKind::Liveness => wit::CheckKind::Liveness,
        },
        probe: match &check.probe {
            Probe::Http {
                port,
                path,
                status,
                body_contains,
            } => wit::Probe::Http(wit::HttpProbe {
                port: *port,
                path: path.clone(),
                status_min: *status.start(),
                status_max: *status.end(),
                body_contains: body_contains.clone(),
            }),
            Probe::Tcp { port } => wit::Probe::Tcp(*port),
            Probe::Exec { command } => wit::Probe::Exec(command.clone()),
        },
        interval_ms: ms(check.interval_ms),
        timeout_ms: ms(check.timeout_ms),
        failure_threshold: check.failure_threshold,
        success_threshold: check.success_threshold,
        start_period_ms: ms(check.start_period_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{CheckKind, HealthCheck, Probe};

    fn desired(spec: &ServiceSpec) -> DesiredService {
        DesiredService {
            org: "acme".into(),
            stack: "shop".into(),
            service: spec.name.clone(),
            revision: 3,
            replicas: spec.replicas,
            spec: serde_json::to_value(spec).unwrap(),
            config_hash: "h".into(),
            updated_ms: 0,
        }
    }

    #[test]
    fn a_service_maps_field_by_field() {
        let mut spec = ServiceSpec::new("web", "windlass-test/busybox:1")
            .with_command(["httpd", "-f"])
            .with_env("GREETING", "hello")
            .with_replicas(3)
            .on_target("swarm");
        spec.cpu = Some("250m".into());
        spec.memory = Some("64Mi".into());
        spec.health_checks.push(HealthCheck::new(
            CheckKind::Readiness,
            Probe::Exec {
                command: vec!["true".into()],
            },
        ));
        let r = deploy_request("e1", &desired(&spec), &spec, Some("net".into())).unwrap();
        assert_eq!((r.org.as_str(), r.stack.as_str()), ("acme", "shop"));
        assert_eq!(r.network.as_deref(), Some("net"));
        let s = &r.service;
        assert_eq!(s.command.as_deref().unwrap(), ["httpd", "-f"]);
        assert_eq!(s.env, [("GREETING".to_owned(), "hello".to_owned())]);
        assert_eq!(s.replicas, 3);
        assert_eq!(
            (s.resources.cpu_millis, s.resources.memory_bytes),
            (Some(250), Some(64 << 20))
        );
        assert!(matches!(s.health_checks[0].probe, wit::Probe::Exec(ref c) if c == &["true"]));
        assert_eq!(r.update.order, wit::UpdateOrder::StartFirst);
        assert_eq!(r.update.failure_action, wit::FailureAction::Rollback);
        assert_eq!(r.update.monitor_ms, 5_000);
        assert!(
            r.labels
                .contains(&(LABEL_ENGINE.to_owned(), "e1".to_owned()))
        );
        assert!(
            r.labels
                .contains(&(LABEL_REVISION.to_owned(), "3".to_owned()))
        );
    }

    #[test]
    fn what_the_contract_cannot_carry_is_named() {
        let mut spec = ServiceSpec::new("web", "img");
        spec.ports.push(crate::runtime::PortSpec {
            container_port: 9,
            protocol: Protocol::Sctp,
            host_port: None,
            host_ip: None,
        });
        let e = deploy_request("e1", &desired(&spec), &spec, None).unwrap_err();
        assert_eq!(e.field, "services.web.ports[0].protocol");
    }
}
