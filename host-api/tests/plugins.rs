//! The shipped plugins, called through the real host: what each one answers.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{component, host, load, load_spec, params};
use windlass_host_api::types::{
    AdapterError, BillingPeriod, BuildOptions, ContainerFilter, DependencyCondition, DeployRequest,
    DeploymentPhase, DockerfileSource, MeasuredUsage, QuotaDecision, Resources, UsageRecord,
    UsageSummary,
};
use windlass_host_api::{Grants, PluginSpec};

#[tokio::test]
async fn web_postgres_renders_three_services_in_dependency_order() {
    let host = host();
    let spec = PluginSpec::from_file("web-postgres", component("stack-web-postgres"))
        .with_config("default_postgres_image", "local/postgres:15");
    let template = load_spec(&host, spec).await.stack_template().unwrap();

    let info = template.describe().await.unwrap();
    let password = info
        .parameters
        .iter()
        .find(|p| p.name == "db_password")
        .expect("db_password");
    assert!(
        password.secret && password.default.is_none(),
        "db_password is a required secret"
    );

    let stack = template
        .render(&params(&[("db_password", "p@ss"), ("api_replicas", "2")]))
        .await
        .unwrap()
        .expect("valid parameters render");
    let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 3);
    let service = |name: &str| stack.services.iter().find(|s| s.name == name).unwrap();
    let (db, api, web) = (service("db"), service("api"), service("web"));
    assert_eq!(db.image, "local/postgres:15");
    assert_eq!(api.replicas, 2);
    assert!(
        db.volumes
            .iter()
            .any(|v| v.target == "/var/lib/postgresql/data")
    );
    assert!(stack.volumes.iter().any(|v| v.name == db.volumes[0].volume));
    let url = db
        .provides
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .expect("db provides DATABASE_URL");
    assert!(
        url.1.starts_with("postgres://") && url.1.contains("p%40ss@db:5432/"),
        "{}",
        url.1
    );
    assert!(
        api.depends_on
            .iter()
            .any(|d| d.service == "db" && d.condition == DependencyCondition::Healthy)
    );
    assert!(web.depends_on.iter().any(|d| d.service == "api"));
    assert!(
        !api.health_checks.is_empty()
            && !db.health_checks.is_empty()
            && !web.health_checks.is_empty()
    );
}

#[tokio::test]
async fn web_postgres_names_the_bad_parameter() {
    let host = host();
    let template = load(&host, "stack-web-postgres")
        .await
        .stack_template()
        .unwrap();
    let cases = [
        (params(&[]), "missing-parameter", "db_password"),
        (
            params(&[("db_password", "x"), ("web_replicas", "many")]),
            "invalid-parameter",
            "web_replicas",
        ),
        (
            params(&[("db_password", "x"), ("web_replicas", "99")]),
            "invalid-parameter",
            "web_replicas",
        ),
        (
            params(&[("db_password", "x"), ("db_name", "Robert'); DROP")]),
            "invalid-parameter",
            "db_name",
        ),
        (
            params(&[("db_password", "x"), ("colour", "blue")]),
            "unknown-parameter",
            "colour",
        ),
    ];
    for (given, code, field) in cases {
        let error = template
            .render(&given)
            .await
            .unwrap()
            .expect_err("a bad parameter is refused");
        assert_eq!(error.code, code, "{given:?}: {}", error.message);
        assert_eq!(error.field.as_deref(), Some(field), "{given:?}");
        assert!(
            error.message.contains(field),
            "the message names the parameter: {}",
            error.message
        );
    }
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

fn options() -> BuildOptions {
    BuildOptions {
        image_tag: "acme/app:1".into(),
        build_args: vec![],
        subdirectory: None,
    }
}

#[tokio::test]
async fn build_dockerfile_detects_and_plans_from_the_tree() {
    let host = host();
    let strategy = load(&host, "build-dockerfile")
        .await
        .build_strategy()
        .unwrap();
    let source = tree(&[(
        "Dockerfile",
        "FROM busybox\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\"]\n",
    )]);
    let detection = strategy
        .detect(source.path())
        .await
        .unwrap()
        .expect("a Dockerfile is detected");
    assert_eq!(detection.confidence, 100);
    let plan = strategy
        .plan(source.path(), &options())
        .await
        .unwrap()
        .expect("a plan");
    assert_eq!(plan.dockerfile, DockerfileSource::Path("Dockerfile".into()));
    assert_eq!(plan.ports, vec![8080]);
    assert_eq!(plan.image_tag, "acme/app:1");

    let empty = tree(&[("README.md", "nothing to build")]);
    assert!(strategy.detect(empty.path()).await.unwrap().is_none());
    let error = strategy
        .plan(empty.path(), &options())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code, "no-match");
}

#[tokio::test]
async fn build_auto_recognises_five_kinds_of_tree() {
    let host = host();
    let strategy = load(&host, "build-auto").await.build_strategy().unwrap();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[
                (
                    "Cargo.toml",
                    "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n",
                ),
                ("src/main.rs", "fn main(){}"),
            ],
            "rust",
        ),
        (
            &[
                ("go.mod", "module example.com/shop\n\ngo 1.22\n"),
                ("main.go", "package main"),
            ],
            "go",
        ),
        (
            &[(
                "package.json",
                r#"{"name":"shop","scripts":{"start":"node server.js"},"dependencies":{"express":"4"}}"#,
            )],
            "node",
        ),
        (
            &[
                ("requirements.txt", "flask==3.0\n"),
                ("app.py", "from flask import Flask"),
            ],
            "python",
        ),
        (&[("index.html", "<h1>hi</h1>")], "static"),
    ];
    for (files, language) in cases {
        let source = tree(files);
        let detection = strategy
            .detect(source.path())
            .await
            .unwrap()
            .expect("detected");
        assert_eq!(detection.language, language);
        assert!(!detection.evidence.is_empty());
        let plan = strategy
            .plan(source.path(), &options())
            .await
            .unwrap()
            .expect("a plan");
        assert_eq!(plan.language, language);
        assert!(
            matches!(&plan.dockerfile, DockerfileSource::Inline(text) if text.contains("FROM"))
        );
        assert!(!plan.phases.is_empty());
    }
    let unknown = tree(&[("notes.txt", "hello")]);
    assert!(strategy.detect(unknown.path()).await.unwrap().is_none());
    let error = strategy
        .plan(unknown.path(), &options())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(error.code, "no-match");
    assert!(
        error.message.to_lowercase().contains("cargo.toml"),
        "says what it looked for: {}",
        error.message
    );
}

#[tokio::test]
async fn build_strategies_cannot_see_outside_the_mounted_tree() {
    let host = host();
    let strategy = load(&host, "build-auto").await.build_strategy().unwrap();
    // The tree's parent holds a Cargo.toml; the tree itself only a README.
    let parent = tree(&[
        (
            "Cargo.toml",
            "[package]\nname = \"x\"\nversion = \"0.1.0\"\n",
        ),
        ("inner/README.md", "hi"),
    ]);
    let detection = strategy.detect(&parent.path().join("inner")).await.unwrap();
    assert!(
        detection.is_none(),
        "the plugin saw a file outside its tree: {detection:?}"
    );
    assert!(Path::new(&parent.path().join("Cargo.toml")).exists());
}

fn hourly_spec() -> PluginSpec {
    PluginSpec::from_file("hourly", component("billing-hourly"))
        .with_config("cpu_core_hour", "1.5")
        .with_config("memory_gib_hour", "0.25")
        .with_config("currency", "EUR")
        .with_config("quota_cpu_millis", "10000")
}

#[tokio::test]
async fn billing_hourly_prices_in_integer_minor_units_rounding_half_up() {
    let host = host();
    let billing = load_spec(&host, hourly_spec())
        .await
        .billing_rule()
        .unwrap();
    let hour = 3_600_000;
    let record = |container: &str, cpu: u32, memory: u64, hours: u64| UsageRecord {
        org: "acme".into(),
        stack: "shop".into(),
        service: "web".into(),
        container: container.into(),
        resources: Resources {
            cpu_millis: Some(cpu),
            memory_bytes: Some(memory),
            disk_bytes: None,
        },
        start_ms: 0,
        end_ms: hours * hour,
        used: MeasuredUsage::ZERO,
    };
    // 2 cores for 10 h + 0.5 core for 1 h = 20.5 core-hours × 1.5 = 30.75 → 31 (half up).
    // 1 GiB for 10 h + 1 GiB for 1 h = 11 GiB-hours × 0.25 = 2.75 → 3.
    let usage = [record("a", 2000, 1 << 30, 10), record("b", 500, 1 << 30, 1)];
    let period = BillingPeriod {
        start_ms: 0,
        end_ms: 24 * hour,
    };
    let invoice = billing
        .price(period, &usage)
        .await
        .unwrap()
        .expect("an invoice");
    let amounts: Vec<i64> = invoice.lines.iter().map(|l| l.amount.minor).collect();
    assert_eq!(amounts, vec![31, 3], "{invoice:#?}");
    assert_eq!(invoice.total.minor, 34);
    assert_eq!(invoice.total.currency, "EUR");
    assert_eq!(invoice.lines[0].quantity_micros, 20_500_000);

    // Usage outside the period costs nothing.
    let later = BillingPeriod {
        start_ms: 48 * hour,
        end_ms: 72 * hour,
    };
    assert_eq!(
        billing
            .price(later, &usage)
            .await
            .unwrap()
            .unwrap()
            .total
            .minor,
        0
    );

    // A bad rate is an error naming the key.
    let bad = load_spec(&host, hourly_spec().with_config("cpu_core_hour", "cheap")).await;
    let error = bad
        .billing_rule()
        .unwrap()
        .price(period, &usage)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (error.code.as_str(), error.field.as_deref()),
        ("invalid-config", Some("cpu_core_hour"))
    );
}

#[tokio::test]
async fn billing_hourly_warns_at_80_and_90_percent_and_denies_past_the_quota() {
    let host = host();
    let billing = load_spec(&host, hourly_spec())
        .await
        .billing_rule()
        .unwrap();
    let current = UsageSummary {
        org: "acme".into(),
        allocated: Resources {
            cpu_millis: Some(7_000),
            memory_bytes: None,
            disk_bytes: None,
        },
    };
    let ask = |cpu| Resources {
        cpu_millis: Some(cpu),
        memory_bytes: None,
        disk_bytes: None,
    };
    assert_eq!(
        billing.check_quota(&current, ask(500)).await.unwrap(),
        QuotaDecision::Allow
    );
    match billing.check_quota(&current, ask(1_000)).await.unwrap() {
        QuotaDecision::Warn(reason) => assert!(reason.contains("80 %"), "{reason}"),
        other => panic!("expected a warning at 80 %, got {other:?}"),
    }
    match billing.check_quota(&current, ask(2_500)).await.unwrap() {
        QuotaDecision::Warn(reason) => assert!(reason.contains("90 %"), "{reason}"),
        other => panic!("expected a warning at 90 %, got {other:?}"),
    }
    match billing.check_quota(&current, ask(3_001)).await.unwrap() {
        QuotaDecision::Deny(reason) => {
            assert!(reason.contains("10000"), "names the limit: {reason}")
        }
        other => panic!("expected a denial past 100 %, got {other:?}"),
    }
}

#[tokio::test]
async fn the_loopback_adapter_drives_a_platform_over_granted_http() {
    let (platform, addr) = common::LoopbackPlatform::start().await.unwrap();
    let host = host();
    let spec = PluginSpec::from_file("loopback", component("adapter-loopback"))
        .with_config("endpoint", format!("http://{addr}"))
        .with_grants(Grants {
            outbound_hosts: vec![addr.to_string()],
            ..Grants::default()
        });
    let adapter = load_spec(&host, spec).await.cloud_adapter().unwrap();

    let template = load(&host, "stack-web-postgres")
        .await
        .stack_template()
        .unwrap();
    let stack = template
        .render(&params(&[("db_password", "x")]))
        .await
        .unwrap()
        .unwrap();
    let api = stack
        .services
        .into_iter()
        .find(|s| s.name == "api")
        .unwrap();
    let request = DeployRequest::new("acme", "shop", api).with_label("dev.windlass.stack", "shop");

    let deployment = adapter.deploy(&request).await.unwrap().expect("deployed");
    assert_eq!(deployment.name, "api");
    adapter
        .scale(&deployment, 3)
        .await
        .unwrap()
        .expect("scaled");
    let status = adapter.status(&deployment).await.unwrap().expect("status");
    assert_eq!(
        (status.desired_replicas, status.phase),
        (3, DeploymentPhase::Running)
    );
    let containers = adapter
        .list_containers(&ContainerFilter {
            labels: vec![("dev.windlass.stack".into(), "shop".into())],
            name_prefix: None,
        })
        .await
        .unwrap()
        .expect("listed");
    assert_eq!(containers.len(), 3);
    adapter.remove(&deployment).await.unwrap().expect("removed");
    adapter
        .remove(&deployment)
        .await
        .unwrap()
        .expect("removing twice is fine");
    let missing = adapter.status(&deployment).await.unwrap().unwrap_err();
    assert!(matches!(missing, AdapterError::NotFound(_)), "{missing:?}");
    assert!(platform.requests.lock().unwrap().len() >= 6);
}
