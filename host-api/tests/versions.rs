//! Contract versions side by side: every kind loads at 0.1.0 and at 0.2.0 in one host, and the
//! same inputs give the same answers at both versions (the 0.1.0 components in
//! `plugins/v0_1/` are built from the same sources as their 0.2.0 siblings, with the 0.1.0 SDK).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use common::{component, host, load_spec, params};
use semver::Version;
use windlass_host_api::types::{
    AdapterError, BillingPeriod, BuildOptions, ContainerFilter, DeployRequest, DeploymentPhase,
    Group, MeasuredUsage, NodeAvailability, NodeRole, QuotaDecision, Resources, UsageRecord,
    UsageSummary,
};
use windlass_host_api::{Grants, LoadError, Plugin, PluginHost, PluginKind, PluginSpec};

const V0_1: Version = Version::new(0, 1, 0);
const V0_2: Version = Version::new(0, 2, 0);

/// Loads `name` (0.2.0) and `v0-1-name` (0.1.0) into `host` with the same config, checking
/// their kind and contract version.
async fn pair(
    host: &PluginHost,
    name: &str,
    kind: PluginKind,
    config: &[(&str, &str)],
) -> [Plugin; 2] {
    let mut plugins = Vec::new();
    for (file, version) in [(name.to_owned(), V0_2), (format!("v0-1-{name}"), V0_1)] {
        let mut spec = PluginSpec::from_file(file.clone(), component(&file)).with_kind(kind);
        for (key, value) in config {
            spec = spec.with_config(*key, *value);
        }
        let plugin = load_spec(host, spec).await;
        assert_eq!(plugin.contract_version(), version, "{file}");
        assert_eq!(
            plugin.status().contract_version,
            version.to_string(),
            "{file}"
        );
        plugins.push(plugin);
    }
    plugins.try_into().unwrap()
}

#[tokio::test]
async fn a_template_answers_the_same_at_both_versions() {
    let host = host();
    let config = [("default_postgres_image", "local/postgres:15")];
    let [new, old] = pair(
        &host,
        "stack-web-postgres",
        PluginKind::StackTemplate,
        &config,
    )
    .await;
    let (new, old) = (new.stack_template().unwrap(), old.stack_template().unwrap());

    // The same parameters, but for the three that build the api from source (0.2.0 only).
    let (new_info, old_info) = (new.describe().await.unwrap(), old.describe().await.unwrap());
    let build_params = ["api_repository", "api_ref", "api_subdirectory"];
    let without_builds: Vec<_> = new_info
        .parameters
        .iter()
        .filter(|p| !build_params.contains(&p.name.as_str()))
        .cloned()
        .collect();
    assert_eq!(without_builds, old_info.parameters);
    assert_eq!(
        new_info.parameters.len(),
        old_info.parameters.len() + build_params.len()
    );
    assert_eq!(
        (&new_info.name, &new_info.description),
        (&old_info.name, &old_info.description)
    );
    let good = params(&[("db_password", "p@ss"), ("api_replicas", "2")]);
    let rendered = new.render(&good).await.unwrap().expect("renders at 0.2.0");
    assert_eq!(rendered.services.len(), 3);
    assert!(rendered.services.iter().all(|s| s.build.is_none()));
    assert_eq!(
        rendered,
        old.render(&good).await.unwrap().expect("renders at 0.1.0")
    );
    let bad = params(&[("db_password", "x"), ("api_replicas", "many")]);
    let refused = new.render(&bad).await.unwrap().unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("api_replicas"));
    assert_eq!(refused, old.render(&bad).await.unwrap().unwrap_err());
}

#[tokio::test]
async fn a_build_strategy_answers_the_same_at_both_versions() {
    let host = host();
    let [new, old] = pair(&host, "build-dockerfile", PluginKind::BuildStrategy, &[]).await;
    let (new, old) = (new.build_strategy().unwrap(), old.build_strategy().unwrap());

    let tree = tempfile::tempdir().unwrap();
    std::fs::write(
        tree.path().join("Dockerfile"),
        "FROM busybox\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\"]\n",
    )
    .unwrap();
    let detection = new
        .detect(tree.path())
        .await
        .unwrap()
        .expect("detected at 0.2.0");
    assert_eq!(detection.confidence, 100);
    assert_eq!(Some(detection), old.detect(tree.path()).await.unwrap());
    let options = BuildOptions {
        image_tag: "acme/app:1".into(),
        build_args: vec![("MODE".into(), "release".into())],
        subdirectory: None,
    };
    let plan = new
        .plan(tree.path(), &options)
        .await
        .unwrap()
        .expect("planned at 0.2.0");
    assert_eq!(plan.ports, vec![8080]);
    assert_eq!(
        plan,
        old.plan(tree.path(), &options)
            .await
            .unwrap()
            .expect("planned at 0.1.0")
    );
}

#[tokio::test]
async fn a_billing_rule_answers_the_same_at_both_versions_and_in_sessions() {
    let host = host();
    let config = [
        ("cpu_core_hour", "1.5"),
        ("memory_gib_hour", "0.25"),
        ("currency", "EUR"),
        ("quota_cpu_millis", "10000"),
    ];
    let [new, old] = pair(&host, "billing-hourly", PluginKind::BillingRule, &config).await;
    let (new, old) = (new.billing_rule().unwrap(), old.billing_rule().unwrap());

    let hour = 3_600_000;
    let record = |container: &str, cpu: u32, hours: u64| UsageRecord {
        org: "acme".into(),
        stack: "shop".into(),
        service: "web".into(),
        container: container.into(),
        resources: Resources {
            cpu_millis: Some(cpu),
            memory_bytes: Some(1 << 30),
            disk_bytes: None,
        },
        start_ms: 0,
        end_ms: hours * hour,
        // Only 0.2.0 sees it; the rule prices allocation either way.
        used: MeasuredUsage {
            cpu_core_micros: 7_000_000,
            ..MeasuredUsage::ZERO
        },
    };
    let usage = [record("a", 2000, 10), record("b", 500, 1)];
    let period = BillingPeriod {
        start_ms: 0,
        end_ms: 24 * hour,
    };
    let invoice = new
        .price(period, &usage)
        .await
        .unwrap()
        .expect("priced at 0.2.0");
    assert_eq!(invoice.total.minor, 34, "31 for CPU + 3 for memory");
    assert_eq!(
        invoice,
        old.price(period, &usage)
            .await
            .unwrap()
            .expect("priced at 0.1.0")
    );

    let current = UsageSummary {
        org: "acme".into(),
        allocated: Resources {
            cpu_millis: Some(8500),
            memory_bytes: None,
            disk_bytes: None,
        },
    };
    let more = Resources {
        cpu_millis: Some(1000),
        memory_bytes: None,
        disk_bytes: None,
    };
    let decision = new.check_quota(&current, more).await.unwrap();
    assert!(matches!(decision, QuotaDecision::Warn(_)), "{decision:?}");
    assert_eq!(decision, old.check_quota(&current, more).await.unwrap());

    // A warm session converts the same way as single calls.
    let (mut new_session, mut old_session) = (new.session(), old.session());
    for _ in 0..2 {
        assert_eq!(
            new_session.check_quota(&current, more).await.unwrap(),
            decision
        );
        assert_eq!(
            old_session.check_quota(&current, more).await.unwrap(),
            decision
        );
        assert_eq!(
            old_session.price(period, &usage).await.unwrap().unwrap(),
            invoice
        );
    }
}

#[tokio::test]
async fn an_adapter_answers_the_same_at_both_versions_and_0_2_only_functions_are_unsupported_at_0_1()
 {
    let (platform, addr) = common::LoopbackPlatform::start().await.unwrap();
    let host = host();
    let mut adapters = Vec::new();
    for (file, version) in [("adapter-loopback", V0_2), ("v0-1-adapter-loopback", V0_1)] {
        let spec = PluginSpec::from_file(file, component(file))
            .with_kind(PluginKind::CloudAdapter)
            .with_config("endpoint", format!("http://{addr}"))
            .with_grants(Grants {
                outbound_hosts: vec![addr.to_string()],
                ..Grants::default()
            });
        let plugin = load_spec(&host, spec).await;
        assert_eq!(plugin.contract_version(), version);
        adapters.push(plugin.cloud_adapter().unwrap());
    }
    let (new, old) = (&adapters[0], &adapters[1]);

    // The same request deploys the same deployment, engine labels included.
    let service = |name: &str| {
        let mut service = windlass_host_api::types::ServiceSpec {
            name: name.into(),
            image: "local/web:1".into(),
            command: None,
            env: vec![("MODE".into(), "prod".into())],
            provides: vec![],
            ports: vec![],
            volumes: vec![],
            resources: Resources {
                cpu_millis: None,
                memory_bytes: None,
                disk_bytes: None,
            },
            replicas: 2,
            depends_on: vec![],
            health_checks: vec![],
            restart: windlass_host_api::types::RestartPolicy::Always,
            labels: vec![("team".into(), "web".into())],
            build: None,
        };
        service.labels.push(("tier".into(), "front".into()));
        service
    };
    let request = |name: &str| {
        DeployRequest::new("acme", "shop", service(name)).with_label("dev.windlass.stack", "shop")
    };
    let by_new = new
        .deploy(&request("web"))
        .await
        .unwrap()
        .expect("deployed at 0.2.0");
    let by_old = old
        .deploy(&request("web"))
        .await
        .unwrap()
        .expect("deployed at 0.1.0");
    assert_eq!(by_new, by_old, "idempotent by name at both versions");
    let labels = platform.deployments.lock().unwrap()["dep-web"]
        .labels
        .clone();
    assert_eq!(
        labels.get("dev.windlass.stack").map(String::as_str),
        Some("shop")
    );
    assert_eq!(labels.get("team").map(String::as_str), Some("web"));

    old.scale(&by_old, 3)
        .await
        .unwrap()
        .expect("scaled at 0.1.0");
    let status = new.status(&by_new).await.unwrap().expect("status at 0.2.0");
    assert_eq!(
        (status.desired_replicas, status.phase),
        (3, DeploymentPhase::Running)
    );
    assert_eq!(
        status,
        old.status(&by_old).await.unwrap().expect("status at 0.1.0")
    );
    assert!(status.tasks.is_empty() && status.update_state.is_none());

    let filter = ContainerFilter {
        labels: vec![("dev.windlass.stack".into(), "shop".into())],
        name_prefix: None,
    };
    let containers = new
        .list_containers(&filter)
        .await
        .unwrap()
        .expect("listed at 0.2.0");
    assert_eq!(containers.len(), 3);
    assert!(
        containers
            .iter()
            .all(|c| c.org.is_none() && c.restarts.is_none())
    );
    assert_eq!(
        containers,
        old.list_containers(&filter)
            .await
            .unwrap()
            .expect("listed at 0.1.0")
    );

    // What each version says it can do: 0.1.0's answer comes from the host.
    let info = new.describe().await.unwrap();
    assert_eq!(
        (info.name.as_str(), info.platform.as_str()),
        ("loopback", "loopback")
    );
    let info = old.describe().await.unwrap();
    assert_eq!(info.name, "v0-1-adapter-loopback");
    assert!(
        !info.capabilities.read_only && !info.capabilities.rollback && !info.capabilities.nodes
    );

    // Every function 0.2.0 added: the host answers `unsupported` for the 0.1.0 adapter without
    // calling it (no call counted, no request sent), naming the function and the version.
    let calls_before = old.plugin().status().calls;
    let requests_before = platform.requests.lock().unwrap().len();
    let group = Group {
        id: "g".into(),
        name: "web".into(),
        scope: "shop".into(),
        kind: "standard".into(),
        suspended: false,
    };
    let answers: Vec<(&str, Result<(), AdapterError>)> = vec![
        ("rollback", old.rollback(&by_old).await.unwrap()),
        (
            "list-deployments",
            old.list_deployments(&[]).await.unwrap().map(drop),
        ),
        ("logs", old.logs(&by_old, 10).await.unwrap().map(drop)),
        (
            "ensure-network",
            old.ensure_network("acme").await.unwrap().map(drop),
        ),
        ("remove-network", old.remove_network("acme").await.unwrap()),
        ("nodes", old.nodes().await.unwrap().map(drop)),
        (
            "set-availability",
            old.set_availability("n1", NodeAvailability::Drain)
                .await
                .unwrap(),
        ),
        ("remove-node", old.remove_node("n1", false).await.unwrap()),
        (
            "join-instructions",
            old.join_instructions(NodeRole::Worker)
                .await
                .unwrap()
                .map(drop),
        ),
        (
            "rotate-join-token",
            old.rotate_join_token(NodeRole::Worker).await.unwrap(),
        ),
        (
            "list-groups",
            old.list_groups(None, None).await.unwrap().map(drop),
        ),
        (
            "list-group-containers",
            old.list_group_containers(&group).await.unwrap().map(drop),
        ),
    ];
    for (function, answer) in answers {
        match answer {
            Err(AdapterError::Unsupported(why)) => {
                assert!(why.contains(&format!("`{function}`")), "{why}");
                assert!(why.contains("windlass:plugin@0.1.0"), "{why}");
            }
            other => panic!("{function} on a 0.1.0 adapter: {other:?}"),
        }
    }
    assert_eq!(old.plugin().status().calls, calls_before);
    assert_eq!(platform.requests.lock().unwrap().len(), requests_before);

    // The 0.2.0 loopback does not do rollback either, but it says so itself (the SDK's default).
    let calls_before = new.plugin().status().calls;
    match new.rollback(&by_new).await.unwrap() {
        Err(AdapterError::Unsupported(why)) => assert!(!why.contains("0.1.0"), "{why}"),
        other => panic!("rollback on the 0.2.0 loopback: {other:?}"),
    }
    assert_eq!(new.plugin().status().calls, calls_before + 1);

    old.remove(&by_old)
        .await
        .unwrap()
        .expect("removed at 0.1.0");
    let missing = new.status(&by_new).await.unwrap().unwrap_err();
    assert!(matches!(missing, AdapterError::NotFound(_)), "{missing:?}");
    assert_eq!(missing, old.status(&by_old).await.unwrap().unwrap_err());
}

#[tokio::test]
async fn a_minor_version_the_host_does_not_have_is_refused_at_load() {
    let host = host();
    let error = host
        .load(PluginSpec::from_file(
            "future",
            component("hostile-wrong-minor"),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LoadError::IncompatibleContract { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("`future`"), "{message}");
    assert!(message.contains("windlass:plugin@0.3.0"), "{message}");
    assert!(message.contains("newer minor"), "{message}");
}
