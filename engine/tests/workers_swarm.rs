//! Workers of a Docker Swarm target, through the engine, on the real three-node swarm of
//! `scripts/swarm-harness.sh`: the engine lists the nodes as workers with their heartbeat
//! verdict; draining one moves its task and the engine reports the move
//! (`container-migrated`); stopping a worker's dockerd makes it `worker-unhealthy` within the
//! configured timeout (plus the time Swarm takes to see it down) and its task's move is
//! reported; started again it is `worker-recovered`; the join command holds a token that
//! rotation replaces. The service is placed on the swarm by the engine (`target = "swarm"`).
//!
//! Needs the harness up (`scripts/test.sh` and `.ci/run` bring it up); without it the test
//! fails with that instruction. It stops and drains nodes, so it is the only test here.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use windlass::plugins::types::DeploymentRef;
use windlass::plugins::{CloudAdapter, PluginHost};
use windlass::stacks::StackSpec;
use windlass::workers::{Availability, Worker, WorkerHealth, WorkerRole, WorkersConfig};
use windlass::{Engine, Event, ServiceSpec};
use windlass_test_support::engine::{EngineScope, wait_event};
use windlass_test_support::swarm::{engine_with_workers, harness, remove_org};

const ORG: &str = "workers";
const HTTPD: &[&str] = &["httpd", "-f", "-p", "8080", "-h", "/"];
const UNHEALTHY_AFTER: Duration = Duration::from_secs(6);

/// The worker labelled `windlass.harness=NAME` (the nodes share one hostname).
fn harness_worker<'a>(workers: &'a [Worker], name: &str) -> &'a Worker {
    workers
        .iter()
        .find(|w| w.labels.get("windlass.harness").map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no worker labelled windlass.harness={name}: {workers:#?}"))
}

/// Where the deployment's running tasks are (node ids).
async fn task_nodes(adapter: &CloudAdapter, d: &DeploymentRef) -> Vec<String> {
    let status = adapter.status(d).await.unwrap().unwrap();
    status
        .tasks
        .iter()
        .filter(|t| t.state == "running" && t.desired_state == "running")
        .filter_map(|t| t.node_id.clone())
        .collect()
}

async fn until_tasks(
    adapter: &CloudAdapter,
    d: &DeploymentRef,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let nodes = task_nodes(adapter, d).await;
        if done(&nodes) {
            return nodes;
        }
        assert!(Instant::now() < deadline, "{what}: tasks on {nodes:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn about(worker: &Worker) -> impl Fn(&Event) -> bool + '_ {
    move |e| e.payload["worker"] == worker.id.as_str()
}

fn migrated_from(worker: &Worker) -> impl Fn(&Event) -> bool + '_ {
    move |e| e.payload["from_worker"] == worker.id.as_str()
}

async fn scenario(engine: &Engine, adapter: &CloudAdapter) -> anyhow::Result<()> {
    // The three nodes are the engine's workers, judged healthy by the heartbeat.
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers = loop {
        let workers = engine.workers(None).await?;
        if workers.len() == 3 && workers.iter().all(|w| w.health == WorkerHealth::Healthy) {
            break workers;
        }
        assert!(Instant::now() < deadline, "workers: {workers:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let managers = workers
        .iter()
        .filter(|w| w.role == WorkerRole::Manager)
        .count();
    assert_eq!(managers, 1, "{workers:#?}");
    assert!(workers.iter().all(|w| w.target == "swarm"
        && w.status == "ready"
        && w.availability == Availability::Active
        && w.cpu_millis > 0
        && w.memory_bytes > 0
        && w.last_ready_ms.is_some()));
    let (n2, n3) = (
        harness_worker(&workers, "n2").clone(),
        harness_worker(&workers, "n3").clone(),
    );
    assert_eq!(engine.worker_targets(), ["swarm"]);

    // Three replicas placed on the swarm by the engine: one per worker.
    let mut stack = StackSpec::new().with_service(
        ServiceSpec::new("web", windlass_test_support::docker::BUSYBOX)
            .with_command(HTTPD.iter().copied())
            .with_replicas(3),
    );
    stack.target = Some("swarm".into());
    engine
        .deploy_stack(ORG, "site", &stack, &Default::default())
        .await?;
    let placed = wait_event(
        engine,
        "placement-deployed",
        Duration::from_secs(60),
        |_| true,
    )
    .await?;
    let d = DeploymentRef {
        id: placed.payload["deployment"].as_str().unwrap().to_owned(),
        name: placed.payload["name"].as_str().unwrap().to_owned(),
    };
    until_tasks(adapter, &d, "one task per node", |n| {
        n.len() == 3 && n.contains(&n2.id) && n.contains(&n3.id)
    })
    .await;
    // The heartbeat has seen where they run before anything moves.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Drain n3 by a unique prefix of its id: its task moves, and the engine says where.
    let drained = engine
        .set_worker_availability(None, &n3.id[..8], Availability::Drain)
        .await?;
    assert_eq!(
        (drained.id.as_str(), drained.availability),
        (n3.id.as_str(), Availability::Drain)
    );
    let changed = wait_event(
        engine,
        "worker-availability-changed",
        Duration::from_secs(5),
        about(&n3),
    )
    .await?;
    assert_eq!(
        (&changed.payload["from"], &changed.payload["to"]),
        (&"active".into(), &"drain".into())
    );
    let started = Instant::now();
    let moved = wait_event(
        engine,
        "container-migrated",
        Duration::from_secs(120),
        migrated_from(&n3),
    )
    .await?;
    eprintln!(
        "drain: the move reported after {:?}: {}",
        started.elapsed(),
        moved.payload
    );
    assert_eq!(
        (
            moved.org.as_deref(),
            moved.stack.as_deref(),
            moved.service.as_deref()
        ),
        (Some(ORG), Some("site"), Some("web"))
    );
    assert_ne!(moved.payload["to_worker"], n3.id.as_str());
    // The slot's name: the Swarm service `{org}-{stack}-{service}` and the slot number.
    assert!(
        moved
            .container
            .as_deref()
            .unwrap()
            .starts_with("workers-site-web."),
        "{moved:?}"
    );
    let on = until_tasks(adapter, &d, "nothing on n3", |n| {
        n.len() == 3 && !n.contains(&n3.id)
    })
    .await;
    assert!(on.contains(&moved.payload["to_worker"].as_str().unwrap().to_owned()));
    engine
        .set_worker_availability(None, &n3.id, Availability::Active)
        .await?;

    // Stop n2's dockerd: unhealthy once the manager stops seeing it ready for the timeout, and
    // its task's move is reported.
    until_tasks(adapter, &d, "a task on n2", |n| n.contains(&n2.id)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    harness(&["stop-node", "n2"]).await?;
    // Its dockerd is gone from here.
    let stopped = Instant::now();
    let unhealthy = wait_event(
        engine,
        "worker-unhealthy",
        Duration::from_secs(120),
        about(&n2),
    )
    .await;
    let unhealthy_after = stopped.elapsed();
    let down = engine.workers(None).await?;
    let migrated = wait_event(
        engine,
        "container-migrated",
        Duration::from_secs(120),
        migrated_from(&n2),
    )
    .await;
    let migrated_after = stopped.elapsed();
    harness(&["start-node", "n2"]).await?;
    let unhealthy = unhealthy?;
    let migrated = migrated?;
    eprintln!(
        "stop: dockerd stopped in {:?}, then worker-unhealthy after {unhealthy_after:?} ({}), \
         the move reported after {migrated_after:?}",
        stopped - stopping,
        unhealthy.payload
    );
    assert_eq!(harness_worker(&down, "n2").health, WorkerHealth::Unhealthy);
    assert_ne!(harness_worker(&down, "n2").status, "ready");
    assert!(
        unhealthy.payload["not_ready_for_ms"].as_u64().unwrap()
            >= u64::try_from(UNHEALTHY_AFTER.as_millis()).unwrap()
    );
    assert_ne!(migrated.payload["to_worker"], n2.id.as_str());
    let recovered = wait_event(
        engine,
        "worker-recovered",
        Duration::from_secs(120),
        about(&n2),
    )
    .await?;
    assert!(recovered.payload["not_ready_for_ms"].as_u64().unwrap() > 0);
    let back = engine.workers(None).await?;
    assert_eq!(harness_worker(&back, "n2").health, WorkerHealth::Healthy);

    // The join command, and a rotation that replaces its token.
    let join = engine.join_command(None, WorkerRole::Worker).await?;
    assert!(
        join.command
            .starts_with("docker swarm join --token SWMTKN-")
            && join.command.ends_with(&join.manager_address),
        "{join:?}"
    );
    let rotated = engine
        .rotate_join_token(Some("swarm"), WorkerRole::Worker)
        .await?;
    assert_ne!(rotated.command, join.command);
    assert_eq!(rotated.manager_address, join.manager_address);
    wait_event(engine, "join-token-rotated", Duration::from_secs(5), |e| {
        e.payload["role"] == "worker"
    })
    .await?;

    // Bad names are clear errors.
    let unknown = engine
        .set_worker_availability(None, "no-such-node", Availability::Drain)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), "not-found", "{unknown}");
    let local = engine.workers(Some("local")).await.unwrap_err();
    assert_eq!(local.code(), "target-refused", "{local}");

    engine.remove_stack(ORG, "site").await?;
    wait_event(engine, "placement-removed", Duration::from_secs(60), |_| {
        true
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn swarm_nodes_are_workers_with_a_heartbeat_drain_and_migrations() -> anyhow::Result<()> {
    windlass_test_support::docker::connect_with_busybox().await?;
    let host = PluginHost::builder().build()?;
    let adapter = windlass_test_support::swarm::adapter(&host).await?;
    remove_org(&adapter, ORG).await?;
    let scope = EngineScope::new();
    let workers = WorkersConfig {
        poll_interval: Duration::from_millis(500),
        unhealthy_after: UNHEALTHY_AFTER,
    };
    let engine = engine_with_workers(&scope, &host, workers).await?;
    let runner = engine.clone();
    let task = tokio::spawn(async move { runner.run(std::future::pending()).await });
    let outcome = scenario(&engine, &adapter).await;
    task.abort();
    // Whatever happened, the swarm is left as the other tests expect it.
    let _ = harness(&["start-node", "n2"]).await;
    if let Ok(Ok(nodes)) = adapter.nodes().await {
        for n in nodes {
            let _ = adapter
                .set_availability(&n.id, windlass::plugins::types::NodeAvailability::Active)
                .await;
        }
    }
    remove_org(&adapter, ORG).await?;
    outcome
}
