//! The engine against a real Docker daemon and a real SQLite file: declaring services,
//! scaling, restart policy with backoff, and the event log telling the story.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::time::Duration;

use common::docker::BUSYBOX;
use common::engine::{EngineScope, event_kinds, wait_event};
use windlass::lifecycle::{Backoff, RestartPolicy};
use windlass::{ContainerFilter, ContainerStatus, PortSpec, ServiceSpec};

fn sleeper(name: &str) -> ServiceSpec {
    ServiceSpec::new(name, BUSYBOX).with_command([
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ])
}

#[tokio::test]
async fn declared_services_run_scale_and_go_away() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let web = ServiceSpec::new("web", BUSYBOX)
        .with_command(["httpd", "-f", "-p", "8080", "-h", "/etc"])
        .with_port(PortSpec::tcp(8080))
        .with_memory("64Mi")
        .with_replicas(2);
    let applied = engine.apply("acme", "shop", web.clone()).await?;
    assert_eq!(applied.revision, 1);
    let report = engine.reconcile().await?;
    assert_eq!((report.created, report.started), (2, 2), "{report:?}");

    let containers = engine.containers(&ContainerFilter::default()).await?;
    assert_eq!(containers.len(), 2);
    for c in &containers {
        assert_eq!(c.status, ContainerStatus::Running);
        assert_eq!(c.state.as_deref(), Some("running"));
        assert_eq!(
            (c.org.as_str(), c.stack.as_str(), c.service.as_str()),
            ("acme", "shop", "web")
        );
        // Auto-assigned host ports are reported back and serve.
        let info = engine.inspect(&c.name).await?;
        let port = info
            .host_port(8080, windlass::Protocol::Tcp)
            .expect("an assigned host port");
        let answer = common::docker::http_get(port, "/hostname", Duration::from_secs(10)).await?;
        assert!(
            answer.starts_with("HTTP/1.") && answer.contains("200"),
            "{answer}"
        );
    }
    // A second pass has nothing to do: idempotent.
    let again = engine.reconcile().await?;
    assert_eq!(
        (again.created, again.started, again.removed),
        (0, 0, 0),
        "{again:?}"
    );

    // Applying the same spec keeps the revision, and so does scaling, which removes a replica
    // at once; a changed configuration is a new revision.
    assert_eq!(engine.apply("acme", "shop", web.clone()).await?.revision, 1);
    let scaled = engine
        .apply("acme", "shop", web.clone().with_replicas(1))
        .await?;
    assert_eq!((scaled.revision, scaled.replicas), (1, 1));
    let report = engine.reconcile().await?;
    assert_eq!(report.removed, 1, "{report:?}");
    assert_eq!(
        engine.containers(&ContainerFilter::default()).await?.len(),
        1
    );

    // Stop-first: replaced within one pass (start-first updates are in tests/rollout.rs).
    let changed = web
        .clone()
        .with_replicas(1)
        .with_env("MODE", "v2")
        .with_update(windlass::lifecycle::UpdatePolicy {
            order: windlass::lifecycle::UpdateOrder::StopFirst,
            ..Default::default()
        });
    assert_eq!(engine.apply("acme", "shop", changed).await?.revision, 2);
    let report = engine.reconcile().await?;
    assert_eq!(report.replaced, 1, "{report:?}");

    assert!(engine.remove_service("acme", "shop", "web").await?);
    engine.reconcile().await?;
    assert!(
        engine
            .containers(&ContainerFilter::default())
            .await?
            .is_empty()
    );

    let kinds = event_kinds(&engine).await?;
    for kind in [
        "service-applied",
        "network-created",
        "container-created",
        "container-started",
        "container-removed",
        "service-removed",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "no {kind} event in {kinds:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_failing_container_restarts_with_backoff_then_fails() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope
        .builder()
        .with_backoff(Backoff {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(1),
            jitter: 0.0,
            reset_after: Duration::from_secs(60),
        })
        .build()
        .await?;
    let crasher = ServiceSpec::new("crasher", BUSYBOX)
        .with_command(["sh", "-c", "sleep 0.2; exit 3"])
        .with_restart(RestartPolicy::OnFailure { max_restarts: 2 });
    engine.apply("acme", "jobs", crasher).await?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run =
        tokio::spawn(async move { runner.run(async { stopped.await.ok().unwrap_or(()) }).await });

    let failed = wait_event(&engine, "container-failed", Duration::from_secs(30), |_| {
        true
    })
    .await?;
    assert_eq!(failed.payload["exit_code"], 3);
    assert_eq!(failed.payload["restarts"], 2);
    let kinds = event_kinds(&engine).await?;
    let died = kinds.iter().filter(|k| *k == "container-died").count();
    let backoffs = kinds.iter().filter(|k| *k == "container-backoff").count();
    let restarted = kinds.iter().filter(|k| *k == "container-restarted").count();
    assert_eq!((died, backoffs, restarted), (3, 2, 2), "{kinds:?}");

    let container = &engine.containers(&ContainerFilter::default()).await?[0];
    assert_eq!(container.state.as_deref(), Some("failed"));
    assert_eq!(container.last_exit_code, Some(3));
    // A failed slot stays down: more passes change nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        engine.containers(&ContainerFilter::default()).await?[0].status,
        ContainerStatus::Exited
    );

    stop.send(()).ok();
    run.await??;
    Ok(())
}

#[tokio::test]
async fn docker_events_wake_the_engine_when_a_container_dies() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope
        .builder()
        .with_resync_interval(Duration::from_secs(600))
        .build()
        .await?;
    engine
        .apply(
            "acme",
            "svc",
            sleeper("worker").with_restart(RestartPolicy::Always),
        )
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run =
        tokio::spawn(async move { runner.run(async { stopped.await.ok().unwrap_or(()) }).await });
    wait_event(
        &engine,
        "container-started",
        Duration::from_secs(10),
        |_| true,
    )
    .await?;

    // Kill it behind the engine's back; with a 10-minute resync only the event stream can tell.
    let runtime = common::docker::connect().await?;
    let name = engine.containers(&ContainerFilter::default()).await?[0]
        .name
        .clone();
    runtime.kill_container(&name, None).await?;
    let restarted = wait_event(
        &engine,
        "container-restarted",
        Duration::from_secs(15),
        |_| true,
    )
    .await?;
    assert_eq!(restarted.container.as_deref(), Some(name.as_str()));
    let died = wait_event(&engine, "container-died", Duration::from_secs(1), |_| true).await?;
    assert_eq!(died.payload["exit_code"], 137);

    stop.send(()).ok();
    run.await??;
    Ok(())
}

#[tokio::test]
async fn bad_declarations_are_refused_naming_the_field() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let error = engine
        .apply(
            "acme",
            "shop",
            ServiceSpec::new("web", BUSYBOX).with_memory("a lot"),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "validation");
    let message = error.to_string();
    assert!(
        message.contains("memory") && message.contains("a lot"),
        "{message}"
    );
    let error = engine
        .apply("Acme!", "shop", sleeper("web"))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("org"), "{error}");
    assert!(
        engine.services(windlass::Scope::All).await?.is_empty(),
        "nothing was stored"
    );
    Ok(())
}

#[tokio::test]
async fn an_operator_stop_holds_until_start_and_bad_transitions_conflict() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    engine
        .apply(
            "acme",
            "ops",
            sleeper("worker").with_restart(RestartPolicy::Always),
        )
        .await?;
    engine.reconcile().await?;
    let name = engine.containers(&ContainerFilter::default()).await?[0]
        .name
        .clone();

    let conflict = engine.start(&name).await.unwrap_err();
    assert_eq!(conflict.code(), "conflict", "{conflict}");

    engine.stop(&name).await?;
    // `always` would restart an exit; a stop by the operator is not an exit.
    for _ in 0..3 {
        engine.reconcile().await?;
    }
    let stopped = &engine.containers(&ContainerFilter::default()).await?[0];
    assert_eq!(
        (stopped.status.clone(), stopped.state.as_deref()),
        (ContainerStatus::Exited, Some("stopped"))
    );

    engine.start(&name).await?;
    engine.restart(&name).await?;
    let running = &engine.containers(&ContainerFilter::default()).await?[0];
    assert_eq!(
        (running.status.clone(), running.state.as_deref()),
        (ContainerStatus::Running, Some("running"))
    );
    let kinds = event_kinds(&engine).await?;
    for kind in ["container-stopped", "container-restarted"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    let missing = engine.stop("wl_nobody_x_y_z_0").await.unwrap_err();
    assert_eq!(missing.code(), "not-found");
    Ok(())
}
