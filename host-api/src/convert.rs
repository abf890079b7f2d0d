//! Values of a 0.1.0 component, converted to and from the host's 0.2.0 types.
//!
//! 0.2.0 only adds to 0.1.0 (fields, variant cases, enum cases, functions), and the generated
//! types of both versions derive serde with the same field and case names. So a value goes
//! through `serde_json::Value`:
//!
//! - up (0.1.0 → 0.2.0, what a 0.1.0 guest returns): a field 0.2.0 added is an `option`, which
//!   serde fills with none; the one exception, `deployment-status.tasks`, is converted by hand;
//! - down (0.2.0 → 0.1.0, what the host passes a 0.1.0 guest): the fields 0.2.0 added are
//!   dropped (serde ignores unknown fields).
//!
//! A value that does not convert is a host bug, reported as a failed call (never a panic); the
//! tests of this module convert every type that crosses the boundary.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::v0_1;
use crate::types as v2;

/// The 0.1.0 adapter interface's own types.
pub(crate) use v0_1::cloud_adapter::exports::windlass::plugin::adapter as v1_adapter;
/// The 0.1.0 types (the shared `types` interface).
pub(crate) use v0_1::stack_template::windlass::plugin::types as v1;

/// Converts a value between the two versions' types through its serde form.
pub(crate) fn convert<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    let json = serde_json::to_value(value)?;
    serde_json::from_value(json).map_err(|e| {
        wasmtime::format_err!(
            "cannot convert a `{}` between contract versions: {e}",
            std::any::type_name::<B>()
        )
    })
}

/// A 0.1.0 deployment status as 0.2.0's: no update state, no tasks.
pub(crate) fn deployment_status_up(
    status: v1_adapter::DeploymentStatus,
) -> wasmtime::Result<v2::DeploymentStatus> {
    Ok(v2::DeploymentStatus {
        deployment: convert(&status.deployment)?,
        phase: convert(&status.phase)?,
        desired_replicas: status.desired_replicas,
        running_replicas: status.running_replicas,
        message: status.message,
        update_state: None,
        tasks: Vec::new(),
    })
}

/// The 0.1.0 `deploy` argument for a 0.2.0 request: its service, with the engine's labels
/// added to the service's own (0.1.0 has no other place for them). The org, stack, network and
/// update policy have no 0.1.0 form and are dropped.
pub(crate) fn deploy_request_down(
    request: &v2::DeployRequest,
) -> wasmtime::Result<v1::ServiceSpec> {
    let mut service: v1::ServiceSpec = convert(&request.service)?;
    for (key, value) in &request.labels {
        service.labels.retain(|(k, _)| k != key);
        service.labels.push((key.clone(), value.clone()));
    }
    Ok(service)
}

/// What `describe` answers for a 0.1.0 adapter, which has no `describe`: the plugin's name, an
/// empty platform and version (0.1.0 cannot say), and the capabilities of 0.1.0 — deploy,
/// status, scale, remove and list-containers, none of the optional ones.
pub(crate) fn adapter_info_v0_1(plugin: &str) -> v2::AdapterInfo {
    v2::AdapterInfo {
        name: plugin.to_owned(),
        platform: String::new(),
        version: String::new(),
        capabilities: v2::Capabilities {
            read_only: false,
            rolling_update: false,
            rollback: false,
            networks: false,
            volumes: false,
            logs: false,
            nodes: false,
            inventory: false,
        },
    }
}

/// The answer of a 0.2.0-only adapter function on a 0.1.0 adapter.
pub(crate) fn unsupported_v0_1(function: &str, version: &semver::Version) -> v2::AdapterError {
    v2::AdapterError::Unsupported(format!(
        "`{function}` is not in windlass:plugin@{version}, which this adapter was built against \
         (it needs 0.2.0)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> v2::ServiceSpec {
        v2::ServiceSpec {
            name: "web".into(),
            image: String::new(),
            command: Some(vec!["serve".into()]),
            env: vec![("A".into(), "1".into())],
            provides: vec![],
            ports: vec![v2::Port {
                name: "http".into(),
                container_port: 8080,
                publish: true,
                host_port: None,
                protocol: v2::Protocol::Tcp,
            }],
            volumes: vec![],
            resources: v2::Resources {
                cpu_millis: Some(500),
                memory_bytes: None,
                disk_bytes: None,
            },
            replicas: 2,
            depends_on: vec![v2::Dependency {
                service: "db".into(),
                condition: v2::DependencyCondition::Healthy,
            }],
            health_checks: vec![v2::HealthCheck {
                kind: v2::CheckKind::Readiness,
                probe: v2::Probe::Http(v2::HttpProbe {
                    port: 8080,
                    path: "/".into(),
                    status_min: 200,
                    status_max: 399,
                    body_contains: None,
                }),
                interval_ms: 1,
                timeout_ms: 2,
                failure_threshold: 3,
                success_threshold: 4,
                start_period_ms: 5,
            }],
            restart: v2::RestartPolicy::OnFailure(3),
            labels: vec![("team".into(), "web".into()), ("tier".into(), "a".into())],
            build: Some(v2::BuildSource {
                repository: "https://git.example/shop.git".into(),
                reference: None,
                subdirectory: None,
                strategy: None,
                credentials_secret: None,
                build_args: vec![],
            }),
        }
    }

    #[test]
    fn a_service_goes_down_without_its_build_and_comes_back_with_none() {
        let down: v1::ServiceSpec = convert(&service()).unwrap();
        assert_eq!(down.replicas, 2);
        assert_eq!(down.restart, v1::RestartPolicy::OnFailure(3));
        let up: v2::ServiceSpec = convert(&down).unwrap();
        assert_eq!(
            up,
            v2::ServiceSpec {
                build: None,
                ..service()
            }
        );
    }

    #[test]
    fn a_usage_record_goes_down_without_what_was_used() {
        let record = v2::UsageRecord {
            org: "acme".into(),
            stack: "shop".into(),
            service: "web".into(),
            container: "c1".into(),
            resources: service().resources,
            start_ms: 1,
            end_ms: u64::MAX,
            used: v2::MeasuredUsage {
                egress_bytes: 9,
                ..v2::MeasuredUsage::ZERO
            },
        };
        let down: Vec<v1::UsageRecord> = convert(&std::slice::from_ref(&record)).unwrap();
        assert_eq!(down[0].end_ms, u64::MAX, "u64 survives the JSON form");
        assert_eq!(down[0].resources.cpu_millis, Some(500));
        // `used` is a record, not an option: a 0.1.0 record does not come up by serde alone,
        // and it never has to (usage records only go down). It is an error, never a silent zero.
        assert!(convert::<_, v2::UsageRecord>(&down[0]).is_err());
    }

    #[test]
    fn a_container_and_a_status_come_up_with_the_new_fields_empty() {
        let container = v1::ContainerInfo {
            id: "c1".into(),
            name: "shop-web-1".into(),
            image: "local/web:1".into(),
            state: "running".into(),
            labels: vec![("dev.windlass.stack".into(), "shop".into())],
            created_ms: 7,
        };
        let up: Vec<v2::ContainerInfo> = convert(&vec![container]).unwrap();
        assert_eq!(up[0].created_ms, 7);
        assert!(up[0].org.is_none() && up[0].restarts.is_none() && up[0].job_status.is_none());

        let status = v1_adapter::DeploymentStatus {
            deployment: v1_adapter::DeploymentRef {
                id: "d".into(),
                name: "web".into(),
            },
            phase: v1_adapter::DeploymentPhase::Degraded,
            desired_replicas: 3,
            running_replicas: 1,
            message: Some("one starting".into()),
        };
        let up = deployment_status_up(status).unwrap();
        assert_eq!(up.phase, v2::DeploymentPhase::Degraded);
        assert_eq!((up.desired_replicas, up.running_replicas), (3, 1));
        assert!(up.tasks.is_empty() && up.update_state.is_none());
    }

    #[test]
    fn every_0_1_adapter_error_comes_up_as_itself() {
        for (error, expected) in [
            (
                v1_adapter::AdapterError::NotFound("x".into()),
                v2::AdapterError::NotFound("x".into()),
            ),
            (
                v1_adapter::AdapterError::Invalid("x".into()),
                v2::AdapterError::Invalid("x".into()),
            ),
            (
                v1_adapter::AdapterError::RateLimited(5),
                v2::AdapterError::RateLimited(5),
            ),
            (
                v1_adapter::AdapterError::Unavailable("x".into()),
                v2::AdapterError::Unavailable("x".into()),
            ),
            (
                v1_adapter::AdapterError::Denied("x".into()),
                v2::AdapterError::Denied("x".into()),
            ),
        ] {
            assert_eq!(convert::<_, v2::AdapterError>(&error).unwrap(), expected);
        }
    }

    #[test]
    fn a_deploy_request_goes_down_as_its_service_with_the_engine_labels_over_its_own() {
        let request = v2::DeployRequest::new("acme", "shop", service())
            .with_label("dev.windlass.stack", "shop")
            .with_label("tier", "engine");
        let down = deploy_request_down(&request).unwrap();
        assert_eq!(down.name, "web");
        let labels: Vec<(&str, &str)> = down
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("team", "web"),
                ("dev.windlass.stack", "shop"),
                ("tier", "engine")
            ]
        );
    }
}
