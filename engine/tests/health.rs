//! Engine-side probes against real containers: HTTP (status range, body), TCP and exec, run
//! from the engine against the container's address on its stack network.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

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
    let health = engine.health(&name).await.expect("monitored");
    assert!(health.checks.iter().all(|c| c.last.is_some()));
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
