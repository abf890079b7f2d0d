//! The inventory of the local Docker target: the engine's containers grouped by service, with
//! filters, pagination, count, the cache and its invalidation.

#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use windlass::ServiceSpec;
use windlass::inventory::{Health, InventoryQuery, Stage};

fn sleeper(name: &str, replicas: u32) -> ServiceSpec {
    ServiceSpec::new(name, BUSYBOX)
        .with_command([
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do sleep 1; done",
        ])
        .with_replicas(replicas)
}

#[tokio::test]
async fn local_containers_by_service_with_filters_pages_and_cache() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    engine.apply("acme", "shop", sleeper("web", 2)).await?;
    engine.apply("acme", "shop", sleeper("worker", 1)).await?;
    engine.reconcile().await?;

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let all = engine
        .inventory_with_progress(&InventoryQuery::all().with_target("local"), tx)
        .await?;
    assert_eq!(all.total, 3, "{all:?}");
    assert_eq!(all.stats.workloads_processed, 2);
    assert_eq!(all.stats.workloads_succeeded, 2);
    assert_eq!(all.stats.containers_healthy, 3);
    assert_eq!(all.stats.cache_misses, 3, "one listing and two services");
    assert!(all.stats.errors.is_empty());
    for c in &all.containers {
        assert_eq!(c.target, "local");
        assert_eq!(c.health, Health::Healthy);
        assert_eq!(c.org.as_deref(), Some("acme"));
        assert_eq!(c.scope.as_deref(), Some("shop"));
        assert_eq!(c.image, BUSYBOX);
    }
    let mut progress = Vec::new();
    while let Some(p) = rx.recv().await {
        progress.push(p);
    }
    let stages: Vec<Stage> = progress.iter().map(|p| p.stage).collect();
    assert_eq!(stages.first(), Some(&Stage::Listing));
    assert_eq!(stages.last(), Some(&Stage::Done));
    let fetching: Vec<(u64, u64)> = progress
        .iter()
        .filter(|p| p.stage == Stage::Fetching)
        .map(|p| (p.done, p.total))
        .collect();
    assert_eq!(fetching, [(0, 2), (1, 2), (2, 2)]);

    // Within the TTL: no call to Docker.
    let again = engine.inventory(&InventoryQuery::all()).await?;
    assert_eq!(again.total, 3);
    assert_eq!((again.stats.calls, again.stats.cache_hits), (0, 3));
    assert_eq!(engine.inventory_cache_size().containers, 3);

    // Filters: a service, a name pattern; count; pages of one.
    let web = engine
        .inventory(&InventoryQuery::all().with_group("web"))
        .await?;
    assert_eq!(web.total, 2);
    let worker = engine
        .inventory(&InventoryQuery::all().with_name("worker").counting())
        .await?;
    assert_eq!((worker.total, worker.containers.len()), (1, 0));
    let none = engine
        .inventory(&InventoryQuery::all().unhealthy_only())
        .await?;
    assert_eq!(none.total, 0);
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine
            .inventory(&InventoryQuery::all().with_page(1, cursor.clone()))
            .await?;
        assert!(page.containers.len() <= 1);
        seen.extend(page.containers.into_iter().map(|c| c.name));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut names: Vec<String> = all.containers.iter().map(|c| c.name.clone()).collect();
    names.sort();
    seen.sort();
    assert_eq!(seen, names);

    // A stopped container shows as unhealthy once the cache is invalidated.
    let stopped = all.containers[0].name.clone();
    common::docker::connect_with_busybox()
        .await?
        .stop_container(&stopped, std::time::Duration::from_secs(1))
        .await?;
    let cached = engine
        .inventory(&InventoryQuery::all().unhealthy_only())
        .await?;
    assert_eq!(cached.total, 0, "still cached");
    assert!(engine.invalidate_inventory(Some("local"), None) >= 3);
    let fresh = engine
        .inventory(&InventoryQuery::all().unhealthy_only())
        .await?;
    assert_eq!(fresh.total, 1, "{fresh:?}");
    assert_eq!(fresh.containers[0].name, stopped);
    assert_eq!(fresh.containers[0].state, "exited");
    Ok(())
}

#[tokio::test]
async fn a_malformed_query_names_its_field() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let error = engine
        .inventory(&InventoryQuery::all().with_target("nowhere"))
        .await
        .unwrap_err();
    assert_eq!(error.field, "targets");
    let error = engine
        .inventory(&InventoryQuery::all().with_image("["))
        .await
        .unwrap_err();
    assert_eq!(error.field, "image");
    Ok(())
}
