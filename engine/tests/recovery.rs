//! Crash recovery: the example host app runs an engine in its own process and is killed with
//! SIGKILL; while it is down, Docker and the desired state change behind its back; a new engine
//! with the same id and store adopts, recreates, replaces and removes exactly what it owns, and
//! never touches containers of another engine or unmanaged ones on the same Docker host.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use common::docker::{BUSYBOX, TEST_RUN_LABEL, TestScope};
use common::engine::{EngineScope, wait_event};
use windlass::labels::{LABEL_ENGINE, LABEL_MANAGED, LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
use windlass::{ContainerFilter, ContainerSpec, ContainerStatus, Event, ServiceSpec};

/// The example binary cargo builds next to the tests.
fn host_app() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary location")?;
    let path = dir.join("examples").join("host_app");
    if !path.is_file() {
        bail!(
            "{} is missing: `cargo test` builds it; or run `cargo build -p windlass --example host_app`",
            path.display()
        );
    }
    Ok(path)
}

const SLEEP: [&str; 3] = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_restarted_engine_recovers_only_what_it_owns() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let runtime = common::docker::connect_with_busybox().await?;
    let foreign = TestScope::new("recovery-foreign");

    // Foreign containers on the same Docker engine: another engine's, and an unmanaged one.
    let other_engine = runtime
        .create_container(
            &foreign
                .spec("other-engine", SLEEP)
                .with_label(LABEL_MANAGED, "true")
                .with_label(LABEL_ENGINE, format!("{}-other", scope.id))
                .with_label(LABEL_ORG, "acme")
                .with_label(LABEL_STACK, "demo")
                .with_label(LABEL_SERVICE, "web"),
        )
        .await?;
    let mut unmanaged_spec = foreign.spec("unmanaged", SLEEP);
    unmanaged_spec.labels.remove(LABEL_ENGINE);
    let unmanaged = runtime.create_container(&unmanaged_spec).await?;
    for id in [&other_engine, &unmanaged] {
        runtime.start_container(id).await?;
    }

    // 1. The host app declares web×2 and worker×1 and runs them; we read its event lines.
    let mut child = Command::new(host_app()?)
        .env("WINDLASS_STORE", &scope.store_url)
        .env("WINDLASS_ENGINE_ID", &scope.id)
        .env("WINDLASS_REPLICAS", "2")
        .env("WINDLASS_IMAGE", BUSYBOX)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning the host app")?;
    let stdout = child.stdout.take().context("host app stdout")?;
    let started = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut started = 0;
        for line in BufReader::new(stdout).lines() {
            let event: Event = serde_json::from_str(&line?)?;
            if event.kind == "container-started" {
                started += 1;
                if started == 3 {
                    return Ok(started);
                }
            }
            if Instant::now() > deadline {
                break;
            }
        }
        anyhow::Ok(started)
    })
    .await??;
    assert_eq!(
        started, 3,
        "the host app did not start its three containers"
    );

    // 2. kill -9: no shutdown code runs.
    child.kill()?;
    child.wait()?;
    let name = |service: &str, slot: u32| format!("wl_{}_acme_demo_{service}_{slot}", scope.id);

    // 3. Behind the dead engine's back: a replica disappears, an owned container nobody
    //    declared shows up, and the worker's desired configuration changes.
    runtime.remove_container(&name("web", 0), true).await?;
    let ghost = runtime
        .create_container(
            &ContainerSpec::new(format!("wl_{}_acme_demo_ghost_0", scope.id), BUSYBOX)
                .with_command(SLEEP)
                .with_label(LABEL_MANAGED, "true")
                .with_label(LABEL_ENGINE, &scope.id)
                .with_label(LABEL_ORG, "acme")
                .with_label(LABEL_STACK, "demo")
                .with_label(LABEL_SERVICE, "ghost"),
        )
        .await?;
    runtime.start_container(&ghost).await?;
    let worker_before = runtime.inspect_container(&name("worker", 0)).await?.id;
    let web_1_before = runtime.inspect_container(&name("web", 1)).await?.id;
    {
        // Another handle on the same store changes the desired state without reconciling.
        let editor = scope.builder().build().await?;
        let worker = ServiceSpec::new("worker", BUSYBOX)
            .with_command(SLEEP)
            .with_cpu("250m")
            .with_env("MODE", "v2")
            .with_restart(windlass::lifecycle::RestartPolicy::Always)
            // Replaced at once (stop-first): this test is about what the first pass does.
            .with_update(windlass::lifecycle::UpdatePolicy {
                order: windlass::lifecycle::UpdateOrder::StopFirst,
                ..Default::default()
            });
        editor.apply("acme", "demo", worker).await?;
    }

    // 4. Restart the engine with the same id and store.
    let engine = scope.builder().build().await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = engine.clone();
    let run =
        tokio::spawn(async move { runner.run(async { stopped.await.ok().unwrap_or(()) }).await });

    let timeout = Duration::from_secs(30);
    let adopted = wait_event(&engine, "container-adopted", timeout, |e| {
        e.container.as_deref() == Some(&name("web", 1))
    })
    .await?;
    assert_eq!(adopted.payload["container_id"], web_1_before.as_str());
    wait_event(&engine, "container-created", timeout, |e| {
        e.container.as_deref() == Some(&name("web", 0))
            && e.index > adopted.index.saturating_sub(10)
    })
    .await?;
    let replaced = wait_event(&engine, "drift-replaced", timeout, |e| {
        e.container.as_deref() == Some(&name("worker", 0))
    })
    .await?;
    assert_eq!(replaced.payload["replaced_id"], worker_before.as_str());
    wait_event(&engine, "orphan-removed", timeout, |e| {
        e.payload["container_id"] == ghost.as_str()
    })
    .await?;

    // Exactly one running container per slot: no duplicates, nothing missing, web_1 untouched.
    let containers = engine.containers(&ContainerFilter::default()).await?;
    let names: BTreeSet<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let expected: BTreeSet<String> = [name("web", 0), name("web", 1), name("worker", 0)].into();
    assert_eq!(
        names,
        expected.iter().map(String::as_str).collect(),
        "{containers:#?}"
    );
    assert!(
        containers
            .iter()
            .all(|c| c.status == ContainerStatus::Running),
        "{containers:#?}"
    );
    assert_eq!(
        runtime.inspect_container(&name("web", 1)).await?.id,
        web_1_before
    );
    assert!(
        runtime.inspect_container(&ghost).await.is_err(),
        "the orphan is gone"
    );

    // The foreign containers are exactly as they were.
    for id in [&other_engine, &unmanaged] {
        let info = runtime.inspect_container(id).await?;
        assert_eq!(
            info.status,
            ContainerStatus::Running,
            "{} was touched",
            info.name
        );
        assert_eq!(info.labels.get(TEST_RUN_LABEL), Some(&foreign.run));
    }

    stop.send(()).ok();
    run.await??;
    Ok(())
}
