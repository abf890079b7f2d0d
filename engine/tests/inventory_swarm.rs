//! The inventory of a Docker Swarm target: the `adapter-swarm` component on the real three-node
//! swarm of `scripts/swarm-harness.sh`, through the engine. A service deployed through the
//! adapter is a group (its stack the scope, `replicated`), its containers one per slot on the
//! nodes Swarm chose, healthy; a service whose command keeps failing is unhealthy with its
//! task history as restarts (exit code and error); scaled to zero it has no containers; filters
//! on the stack and the service work; the cache makes a repeat free.
//!
//! Needs the harness up (`scripts/test.sh` and `.ci/run` bring it up); without it the test
//! fails with that instruction.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use windlass::inventory::{Health, InventoryConfig, InventoryQuery, InventoryReport};
use windlass::plugins::types::{DeployRequest, DeploymentRef, ServiceSpec};
use windlass::plugins::{CloudAdapter, PluginHost};
use windlass::targets::Target;
use windlass_test_support::engine::EngineScope;
use windlass_test_support::swarm::{busybox_service, remove_org};

const ORG: &str = "inventory";
const TARGET: &str = "swarm";

async fn deploy(adapter: &CloudAdapter, stack: &str, spec: ServiceSpec) -> DeploymentRef {
    let request = DeployRequest::new(ORG, stack, spec)
        .with_label("dev.windlass.org", ORG)
        .with_label("dev.windlass.stack", stack)
        .with_label("dev.windlass.test", "inventory");
    adapter.deploy(&request).await.unwrap().expect("deployed")
}

/// Runs fresh inventories of `query` until `done` holds (panics after `timeout`).
async fn until(
    engine: &windlass::Engine,
    query: &InventoryQuery,
    what: &str,
    done: impl Fn(&InventoryReport) -> bool,
) -> InventoryReport {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let report = engine.inventory(&query.clone().refreshing()).await.unwrap();
        if done(&report) {
            return report;
        }
        assert!(Instant::now() < deadline, "{what}: {report:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn swarm_services_and_their_tasks_are_the_inventory() -> anyhow::Result<()> {
    windlass_test_support::docker::connect_with_busybox().await?;
    let host = PluginHost::builder().build()?;
    let adapter = windlass_test_support::swarm::adapter(&host).await?;
    assert!(adapter.describe().await?.capabilities.inventory);
    // What an interrupted earlier run left.
    remove_org(&adapter, ORG).await?;
    let scope = EngineScope::new();
    let engine = scope
        .builder()
        .with_target(Target::adapter(
            TARGET,
            "swarm",
            windlass_test_support::swarm::adapter(&host).await?,
        ))
        .with_inventory(InventoryConfig::default())
        .build()
        .await?;
    assert!(engine.inventory_targets().contains(&TARGET.to_owned()));

    let httpd = ["httpd", "-f", "-p", "8080", "-h", "/"];
    let web = deploy(&adapter, "shop", busybox_service("web", 3, &httpd)).await;
    let crashing = deploy(
        &adapter,
        "shop",
        busybox_service("crash", 1, &["sh", "-c", "exit 3"]),
    )
    .await;
    let other = deploy(&adapter, "blog", busybox_service("web", 1, &httpd)).await;
    let shop = InventoryQuery::all().with_target(TARGET).with_scope("shop");

    // Three running replicas of web; the crashing service restarted at least twice.
    let report = until(&engine, &shop, "web 3 healthy, crash restarted", |r| {
        let healthy = r
            .containers
            .iter()
            .filter(|c| c.group.as_deref() == Some(&web.name) && c.health == Health::Healthy)
            .count();
        let restarted = r.containers.iter().any(|c| {
            c.group.as_deref() == Some(&crashing.name)
                && c.restarts.as_ref().is_some_and(|x| x.count >= 2)
        });
        healthy == 3 && restarted
    })
    .await;
    assert!(report.stats.errors.is_empty(), "{:?}", report.stats.errors);
    assert_eq!(
        report.stats.workloads_processed, 2,
        "shop's two services only"
    );
    for c in report
        .containers
        .iter()
        .filter(|c| c.group.as_deref() == Some(&web.name))
    {
        assert_eq!(
            (c.target.as_str(), c.org.as_deref(), c.scope.as_deref()),
            (TARGET, Some(ORG), Some("shop"))
        );
        assert_eq!(c.image, "windlass-test/busybox:1");
        assert_eq!((c.replicas, c.cpu_millis), (Some(3), Some(100)));
        assert!(c.location.is_some(), "{c:?}");
    }
    let nodes: BTreeSet<&str> = report
        .containers
        .iter()
        .filter_map(|c| c.location.as_deref())
        .collect();
    assert!(!nodes.is_empty());
    let crash = report
        .containers
        .iter()
        .find(|c| c.group.as_deref() == Some(&crashing.name))
        .unwrap();
    let restarts = crash.restarts.clone().unwrap();
    assert_eq!(restarts.exit_code, Some(3), "{crash:?}");
    assert!(restarts.reason.is_some(), "{crash:?}");

    // Filters: the service, unhealthy only; the other stack is not in shop's answer.
    let only_web = engine
        .inventory(&shop.clone().with_group(web.name.clone()))
        .await?;
    assert_eq!(only_web.total, 3);
    assert_eq!(only_web.stats.calls, 0, "from the cache");
    let blog = engine
        .inventory(&InventoryQuery::all().with_target(TARGET).with_scope("blog"))
        .await?;
    let groups: Vec<&str> = blog
        .containers
        .iter()
        .filter_map(|c| c.group.as_deref())
        .collect();
    assert_eq!(groups, [other.name.as_str()]);

    // Scaled to zero: no containers (the group is still listed and read).
    adapter.scale(&web, 0).await??;
    let report = until(&engine, &shop, "web scaled to zero", |r| {
        !r.containers
            .iter()
            .any(|c| c.group.as_deref() == Some(&web.name))
    })
    .await;
    assert_eq!(report.stats.workloads_succeeded, 2, "{report:#?}");

    for d in [web, crashing, other] {
        adapter.remove(&d).await??;
    }
    Ok(())
}
