//! A deploy request as a Swarm `ServiceSpec` (Engine API JSON).
//!
//! | service-spec / deploy-request        | ServiceSpec                                              |
//! |--------------------------------------|----------------------------------------------------------|
//! | org, stack, service name             | `Name` = `{org}-{stack}-{service}` (sanitised; hashed past 63 characters) |
//! | `image`                              | `TaskTemplate.ContainerSpec.Image`, used as it is: the create call does not resolve digests against a registry (API ≥ 1.30 without `QueryRegistry`) |
//! | `command`                            | `ContainerSpec.Args` (the image's entrypoint stays)      |
//! | `env`                                | `ContainerSpec.Env`                                      |
//! | `labels` + request `labels`          | service `Labels` and `ContainerSpec.Labels`              |
//! | `replicas`                           | `Mode.Replicated.Replicas`                               |
//! | `resources`                          | `Resources.Limits` (`NanoCPUs`, `MemoryBytes`); disk is refused |
//! | `restart`                            | `RestartPolicy` (`none`, `on-failure` + `MaxAttempts`, `any`) |
//! | `ports` with `publish`               | `EndpointSpec.Ports`, `PublishMode = host` under `dnsrr` (Swarm's rule), `ingress` under `vip` |
//! | `volumes`                            | `ContainerSpec.Mounts` of named volumes `{org}-{stack}-{volume}` (node-local: the data stays on the node) |
//! | health check with an `exec` probe    | `ContainerSpec.Healthcheck` (`CMD`), so Swarm's update monitor sees unhealthy tasks |
//! | `network`                            | `TaskTemplate.Networks`, aliased by the service's own name |
//! | `update`                             | `UpdateConfig`; `RollbackConfig` the same with `FailureAction = pause` |
//! | `build`                              | refused (`invalid`): the engine builds and passes `image` |

use serde_json::{Value, json};
use windlass_plugin_sdk::types::{
    AdapterError, CheckKind, DeployRequest, FailureAction, Probe, Protocol, RestartPolicy,
    UpdateOrder, UpdatePolicy,
};

use crate::settings::Settings;

/// The label the adapter puts on every service it creates.
pub(crate) const MANAGED_LABEL: &str = "dev.windlass.adapter";

/// The platform name of a deployment.
pub(crate) fn service_name(org: &str, stack: &str, service: &str) -> String {
    let raw = format!("{org}-{stack}-{service}");
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 63 {
        return clean;
    }
    // Swarm's limit: keep a readable head and a hash of the whole for uniqueness.
    let hash = raw.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}-{hash:016x}", &clean[..46])
}

fn nanos(ms: u32) -> u64 {
    u64::from(ms) * 1_000_000
}

fn update_config(policy: &UpdatePolicy, failure_action: &str) -> Value {
    json!({
        "Parallelism": policy.parallelism,
        "Delay": nanos(policy.delay_ms),
        "FailureAction": failure_action,
        "Monitor": nanos(policy.monitor_ms),
        "MaxFailureRatio": f64::from(policy.max_failure_ratio_permille) / 1000.0,
        "Order": match policy.order { UpdateOrder::StartFirst => "start-first", UpdateOrder::StopFirst => "stop-first" },
    })
}

fn label_object(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect(),
    )
}

/// The `ServiceSpec` for `request`.
pub(crate) fn spec(settings: &Settings, request: &DeployRequest) -> Result<Value, AdapterError> {
    let svc = &request.service;
    if svc.build.is_some() {
        return Err(AdapterError::Invalid(format!(
            "service `{}`: a build source must be built by the engine first; the swarm adapter deploys images",
            svc.name
        )));
    }
    if svc.resources.disk_bytes.is_some() {
        return Err(AdapterError::Invalid(format!(
            "service `{}`: Docker Swarm cannot limit disk per task (resources.disk)",
            svc.name
        )));
    }
    let name = service_name(&request.org, &request.stack, &svc.name);
    let mut labels: Vec<(String, String)> = svc.labels.clone();
    labels.extend(request.labels.iter().cloned());
    labels.push((MANAGED_LABEL.into(), "swarm".into()));
    let labels = label_object(&labels);

    let mut container = json!({
        "Image": svc.image,
        "Env": svc.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "Labels": labels,
    });
    if let Some(command) = &svc.command {
        container["Args"] = json!(command);
    }
    if !svc.volumes.is_empty() {
        container["Mounts"] = Value::from(
            svc.volumes
                .iter()
                .map(|m| {
                    json!({
                        "Type": "volume",
                        "Source": service_name(&request.org, &request.stack, &m.volume),
                        "Target": m.target,
                        "ReadOnly": m.read_only,
                    })
                })
                .collect::<Vec<_>>(),
        );
    }
    // The first exec probe becomes the container's health check: Swarm's update monitor and
    // task states follow it. HTTP and TCP probes need a client in the image, so they stay the
    // engine's (it reads task states).
    if let Some(check) = svc.health_checks.iter().find(|c| {
        matches!(c.probe, Probe::Exec(_))
            && matches!(c.kind, CheckKind::Readiness | CheckKind::Liveness)
    }) && let Probe::Exec(cmd) = &check.probe
    {
        let mut test = vec!["CMD".to_string()];
        test.extend(cmd.iter().cloned());
        container["Healthcheck"] = json!({
            "Test": test,
            "Interval": nanos(check.interval_ms),
            "Timeout": nanos(check.timeout_ms),
            "Retries": check.failure_threshold.max(1),
            "StartPeriod": nanos(check.start_period_ms),
        });
    }

    let mut limits = serde_json::Map::new();
    if let Some(cpu) = svc.resources.cpu_millis {
        limits.insert("NanoCPUs".into(), json!(u64::from(cpu) * 1_000_000));
    }
    if let Some(mem) = svc.resources.memory_bytes {
        limits.insert("MemoryBytes".into(), json!(mem));
    }
    let restart = match svc.restart {
        RestartPolicy::Never => json!({ "Condition": "none" }),
        RestartPolicy::OnFailure(n) => json!({ "Condition": "on-failure", "MaxAttempts": n }),
        RestartPolicy::Always => json!({ "Condition": "any" }),
    };
    let mut task = json!({
        "ContainerSpec": container,
        "Resources": { "Limits": Value::Object(limits) },
        "RestartPolicy": restart,
    });
    if let Some(network) = &request.network {
        task["Networks"] = json!([{ "Target": network, "Aliases": [svc.name] }]);
    }
    let dnsrr = settings.endpoint_mode == "dnsrr";
    let ports: Vec<Value> = svc
        .ports
        .iter()
        .filter(|p| p.publish)
        .map(|p| {
            let mut port = json!({
                "Protocol": match p.protocol { Protocol::Tcp => "tcp", Protocol::Udp => "udp" },
                "TargetPort": p.container_port,
                "PublishMode": if dnsrr { "host" } else { "ingress" },
            });
            if let Some(host) = p.host_port {
                port["PublishedPort"] = json!(host);
            }
            port
        })
        .collect();
    let failure_action = match request.update.failure_action {
        FailureAction::Rollback => "rollback",
        FailureAction::Pause => "pause",
        FailureAction::Continue => "continue",
    };
    let mut spec = json!({
        "Name": name,
        "Labels": labels,
        "TaskTemplate": task,
        "Mode": { "Replicated": { "Replicas": svc.replicas } },
        "UpdateConfig": update_config(&request.update, failure_action),
        "RollbackConfig": update_config(&request.update, "pause"),
        "EndpointSpec": { "Mode": settings.endpoint_mode, "Ports": ports },
    });
    spec["Labels"][SPEC_LABEL] = Value::from(fingerprint(&spec));
    Ok(spec)
}

/// The service label holding the [`fingerprint`] of the spec this adapter wrote.
pub(crate) const SPEC_LABEL: &str = "dev.windlass.adapter-spec";

/// A fingerprint of what this adapter writes, replicas aside (`scale` changes those alone):
/// FNV-1a over the spec's JSON (its keys are sorted, so equal specs give equal text). Swarm
/// fills in and rewrites much of a spec it stores (grace periods, restart delays, network ids
/// for names), so a spec read back never equals the one written; the label does. A change
/// detector, not a security measure; hand-written because it is six lines.
fn fingerprint(spec: &Value) -> String {
    let mut spec = spec.clone();
    spec["Mode"]["Replicated"]["Replicas"] = Value::Null;
    if let Some(labels) = spec["Labels"].as_object_mut() {
        labels.remove(SPEC_LABEL);
    }
    let hash = spec
        .to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// Whether the running service already has `wanted` (so deploy need not update it): the
/// same [`fingerprint`] label and the same replicas. A needless update would not only restart
/// nothing: it would make the current spec Swarm's rollback target, so a redeploy during a
/// failing update (an engine restarted mid-update) would leave nothing good to roll back to.
pub(crate) fn same_spec(current: &Value, wanted: &Value) -> bool {
    let replicas = |s: &Value| s["Mode"]["Replicated"]["Replicas"].as_u64();
    let label = |s: &Value| s["Labels"][SPEC_LABEL].as_str().map(str::to_owned);
    label(current).is_some()
        && label(current) == label(wanted)
        && replicas(current) == replicas(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_plugin_sdk::types::{HealthCheck, Port, ServiceSpec, VolumeMount};

    fn settings(mode: &str) -> Settings {
        Settings {
            endpoint: "http://m:2375".into(),
            api_version: "1.41".into(),
            endpoint_mode: mode.into(),
            encrypt_networks: true,
            network_prefix: "windlass-org-".into(),
        }
    }

    pub(crate) fn request() -> DeployRequest {
        let mut service = ServiceSpec::new("web", "windlass-test/busybox:1");
        service.replicas = 3;
        service.command = Some(vec!["httpd".into(), "-f".into()]);
        service.env = vec![("A".into(), "1".into())];
        service.resources.cpu_millis = Some(250);
        service.resources.memory_bytes = Some(64 << 20);
        service.ports = vec![Port::tcp("http", 8080).published(Some(18080))];
        service.volumes = vec![VolumeMount {
            volume: "data".into(),
            target: "/data".into(),
            read_only: false,
        }];
        service.health_checks = vec![HealthCheck::new(
            CheckKind::Readiness,
            Probe::Exec(vec!["true".into()]),
        )];
        service.restart = RestartPolicy::OnFailure(3);
        DeployRequest {
            org: "acme".into(),
            stack: "shop".into(),
            service,
            network: Some("windlass-org-acme".into()),
            update: UpdatePolicy {
                parallelism: 1,
                delay_ms: 1_000,
                order: UpdateOrder::StartFirst,
                failure_action: FailureAction::Rollback,
                monitor_ms: 5_000,
                max_failure_ratio_permille: 0,
            },
            labels: vec![("dev.windlass.org".into(), "acme".into())],
        }
    }

    #[test]
    fn spec_maps_every_field() {
        let s = spec(&settings("dnsrr"), &request()).expect("spec");
        assert_eq!(s["Name"], "acme-shop-web");
        assert_eq!(s["Labels"]["dev.windlass.org"], "acme");
        assert_eq!(s["Labels"][MANAGED_LABEL], "swarm");
        let c = &s["TaskTemplate"]["ContainerSpec"];
        assert_eq!(c["Image"], "windlass-test/busybox:1");
        assert_eq!(c["Args"], json!(["httpd", "-f"]));
        assert_eq!(c["Env"], json!(["A=1"]));
        assert_eq!(c["Mounts"][0]["Source"], "acme-shop-data");
        assert_eq!(c["Healthcheck"]["Test"], json!(["CMD", "true"]));
        assert_eq!(
            s["TaskTemplate"]["Resources"]["Limits"]["NanoCPUs"],
            250_000_000
        );
        assert_eq!(
            s["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"],
            64 << 20
        );
        assert_eq!(
            s["TaskTemplate"]["RestartPolicy"],
            json!({"Condition": "on-failure", "MaxAttempts": 3})
        );
        assert_eq!(
            s["TaskTemplate"]["Networks"][0],
            json!({"Target": "windlass-org-acme", "Aliases": ["web"]})
        );
        assert_eq!(s["Mode"]["Replicated"]["Replicas"], 3);
        assert_eq!(s["UpdateConfig"]["Order"], "start-first");
        assert_eq!(s["UpdateConfig"]["FailureAction"], "rollback");
        assert_eq!(s["UpdateConfig"]["Monitor"], 5_000_000_000_u64);
        assert_eq!(s["RollbackConfig"]["FailureAction"], "pause");
        assert_eq!(s["EndpointSpec"]["Mode"], "dnsrr");
        assert_eq!(s["EndpointSpec"]["Ports"][0]["PublishMode"], "host");
        assert_eq!(s["EndpointSpec"]["Ports"][0]["PublishedPort"], 18080);
        let vip = spec(&settings("vip"), &request()).expect("spec");
        assert_eq!(vip["EndpointSpec"]["Ports"][0]["PublishMode"], "ingress");
    }

    #[test]
    fn refuses_what_swarm_cannot_do() {
        let mut r = request();
        r.service.resources.disk_bytes = Some(1);
        assert!(
            matches!(spec(&settings("vip"), &r), Err(AdapterError::Invalid(m)) if m.contains("disk"))
        );
    }

    #[test]
    fn names_fit_swarm() {
        assert_eq!(service_name("Acme", "my_stack", "web"), "acme-my-stack-web");
        let long = service_name(&"o".repeat(40), &"s".repeat(40), "web");
        assert_eq!(long.len(), 63);
        assert_ne!(long, service_name(&"o".repeat(40), &"s".repeat(40), "api"));
    }

    #[test]
    fn a_spec_read_back_is_the_same() {
        let wanted = spec(&settings("dnsrr"), &request()).expect("spec");
        // What Swarm does to a spec it stores does not make it another one.
        let mut current = wanted.clone();
        current["TaskTemplate"]["ForceUpdate"] = json!(0);
        current["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"] = json!(10_000_000_000_u64);
        current["TaskTemplate"]["RestartPolicy"]["Delay"] = json!(5_000_000_000_u64);
        current["TaskTemplate"]["Networks"] =
            json!([{"Target": "wdb2ce7dj93hx", "Aliases": ["web"]}]);
        assert!(same_spec(&current, &wanted));
        current["Mode"]["Replicated"]["Replicas"] = json!(4);
        assert!(!same_spec(&current, &wanted));
        let mut other = request();
        other.service.command = Some(vec!["sleep".into(), "1".into()]);
        let other = spec(&settings("dnsrr"), &other).expect("spec");
        assert!(!same_spec(&wanted, &other));
        // A service written before the label existed is updated once.
        let mut unlabelled = wanted.clone();
        unlabelled["Labels"]
            .as_object_mut()
            .unwrap()
            .remove(SPEC_LABEL);
        assert!(!same_spec(&unlabelled, &wanted));
    }
}
