//! Placement: a stack declared on the `swarm` target runs on the real three-node swarm of
//! `scripts/swarm-harness.sh` through the engine's placement pass, not as local containers.
//! Shown: the replicas spread over the three nodes; the deployment reference is stored; a pass
//! with nothing to do only reads the status; scaling goes through the adapter; a second engine
//! on the same store (a restart) adopts the deployment instead of deploying it twice; a
//! deployment with this engine's label that no placement names is removed; a new revision that
//! never stays up is rolled back by the platform and reported as `placement-rolled-back`;
//! features the target cannot run are refused when declared, naming the field, with nothing
//! stored; removing the stack removes the swarm service.
//!
//! Passes are run by hand (`Engine::place_now`) so that each step's effect is known; `run`
//! runs the same pass on a timer and after each declaration. Needs the harness up
//! (`scripts/test.sh` and `.ci/run` bring it up); without it the test fails with that
//! instruction.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use windlass::plugins::types::{DeployRequest, DeploymentStatus};
use windlass::plugins::{CloudAdapter, PluginHost};
use windlass::stacks::StackSpec;
use windlass::{ContainerFilter, Engine, EngineError, EventFilter, ServiceSpec};
use windlass_test_support::engine::EngineScope;
use windlass_test_support::swarm::{engine_with_workers, remove_org};

const ORG: &str = "placed";
const HTTPD: &[&str] = &["httpd", "-f", "-p", "8080", "-h", "/"];

fn web(command: &[&str], replicas: u32) -> ServiceSpec {
    let mut web = ServiceSpec::new("web", windlass_test_support::docker::BUSYBOX)
        .with_command(command.iter().copied())
        .with_replicas(replicas);
    web.cpu = Some("100m".into());
    web.memory = Some("32Mi".into());
    web.update.min_healthy_ms = 4_000;
    web
}

fn on_swarm(service: ServiceSpec) -> StackSpec {
    let mut stack = StackSpec::new().with_service(service);
    stack.target = Some("swarm".into());
    stack
}

/// Polls the placed service's status until `done` holds.
async fn until_status(
    engine: &Engine,
    what: &str,
    timeout: Duration,
    done: impl Fn(&DeploymentStatus) -> bool,
) -> DeploymentStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let status = engine.placement_status(ORG, "shop", "web").await.unwrap();
        if done(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn kinds(engine: &Engine) -> Vec<String> {
    let filter = EventFilter {
        org: Some(ORG.into()),
        ..EventFilter::default()
    };
    let events = engine.event_log().query(&filter).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

async fn scenario(
    scope: &EngineScope,
    host: &PluginHost,
    adapter: &CloudAdapter,
) -> anyhow::Result<()> {
    let workers = windlass::workers::WorkersConfig::default();
    let engine = engine_with_workers(scope, host, workers).await?;

    // Declared on the swarm: the placement pass deploys it, the reconciler leaves it alone.
    engine
        .deploy_stack(ORG, "shop", &on_swarm(web(HTTPD, 3)), &Default::default())
        .await?;
    let report = engine.place_now().await?;
    assert_eq!((report.deployed, report.errors.len()), (1, 0), "{report:?}");
    let placements = engine.placements().await?;
    assert_eq!(placements.len(), 1, "{placements:?}");
    let placed = &placements[0];
    assert_eq!(
        (placed.target.as_str(), placed.revision, placed.replicas),
        ("swarm", 1, 3)
    );
    let status = until_status(&engine, "3 running", Duration::from_secs(90), |s| {
        s.running_replicas == 3
    })
    .await;
    let nodes: HashSet<_> = status
        .tasks
        .iter()
        .filter(|t| t.state == "running")
        .filter_map(|t| t.node_id.clone())
        .collect();
    assert_eq!(nodes.len(), 3, "spread over the three nodes: {status:#?}");
    // No local container: the engine's list shows the swarm's tasks, with target and node.
    engine.reconcile().await?;
    let listed = engine
        .containers(&ContainerFilter {
            org: Some(ORG.into()),
            ..ContainerFilter::default()
        })
        .await?;
    let running: Vec<_> = listed
        .iter()
        .filter(|c| c.status == windlass::ContainerStatus::Running)
        .collect();
    assert_eq!(running.len(), 3, "{listed:#?}");
    assert!(
        listed
            .iter()
            .all(|c| c.target == "swarm" && c.service == "web" && c.revision == Some(1)),
        "{listed:#?}"
    );
    let listed_nodes: HashSet<_> = running.iter().filter_map(|c| c.node.clone()).collect();
    assert_eq!(listed_nodes, nodes, "{listed:#?}");
    let stacks = engine.stacks(Some(ORG)).await?;
    let listed_web = &stacks[0].services[0];
    assert_eq!(
        (listed_web.target.as_str(), listed_web.running),
        ("swarm", 3),
        "{stacks:#?}"
    );

    // Nothing to do: the pass reads the status and reports the phase once.
    let report = engine.place_now().await?;
    assert_eq!((report.deployed, report.checked), (0, 1), "{report:?}");
    engine.place_now().await?;
    engine.event_log().flush().await?;
    let seen = kinds(&engine).await;
    assert_eq!(
        seen.iter().filter(|k| *k == "placement-deployed").count(),
        1
    );
    assert_eq!(
        seen.iter().filter(|k| *k == "placement-phase").count(),
        1,
        "{seen:?}"
    );

    // Scaling is the adapter's scale, not a new deployment.
    engine.scale(ORG, "shop", "web", 4).await?;
    let report = engine.place_now().await?;
    assert_eq!((report.scaled, report.deployed), (1, 0), "{report:?}");
    until_status(&engine, "4 running", Duration::from_secs(90), |s| {
        s.desired_replicas == 4 && s.running_replicas == 4
    })
    .await;

    // A restarted engine (same id, same store) adopts what the swarm runs.
    let restarted = engine_with_workers(scope, host, workers).await?;
    let report = restarted.place_now().await?;
    assert_eq!(
        (report.deployed, report.removed, report.checked),
        (0, 0, 1),
        "{report:?}"
    );
    let ours = adapter
        .list_deployments(&[("dev.windlass.org".into(), ORG.into())])
        .await??;
    assert_eq!(ours.len(), 1, "no second service: {ours:?}");

    // A deployment with this engine's label that no placement names is an orphan.
    let stray = DeployRequest::new(
        ORG,
        "stray",
        windlass_test_support::swarm::busybox_service("left", 1, HTTPD),
    )
    .with_label("dev.windlass.engine", engine.id())
    .with_label("dev.windlass.org", ORG);
    adapter.deploy(&stray).await??;
    let report = restarted.place_now().await?;
    assert_eq!(report.removed, 1, "{report:?}");
    let ours = adapter
        .list_deployments(&[("dev.windlass.org".into(), ORG.into())])
        .await??;
    assert_eq!(ours.len(), 1, "the stray service is gone: {ours:?}");

    // A revision that exits a second after it starts: the swarm rolls it back by itself.
    let started = Instant::now();
    engine
        .deploy_stack(
            ORG,
            "shop",
            &on_swarm(web(&["sh", "-c", "sleep 1; exit 3"], 4)),
            &Default::default(),
        )
        .await?;
    let report = engine.place_now().await?;
    assert_eq!(report.deployed, 1, "{report:?}");
    assert_eq!(engine.placements().await?[0].revision, 2);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        engine.place_now().await?;
        engine.event_log().flush().await?;
        if kinds(&engine)
            .await
            .iter()
            .any(|k| k == "placement-rolled-back")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no rollback: {:#?}",
            engine.placement_status(ORG, "shop", "web").await
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("rolled back by the swarm in {:?}", started.elapsed());
    let status = until_status(&engine, "4 running again", Duration::from_secs(120), |s| {
        s.running_replicas == 4
    })
    .await;
    assert_eq!(status.update_state.as_deref(), Some("rollback_completed"));

    // What the target cannot run is refused at declaration, naming the field; nothing stored.
    let before = engine.services(windlass::Scope::All).await?;
    let mut gated = web(HTTPD, 1);
    gated.depends_on.push(windlass::stacks::Dependency::new(
        "db",
        windlass::stacks::Condition::Started,
    ));
    let mut probed = web(HTTPD, 1);
    probed
        .health_checks
        .push(windlass::health::HealthCheck::new(
            windlass::health::CheckKind::Readiness,
            windlass::health::Probe::Tcp { port: 8080 },
        ));
    for (spec, field) in [
        (on_swarm(probed), "services.web.health_checks[0]"),
        (
            on_swarm(web(HTTPD, 1).on_target("elsewhere")),
            "services.web.target",
        ),
    ] {
        match engine
            .deploy_stack(ORG, "refused", &spec, &Default::default())
            .await
        {
            Err(EngineError::InvalidSpec(e)) => assert_eq!(e.field, field, "{e:?}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    let mut stack = on_swarm(gated);
    stack.services.push(ServiceSpec::new(
        "db",
        windlass_test_support::docker::BUSYBOX,
    ));
    match engine
        .deploy_stack(ORG, "refused", &stack, &Default::default())
        .await
    {
        Err(e) => assert!(e.to_string().contains("depends_on"), "{e}"),
        Ok(d) => panic!("a gated service on the swarm was accepted: {d:?}"),
    }
    assert_eq!(engine.services(windlass::Scope::All).await?, before);

    // Removing the stack removes the swarm service and forgets the placement.
    engine.remove_stack(ORG, "shop").await?;
    let report = engine.place_now().await?;
    assert_eq!(report.removed, 1, "{report:?}");
    assert!(engine.placements().await?.is_empty());
    let ours = adapter
        .list_deployments(&[("dev.windlass.org".into(), ORG.into())])
        .await??;
    assert!(ours.is_empty(), "{ours:?}");
    Ok(())
}

#[tokio::test]
async fn a_stack_on_the_swarm_target_is_deployed_scaled_adopted_rolled_back_and_removed()
-> anyhow::Result<()> {
    windlass_test_support::docker::connect_with_busybox().await?;
    let host = PluginHost::builder().build()?;
    let adapter = windlass_test_support::swarm::adapter(&host).await?;
    remove_org(&adapter, ORG).await?;
    let scope = EngineScope::new();
    let outcome = scenario(&scope, &host, &adapter).await;
    remove_org(&adapter, ORG).await?;
    outcome
}
