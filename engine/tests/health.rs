//! Engine-side probes against real containers: HTTP (status range, body), TCP and exec, run
//! from the engine against the container's address on its stack network — or, in-network,
//! from a probe container on that network (its lifecycle too).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::time::Duration;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use windlass::health::Probe;
use windlass::{ContainerFilter, ServiceSpec};

const TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn http_tcp_and_exec_probes_judge_a_real_container() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let name = judge_a_real_container(&engine).await?;

    // A stopped container has no address: unhealthy, saying why.
    engine.stop(&name).await?;
    let stopped = engine
        .probe(&name, &Probe::Tcp { port: 8080 }, TIMEOUT)
        .await?;
    assert!(
        !stopped.healthy && stopped.detail.contains("no network address"),
        "{stopped:?}"
    );
    Ok(())
}

#[tokio::test]
async fn in_network_probes_judge_alike_from_a_probe_container_that_goes_with_the_network()
-> anyhow::Result<()> {
    use windlass::health::{LABEL_PROBE, ProbeMode};
    use windlass::labels::LABEL_ENGINE;

    let scope = EngineScope::new();
    let runtime = common::docker::connect_with_busybox().await?;
    let engine = scope
        .builder()
        .with_probe_mode(ProbeMode::InNetwork)
        .with_probe_image(BUSYBOX)
        .build()
        .await?;
    judge_a_real_container(&engine).await?;

    // One probe container, on the stack's network; not a container of any service.
    let probes = || async {
        anyhow::Ok(
            runtime
                .list_containers(&[(LABEL_ENGINE, scope.id.as_str()), (LABEL_PROBE, "true")])
                .await?,
        )
    };
    let found = probes().await?;
    assert_eq!(found.len(), 1, "{found:?}");
    let info = runtime.inspect_container(&found[0].id).await?;
    let network = format!("wl_{}_acme_probe", scope.id);
    assert!(info.networks.contains_key(&network), "{info:?}");
    let listed = engine.containers(&ContainerFilter::default()).await?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    // Passes leave it alone (it is no orphan)...
    engine.reconcile().await?;
    assert_eq!(probes().await?.len(), 1);

    // ...and it goes with the stack's network.
    engine.remove_stack("acme", "probe").await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        engine.reconcile().await?;
        let networks = runtime
            .list_networks(&[(LABEL_ENGINE, scope.id.as_str())])
            .await?;
        if networks.is_empty() && probes().await?.is_empty() {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "network or probe container left: {networks:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Starts httpd on 8080 in a busybox service and checks every probe kind's verdicts on it;
/// returns the container's name.
async fn judge_a_real_container(engine: &windlass::Engine) -> anyhow::Result<String> {
    // httpd serves /www on 8080; nothing listens on 9090.
    let page = "mkdir -p /www && echo 'all good' > /www/healthz && exec httpd -f -p 8080 -h /www";
    engine
        .apply(
            "acme",
            "probe",
            ServiceSpec::new("web", BUSYBOX).with_command(["sh", "-c", page]),
        )
        .await?;
    engine.reconcile().await?;
    let name = engine.containers(&ContainerFilter::default()).await?[0]
        .name
        .clone();

    // httpd needs a moment: the TCP probe tells when it listens.
    let mut listening = false;
    for _ in 0..50 {
        if engine
            .probe(&name, &Probe::Tcp { port: 8080 }, TIMEOUT)
            .await?
            .healthy
        {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listening, "httpd never accepted a connection");

    let ok = engine
        .probe(&name, &Probe::http(8080, "/healthz"), TIMEOUT)
        .await?;
    assert!(ok.healthy && ok.detail == "HTTP 200", "{ok:?}");
    eprintln!("HTTP probe took {:?}", ok.took);
    let missing = engine
        .probe(&name, &Probe::http(8080, "/nope"), TIMEOUT)
        .await?;
    assert!(
        !missing.healthy && missing.detail == "HTTP 404",
        "{missing:?}"
    );
    let wrong_body = Probe::Http {
        port: 8080,
        path: "/healthz".into(),
        status: 200..=299,
        body_contains: Some("ready".into()),
    };
    let outcome = engine.probe(&name, &wrong_body, TIMEOUT).await?;
    assert!(
        !outcome.healthy && outcome.detail.contains("ready"),
        "{outcome:?}"
    );

    let closed = engine
        .probe(&name, &Probe::Tcp { port: 9090 }, TIMEOUT)
        .await?;
    assert!(!closed.healthy, "{closed:?}");

    let exec_ok = Probe::Exec {
        command: vec!["test".into(), "-f".into(), "/www/healthz".into()],
    };
    assert!(engine.probe(&name, &exec_ok, TIMEOUT).await?.healthy);
    let exec_fail = Probe::Exec {
        command: vec!["sh".into(), "-c".into(), "echo broken >&2; exit 3".into()],
    };
    let failed = engine.probe(&name, &exec_fail, TIMEOUT).await?;
    assert!(
        !failed.healthy && failed.detail == "exit code 3: broken",
        "{failed:?}"
    );
    Ok(name)
}

#[tokio::test]
async fn a_failing_liveness_check_restarts_the_container_through_its_policy() -> anyhow::Result<()>
{
    use common::engine::wait_event;
    use windlass::health::{CheckKind, HealthCheck};
    use windlass::lifecycle::{Backoff, RestartPolicy};

    let scope = EngineScope::new();
    let engine = scope
        .builder()
        .with_backoff(Backoff {
            initial: Duration::from_millis(100),
            jitter: 0.0,
            ..Backoff::default()
        })
        .build()
        .await?;
    // The page exists at start; the test deletes it to make the endpoint fail.
    let page = "mkdir -p /www && echo alive > /www/healthz && exec httpd -f -p 8080 -h /www";
    let liveness = HealthCheck::new(CheckKind::Liveness, Probe::http(8080, "/healthz"))
        .every(Duration::from_millis(200))
        .failing_after(2);
    let readiness = HealthCheck::new(CheckKind::Readiness, Probe::Tcp { port: 8080 })
        .every(Duration::from_millis(200));
    let web = ServiceSpec::new("web", BUSYBOX)
        .with_command(["sh", "-c", page])
        .with_restart(RestartPolicy::Always)
        .with_health_check(liveness)
        .with_health_check(readiness);
    engine.apply("acme", "live", web).await?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run =
        tokio::spawn(async move { runner.run(async { stopped.await.ok().unwrap_or(()) }).await });

    let passing = wait_event(&engine, "health-changed", Duration::from_secs(20), |e| {
        e.payload["check"] == "liveness" && e.payload["to"] == "passing"
    })
    .await?;
    let name = passing.container.clone().unwrap();
    wait_event(&engine, "health-changed", Duration::from_secs(10), |e| {
        e.payload["check"] == "readiness"
    })
    .await?;
    let container = &engine.containers(&ContainerFilter::default()).await?[0];
    assert_eq!(container.ready, Some(true), "{container:?}");
    let first_id = container.id.clone();

    // The endpoint starts failing.
    let runtime = common::docker::connect().await?;
    runtime
        .exec(&name, &["rm".into(), "/www/healthz".into()], TIMEOUT)
        .await?;

    let unhealthy = wait_event(
        &engine,
        "container-unhealthy",
        Duration::from_secs(20),
        |_| true,
    )
    .await?;
    assert_eq!(unhealthy.payload["check"], "liveness");
    assert!(
        unhealthy.payload["detail"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{unhealthy:?}"
    );
    let restarted = wait_event(
        &engine,
        "container-restarted",
        Duration::from_secs(20),
        |e| e.index > unhealthy.index,
    )
    .await?;
    assert_eq!(restarted.container.as_deref(), Some(name.as_str()));
    // Same container, started again by the restart policy; its page is back, so it is live again.
    wait_event(&engine, "health-changed", Duration::from_secs(20), |e| {
        e.index > restarted.index
            && e.payload["check"] == "liveness"
            && e.payload["to"] == "passing"
    })
    .await?;
    let health = engine.health(&name).await?;
    assert_eq!(health.checks.len(), 2, "{health:?}");
    assert!(health.checks.iter().all(|c| c.last.is_some()), "{health:?}");
    assert_eq!(
        engine.containers(&ContainerFilter::default()).await?[0].id,
        first_id
    );

    stop.send(()).ok();
    run.await??;
    Ok(())
}

#[tokio::test]
async fn cpu_burnt_against_a_small_limit_is_critical_and_a_stopped_container_is_stopped()
-> anyhow::Result<()> {
    use windlass::health::{ResourceStatus, Thresholds};

    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let burner = ServiceSpec::new("burner", BUSYBOX)
        .with_command(["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"])
        .with_cpu("100m")
        .with_memory("32Mi");
    let idle = ServiceSpec::new("idle", BUSYBOX).with_command([
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    engine.apply("acme", "load", burner).await?;
    engine.apply("acme", "load", idle).await?;
    engine.reconcile().await?;
    let name = |service: &str| format!("wl_{}_acme_load_{service}_0", scope.id);

    // Pinned at a tenth of a core: about 100 % of its limit, whatever the host does.
    let burning = engine.sample(&name("burner")).await?;
    assert_eq!(burning.status, ResourceStatus::Critical, "{burning:?}");
    assert!(burning.cpu_percent.unwrap() > 80.0, "{burning:?}");
    let quiet = engine.sample(&name("idle")).await?;
    assert_eq!(quiet.status, ResourceStatus::Healthy, "{quiet:?}");

    // The same use against higher thresholds is a warning: the thresholds decide.
    let lenient = scope
        .builder()
        .with_resource_thresholds(Thresholds {
            warning_percent: 50.0,
            critical_percent: 1_000.0,
        })
        .build()
        .await?;
    assert_eq!(
        lenient.sample(&name("burner")).await?.status,
        ResourceStatus::Warning
    );

    engine.stop(&name("idle")).await?;
    let stopped = engine.sample(&name("idle")).await?;
    assert_eq!(
        (stopped.status, stopped.cpu_percent),
        (ResourceStatus::Stopped, None)
    );
    Ok(())
}

/// Busy for 600 ms of every second under a fifth of a core: about 60 % of its limit, until
/// `/tmp/full` exists; then busy all the time: 100 % of its limit. Shell builtins only, so the
/// load is the loop itself.
const DUTY_CYCLE: &str = r#"trap 'exit 0' TERM
now() { read up rest < /proc/uptime; t=${up%.*}${up#*.}; }
while [ ! -f /tmp/full ]; do
  now; end=$((t + 60))
  while [ "$t" -lt "$end" ]; do now; done
  usleep 400000
done
exec sh -c "trap 'exit 0' TERM; while :; do :; done""#;

#[tokio::test]
async fn cpu_load_turns_warning_then_critical_on_the_stats_stream_and_a_stopped_container_is_stopped()
-> anyhow::Result<()> {
    use common::engine::wait_event;
    use windlass::health::{ResourceStatus, Thresholds};

    let scope = EngineScope::new();
    common::docker::connect_with_busybox().await?;
    let engine = scope
        .builder()
        .with_resource_thresholds(Thresholds {
            warning_percent: 40.0,
            critical_percent: 90.0,
        })
        .build()
        .await?;
    let burner = ServiceSpec::new("burner", BUSYBOX)
        .with_command(["sh", "-c", DUTY_CYCLE])
        .with_cpu("200m")
        .with_memory("32Mi");
    engine.apply("acme", "load", burner).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run =
        tokio::spawn(async move { runner.run(async { stopped.await.ok().unwrap_or(()) }).await });

    let warning = wait_event(
        &engine,
        "resource-status-changed",
        Duration::from_secs(30),
        |e| e.payload["to"] == "warning",
    )
    .await?;
    assert_eq!(warning.payload["from"], "healthy", "{warning:?}");
    let cpu = warning.payload["cpu_percent"].as_f64().unwrap();
    assert!((40.0..90.0).contains(&cpu), "{warning:?}");
    let name = warning.container.clone().unwrap();
    let report = engine.health(&name).await?;
    assert_eq!(report.service, "burner");
    assert!(
        report.resources.cpu_percent.is_some() && report.resources.memory_bytes > 0,
        "{report:?}"
    );

    // Full load from now on.
    let runtime = common::docker::connect().await?;
    runtime
        .exec(&name, &["touch".into(), "/tmp/full".into()], TIMEOUT)
        .await?;
    let critical = wait_event(
        &engine,
        "resource-status-changed",
        Duration::from_secs(30),
        |e| e.index > warning.index && e.payload["to"] == "critical",
    )
    .await?;
    assert_eq!(critical.payload["from"], "warning", "{critical:?}");
    assert!(critical.payload["cpu_percent"].as_f64().unwrap() >= 90.0);
    assert_eq!(
        engine.health(&name).await?.resources.status,
        ResourceStatus::Critical
    );

    stop.send(()).ok();
    run.await??;
    engine.stop(&name).await?;
    let report = engine.health(&name).await?;
    assert_eq!(
        (report.resources.status, report.resources.cpu_percent),
        (ResourceStatus::Stopped, None),
        "{report:?}"
    );
    Ok(())
}

common::db::backend_tests!(snapshots_record_health_and_disk_use_and_are_pruned_past_retention);

/// Runs on both backends: the snapshots table is per-backend SQL.
async fn snapshots_record_health_and_disk_use_and_are_pruned_past_retention(
    db: &common::db::TestDb,
) -> anyhow::Result<()> {
    use windlass::ManualClock;
    use windlass::health::{CheckKind, CheckStatus, HealthCheck, ResourceStatus};

    const DAY: Duration = Duration::from_secs(24 * 3600);
    let scope = EngineScope::new();
    common::docker::connect_with_busybox().await?;
    let clock = ManualClock::starting_now();
    let engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_clock(std::sync::Arc::new(clock.clone()))
        .with_snapshot_retention(7 * DAY)
        .build()
        .await?;
    // 100 kB in a named volume, 50 kB in the writable layer.
    let writer = "head -c 100000 /dev/zero > /data/blob && head -c 50000 /dev/zero > /blob \
                  && mkdir /www && echo ok > /www/ok && exec httpd -f -p 8080 -h /www";
    let web = ServiceSpec::new("web", BUSYBOX)
        .with_command(["sh", "-c", writer])
        .with_volume("data", "/data", false)
        .with_health_check(
            HealthCheck::new(CheckKind::Readiness, Probe::http(8080, "/ok"))
                .every(Duration::from_millis(200)),
        );
    let idle = ServiceSpec::new("idle", BUSYBOX).with_command([
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    engine.apply("acme", "snap", web).await?;
    engine.apply("acme", "snap", idle).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run =
        tokio::spawn(async move { runner.run(async { stopped.await.ok().unwrap_or(()) }).await });
    common::engine::wait_event(&engine, "health-changed", Duration::from_secs(20), |e| {
        e.payload["check"] == "readiness" && e.payload["to"] == "passing"
    })
    .await?;
    let name = |service: &str| format!("wl_{}_acme_snap_{service}_0", scope.id);
    engine.stop(&name("idle")).await?;

    let t0 = windlass::Clock::now_ms(&clock);
    let first = engine.snapshot_health().await?;
    assert_eq!((first.at_ms, first.written, first.pruned), (t0, 2, 0));
    let history = engine.health_history(&name("web"), 0, i64::MAX).await?;
    assert_eq!(history.len(), 1, "{history:?}");
    let web = &history[0];
    assert_eq!((web.org.as_str(), web.service.as_str()), ("acme", "web"));
    assert_eq!(web.resources.at_ms, t0);
    assert!(web.resources.cpu_percent.is_some(), "{web:?}");
    assert!(web.resources.disk_rw_bytes.unwrap() >= 50_000, "{web:?}");
    assert!(
        web.resources.disk_volume_bytes.unwrap() >= 100_000,
        "{web:?}"
    );
    assert_eq!(web.ready, Some(true), "{web:?}");
    assert_eq!(web.checks[0].kind, CheckKind::Readiness);
    assert_eq!(web.checks[0].status, CheckStatus::Passing);
    let idle = engine.health_history(&name("idle"), 0, i64::MAX).await?;
    assert_eq!(
        idle[0].resources.status,
        ResourceStatus::Stopped,
        "{idle:?}"
    );

    clock.advance(3 * DAY);
    assert_eq!(engine.snapshot_health().await?.pruned, 0);
    clock.advance(5 * DAY);
    // Now t0 + 8 days: the first round is past the 7-day retention.
    let third = engine.snapshot_health().await?;
    assert_eq!((third.written, third.pruned), (2, 2), "{third:?}");
    let history = engine.health_history(&name("web"), 0, i64::MAX).await?;
    let times: Vec<i64> = history.iter().map(|s| s.resources.at_ms - t0).collect();
    let day_ms = DAY.as_millis() as i64;
    assert_eq!(times, [3 * day_ms, 8 * day_ms]);
    // A time range selects.
    let range = engine
        .health_history(&name("web"), t0 + 4 * day_ms, t0 + 9 * day_ms)
        .await?;
    assert_eq!(range.len(), 1);
    stop.send(()).ok();
    run.await??;
    Ok(())
}
