//! Each sandbox property, shown with a real hostile component from `plugins/hostile/`.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{component, host, load, load_spec, params};
use windlass_host_api::types::{Resources, UsageSummary};
use windlass_host_api::{
    CallError, FailurePolicy, Grants, Limits, LoadError, PluginEventKind, PluginHost, PluginKind,
    PluginSpec,
};

fn summary() -> UsageSummary {
    UsageSummary {
        org: "acme".into(),
        allocated: Resources {
            cpu_millis: Some(1000),
            memory_bytes: None,
            disk_bytes: None,
        },
    }
}

fn request() -> Resources {
    Resources {
        cpu_millis: Some(500),
        memory_bytes: None,
        disk_bytes: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_infinite_loop_times_out_while_other_plugins_keep_serving() {
    let host = host();
    let spec = PluginSpec::from_file("loop", component("hostile-loop")).with_limits(Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let looping = load_spec(&host, spec).await.billing_rule().unwrap();
    let hourly = load_spec(
        &host,
        PluginSpec::from_file("hourly", component("billing-hourly"))
            .with_config("quota_cpu_millis", "4000"),
    )
    .await
    .billing_rule()
    .unwrap();

    let started = Instant::now();
    let stuck = tokio::spawn({
        let looping = looping.clone();
        async move { looping.check_quota(&summary(), request()).await }
    });
    // While the loop spins on one worker, the healthy plugin answers on the others.
    let mut served = 0;
    while !stuck.is_finished() {
        let decision = hourly
            .check_quota(&summary(), request())
            .await
            .expect("healthy plugin call");
        assert_eq!(decision, windlass_host_api::types::QuotaDecision::Allow);
        served += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let error = stuck.await.unwrap().unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            error,
            CallError::Timeout {
                timeout_ms: 300,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.plugin(), "loop");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(
        served >= 5,
        "the healthy plugin answered only {served} calls while the loop ran"
    );
}

#[tokio::test]
async fn fuel_stops_a_loop_when_metering_is_on() {
    let host = PluginHost::builder().with_fuel(true).build().unwrap();
    let spec = PluginSpec::from_file("loop", component("hostile-loop")).with_limits(Limits {
        fuel: Some(5_000_000),
        timeout: Duration::from_secs(10),
        ..Limits::default()
    });
    let looping = load_spec(&host, spec).await.billing_rule().unwrap();
    let error = looping
        .check_quota(&summary(), request())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            CallError::FuelExhausted {
                fuel: 5_000_000,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_its_cap_and_the_next_call_works() {
    let host = host();
    let spec = PluginSpec::from_file("bomb", component("hostile-memory")).with_limits(Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    });
    let bomb = load_spec(&host, spec).await.stack_template().unwrap();
    let error = bomb.render(&[]).await.unwrap_err();
    match &error {
        CallError::MemoryLimit {
            plugin,
            limit_bytes,
            requested_bytes,
            ..
        } => {
            assert_eq!(plugin, "bomb");
            assert_eq!(*limit_bytes, 16 << 20);
            assert!(*requested_bytes > 16 << 20);
        }
        other => panic!("expected a memory limit error, got {other}"),
    }
    // The trapped instance was dropped with its store; a new call gets a fresh one.
    let info = bomb.describe().await.expect("describe after the trap");
    assert!(!info.name.is_empty());
}

#[tokio::test]
async fn a_panic_is_a_trap_with_the_panic_message_and_a_backtrace() {
    let host = host();
    let panicking = load(&host, "hostile-panic").await.stack_template().unwrap();
    let error = panicking.render(&params(&[("x", "1")])).await.unwrap_err();
    match &error {
        CallError::Trap {
            plugin,
            function,
            guest_stderr,
            backtrace,
            ..
        } => {
            assert_eq!(plugin, "hostile-panic");
            assert_eq!(*function, "render");
            assert!(
                guest_stderr.contains("hostile-panic: render always panics"),
                "{guest_stderr}"
            );
            let backtrace = backtrace.as_deref().expect("a guest backtrace");
            assert!(
                backtrace.contains("hostile_panic"),
                "backtrace without guest frames: {backtrace}"
            );
        }
        other => panic!("expected a trap, got {other}"),
    }
    assert!(
        error
            .to_string()
            .contains("hostile-panic: render always panics")
    );
    // Same plugin, next call: fine.
    panicking
        .describe()
        .await
        .expect("describe after the panic");
}

#[tokio::test]
async fn a_huge_return_value_is_refused() {
    let host = host();
    let spec = PluginSpec::from_file("huge", component("hostile-huge"))
        .with_config("bytes", (4 << 20).to_string())
        .with_limits(Limits {
            max_output_bytes: 1 << 20,
            ..Limits::default()
        });
    let huge = load_spec(&host, spec).await.stack_template().unwrap();
    let error = huge.render(&[]).await.unwrap_err();
    assert!(
        matches!(error, CallError::OutputTooLarge { limit_bytes, .. } if limit_bytes == 1 << 20),
        "{error}"
    );
    // A small value from the same plugin passes the same check.
    let spec =
        PluginSpec::from_file("small", component("hostile-huge")).with_config("bytes", "1000");
    let small = load_spec(&host, spec).await.stack_template().unwrap();
    let stack = small
        .render(&[])
        .await
        .expect("small output")
        .expect("stack");
    assert!(!stack.services.is_empty());
}

#[tokio::test]
async fn an_http_call_to_an_ungranted_host_is_denied_before_it_leaves() {
    let (platform, addr) = common::LoopbackPlatform::start().await.unwrap();
    let host = host();
    // Granted: the platform's address. Asked for: the same host on another port.
    let target = format!("http://127.0.0.1:{}/v1/containers", addr.port() + 1);
    let spec = PluginSpec::from_file("sneaky", component("hostile-http"))
        .with_config("target", &target)
        .with_grants(Grants {
            outbound_hosts: vec![addr.to_string()],
            ..Grants::default()
        });
    let sneaky = load_spec(&host, spec).await.cloud_adapter().unwrap();
    let error = sneaky
        .list_containers(&windlass_host_api::types::ContainerFilter {
            labels: vec![],
            name_prefix: None,
        })
        .await
        .unwrap_err();
    let denied = format!("127.0.0.1:{}", addr.port() + 1);
    match &error {
        CallError::OutboundDenied { plugin, host } => {
            assert_eq!(plugin, "sneaky");
            assert_eq!(host, &denied);
        }
        other => panic!("expected a denied request, got {other}"),
    }
    let message = error.to_string();
    assert!(
        message.contains(&denied) && message.contains("grants.outbound_hosts"),
        "{message}"
    );
    assert!(
        platform.requests.lock().unwrap().is_empty(),
        "a denied request reached a server"
    );
}

#[tokio::test]
async fn a_plugin_built_against_another_major_is_refused_naming_both_versions() {
    let host = host();
    let error = host
        .load(PluginSpec::from_file(
            "old",
            component("hostile-wrong-major"),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, LoadError::IncompatibleContract { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("`old`"), "{message}");
    assert!(message.contains("windlass:plugin@1.0.0"), "{message}");
    assert!(
        message.contains(&format!(
            "windlass:plugin@{}",
            windlass_host_api::CONTRACT_VERSION
        )),
        "{message}"
    );
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_a_load_error() {
    let host = host();
    let spec = PluginSpec::new(
        "junk",
        windlass_host_api::PluginSource::Bytes(b"not wasm".to_vec().into()),
    );
    let error = host.load(spec).await.unwrap_err();
    assert!(matches!(error, LoadError::Compile { .. }), "{error}");
    assert!(error.to_string().contains("`junk`"));
    let missing = host
        .load(PluginSpec::from_file("gone", "/nonexistent/plugin.wasm"))
        .await
        .unwrap_err();
    assert!(matches!(missing, LoadError::Read { .. }), "{missing}");
    assert!(missing.to_string().contains("/nonexistent/plugin.wasm"));
}

#[tokio::test]
async fn a_kind_mismatch_is_refused() {
    let host = host();
    let spec = PluginSpec::from_file("hourly", component("billing-hourly"))
        .with_kind(PluginKind::StackTemplate);
    let error = host.load(spec).await.unwrap_err();
    assert!(
        matches!(
            error,
            LoadError::KindMismatch {
                expected: PluginKind::StackTemplate,
                found: PluginKind::BillingRule,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn the_failure_policy_disables_a_plugin_until_it_is_reloaded() {
    let host = host();
    let mut events = host.events();
    let spec = PluginSpec::from_file("flaky", component("hostile-panic")).with_failure_policy(
        FailurePolicy {
            max_consecutive_failures: 3,
        },
    );
    let plugin = load_spec(&host, spec).await;
    let template = plugin.stack_template().unwrap();
    for _ in 0..3 {
        assert!(matches!(
            template.render(&[]).await,
            Err(CallError::Trap { .. })
        ));
    }
    let error = template.describe().await.unwrap_err();
    assert!(
        matches!(error, CallError::Disabled { failures: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("reload"), "{error}");
    let status = plugin.status();
    assert_eq!(status.failures, 3);
    assert!(status.disabled.is_some());

    // The events tell the story: loaded, three failures, disabled.
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(match event.kind {
            PluginEventKind::Loaded { .. } => "loaded",
            PluginEventKind::CallFailed { .. } => "failed",
            PluginEventKind::Disabled { .. } => "disabled",
            _ => "other",
        });
    }
    assert_eq!(seen, ["loaded", "failed", "failed", "failed", "disabled"]);

    plugin.reload().await.unwrap();
    assert!(plugin.status().disabled.is_none());
    template
        .describe()
        .await
        .expect("enabled again after reload");
}

#[tokio::test]
async fn a_successful_call_resets_the_consecutive_failure_count() {
    let host = host();
    let spec = PluginSpec::from_file("flaky", component("hostile-panic")).with_failure_policy(
        FailurePolicy {
            max_consecutive_failures: 2,
        },
    );
    let template = load_spec(&host, spec).await.stack_template().unwrap();
    for _ in 0..4 {
        assert!(template.render(&[]).await.is_err());
        template
            .describe()
            .await
            .expect("a success between failures");
    }
    assert_eq!(template.plugin().status().consecutive_failures, 0);
}

#[tokio::test]
async fn environment_files_and_network_are_denied_by_default() {
    // Something to find if the sandbox leaked: the host's environment (PATH at least), its
    // files, and a server listening on loopback.
    assert!(std::env::var_os("PATH").is_some());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = tokio::spawn(async move {
        tokio::time::timeout(Duration::from_secs(2), listener.accept())
            .await
            .is_ok()
    });

    let host = host();
    let spec = PluginSpec::from_file("snoop", component("hostile-snoop"))
        .with_config("connect", addr.to_string());
    let snoop = load_spec(&host, spec).await.stack_template().unwrap();
    let stack = snoop
        .render(&[])
        .await
        .expect("the call itself succeeds")
        .expect("a report");
    let report: std::collections::HashMap<&str, &str> = stack.services[0]
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        report["ENV_VARS"], "",
        "the plugin saw environment variables"
    );
    for probe in ["READ_FILE", "LIST_ROOT", "CONNECT"] {
        assert!(
            report[probe].starts_with("denied"),
            "{probe}: {}",
            report[probe]
        );
    }
    assert!(
        !accepted.await.unwrap(),
        "the plugin reached the loopback server"
    );
}
