//! The inventory of a Control Plane target: the `adapter-cpln` component (built from
//! plugins/) against the Control Plane fixture server, through the engine — partial failure,
//! the cache and its invalidation, retries with and without `Retry-After`, the quota 429 not
//! retried, progress in order, statistics equal to what the fixture counted, filters and pages,
//! suspended, rolling-out and cron workloads, and the read-only refusal.

#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::time::{Duration, Instant};

use common::cpln::{CplnFixture, Fault, FixtureSpec, Workload};
use common::engine::EngineScope;
use windlass::Engine;
use windlass::inventory::{Health, InventoryConfig, InventoryQuery, RetryPolicy, Stage};
use windlass::plugins::types::{AdapterError, DeploymentRef};
use windlass::plugins::{CloudAdapter, Grants, PluginHost, PluginKind, PluginSpec};
use windlass::targets::Target;

const TARGET: &str = "cpln";

async fn adapter(fixture: &CplnFixture) -> anyhow::Result<CloudAdapter> {
    let host = PluginHost::builder().build()?;
    let spec = PluginSpec::from_file("cpln", common::plugins::component("adapter_cpln.wasm")?)
        .with_kind(PluginKind::CloudAdapter)
        .with_grants(Grants {
            outbound_hosts: vec![fixture.host()],
            ..Grants::default()
        })
        .with_config("api_url", fixture.base_url())
        .with_config("org", "acme")
        .with_config("gvc", "prod")
        .with_config("token", fixture.token());
    Ok(host.load(spec).await?.cloud_adapter().unwrap())
}

/// Fast retries (50 ms base) so tests without `Retry-After` do not wait seconds.
fn config() -> InventoryConfig {
    InventoryConfig::default().with_retry(RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(5),
    })
}

async fn engine(
    scope: &EngineScope,
    fixture: &CplnFixture,
    config: InventoryConfig,
) -> anyhow::Result<Engine> {
    common::docker::connect_with_busybox().await?;
    let adapter = adapter(fixture).await?;
    Ok(scope
        .builder()
        .with_target(Target::adapter(TARGET, "cpln", adapter))
        .with_inventory(config)
        .build()
        .await?)
}

fn cpln() -> InventoryQuery {
    InventoryQuery::all().with_target(TARGET)
}

#[tokio::test]
async fn partial_failure_with_statistics_equal_to_the_fixtures_counts() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_many("prod", 10)
            .with_page_size(3)
            .with_fault("w0003", Fault::Forbidden)
            .with_fault("w0004", Fault::ServerError(500))
            .with_fault("w0005", Fault::Missing),
    )
    .await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let target = engine.target(TARGET).unwrap();
    assert!(target.read_only && target.inventory, "{target:?}");
    assert_eq!(target.platform.as_deref(), Some("control-plane"));

    let report = engine.inventory(&cpln()).await?;
    let stats = &report.stats;
    assert_eq!(report.total, 7, "{report:#?}");
    assert_eq!(
        (
            stats.workloads_processed,
            stats.workloads_succeeded,
            stats.workloads_failed
        ),
        (10, 7, 3)
    );
    let failed: Vec<(&str, &str)> = stats
        .errors
        .iter()
        .map(|e| (e.group.as_deref().unwrap(), e.code.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("w0003", "not-found"),
            ("w0004", "unavailable"),
            ("w0005", "not-found")
        ]
    );
    // Every call the engine counted reached the fixture, and nothing else did: 4 listing pages
    // (10 workloads by 3) and one deployment read per workload.
    assert_eq!(fixture.listing_calls("prod"), 4);
    assert_eq!(stats.calls, fixture.total_calls());
    assert_eq!(stats.calls, 14);
    assert_eq!((stats.containers_found, stats.containers_healthy), (7, 7));
    for c in &report.containers {
        assert_eq!(c.target, TARGET);
        assert_eq!(c.org.as_deref(), Some("acme"));
        assert_eq!(c.scope.as_deref(), Some("prod"));
        assert_eq!(c.location.as_deref(), Some("aws-us-west-2"));
        assert_eq!(c.image, "nginx:1.27");
        assert_eq!((c.replicas, c.replicas_ready), (Some(1), Some(1)));
        assert_eq!((c.cpu_millis, c.memory_bytes), (Some(50), Some(128 << 20)));
        assert_eq!(c.current_version, Some(true));
        assert_eq!(c.health, Health::Healthy);
    }
    Ok(())
}

#[tokio::test]
async fn a_repeat_within_the_ttl_makes_no_call_until_invalidated() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(FixtureSpec::new("acme").with_many("prod", 20)).await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let first = engine.inventory(&cpln()).await?;
    assert_eq!((first.total, first.stats.cache_misses), (20, 21));
    let before = fixture.total_calls();
    assert_eq!(before, 21);

    let started = Instant::now();
    let again = engine.inventory(&cpln()).await?;
    let took = started.elapsed();
    assert_eq!(fixture.total_calls(), before, "no call within the TTL");
    assert_eq!((again.stats.calls, again.stats.cache_hits), (0, 21));
    assert_eq!(again.total, 20);
    assert!(took < Duration::from_millis(50), "{took:?}");
    let size = engine.inventory_cache_size();
    assert_eq!((size.listings, size.groups, size.containers), (1, 20, 20));

    // One workload invalidated: only its deployments are read again.
    let id = Workload::standard("prod", "w0007", "").id();
    assert_eq!(engine.invalidate_inventory(Some(TARGET), Some(&id)), 1);
    let third = engine.inventory(&cpln()).await?;
    assert_eq!(third.stats.calls, 1);
    assert_eq!(fixture.deployment_calls("prod", "w0007"), 2);
    // The whole target: everything again.
    assert_eq!(engine.invalidate_inventory(Some(TARGET), None), 21);
    let fourth = engine.inventory(&cpln()).await?;
    assert_eq!(fourth.stats.calls, 21);
    // `refresh` bypasses the cache too.
    let refreshed = engine.inventory(&cpln().refreshing()).await?;
    assert_eq!(refreshed.stats.cache_hits, 0);
    assert_eq!(fixture.total_calls(), 21 + 1 + 21 + 21);
    Ok(())
}

#[tokio::test]
async fn rate_limited_calls_are_retried_after_retry_after_or_backing_off() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_many("prod", 4)
            .with_fault(
                "w0000",
                Fault::Throttle {
                    times: 2,
                    retry_after_s: Some(1),
                },
            )
            .with_fault(
                "w0001",
                Fault::Throttle {
                    times: 2,
                    retry_after_s: None,
                },
            )
            .with_fault(
                "w0002",
                Fault::Throttle {
                    times: 10,
                    retry_after_s: None,
                },
            ),
    )
    .await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let started = Instant::now();
    let report = engine.inventory(&cpln()).await?;
    let took = started.elapsed();
    // With Retry-After: 1 s twice; without: 50 ms then 100 ms.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_eq!(fixture.deployment_calls("prod", "w0000"), 3);
    assert_eq!(fixture.deployment_calls("prod", "w0001"), 3);
    // Throttled past the attempts: 4 calls, then reported.
    assert_eq!(fixture.deployment_calls("prod", "w0002"), 4);
    assert_eq!(report.total, 3);
    let error = &report.stats.errors[0];
    assert_eq!(
        (error.group.as_deref(), error.code.as_str(), error.attempts),
        (Some("w0002"), "rate-limited", 4)
    );
    assert_eq!(report.stats.rate_limited, 2 + 2 + 4);
    assert_eq!(report.stats.calls, fixture.total_calls());
    assert_eq!(fixture.status_count(429), 8);
    Ok(())
}

#[tokio::test]
async fn a_quota_429_is_not_retried() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_many("prod", 3)
            .with_fault("w0001", Fault::Quota),
    )
    .await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let report = engine.inventory(&cpln()).await?;
    assert_eq!(fixture.deployment_calls("prod", "w0001"), 1);
    let error = &report.stats.errors[0];
    assert_eq!(
        (error.group.as_deref(), error.code.as_str(), error.attempts),
        (Some("w0001"), "quota-exceeded", 1)
    );
    assert!(error.message.to_lowercase().contains("quota"), "{error:?}");
    assert_eq!(report.stats.rate_limited, 0);
    assert_eq!(report.total, 2);
    Ok(())
}

#[tokio::test]
async fn progress_comes_in_order_and_concurrency_is_bounded() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_many("prod", 12)
            .with_page_size(5)
            .with_latency(Duration::from_millis(20)),
    )
    .await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config().with_concurrency(3)).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let report = engine.inventory_with_progress(&cpln(), tx).await?;
    assert_eq!(report.total, 12);
    let mut seen = Vec::new();
    while let Some(p) = rx.recv().await {
        seen.push((p.stage, p.done, p.total));
    }
    // Listing: the one target, then listed. Fetching starts with the first of the three pages,
    // so its total grows 5, 10, 12 while `done` rises one group at a time; Done comes last.
    let listing: Vec<_> = seen.iter().filter(|p| p.0 == Stage::Listing).collect();
    assert_eq!(listing, [&(Stage::Listing, 0, 1), &(Stage::Listing, 1, 1)]);
    assert_eq!(seen.first(), Some(&(Stage::Listing, 0, 1)));
    assert_eq!(seen.last(), Some(&(Stage::Done, 12, 12)));
    let fetching: Vec<(u64, u64)> = seen
        .iter()
        .filter(|p| p.0 == Stage::Fetching)
        .map(|p| (p.1, p.2))
        .collect();
    let mut totals: Vec<u64> = fetching.iter().map(|f| f.1).collect();
    totals.dedup();
    assert_eq!(totals, [5, 10, 12], "{seen:?}");
    let done: Vec<u64> = fetching.iter().map(|f| f.0).collect();
    assert!(
        done.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "{seen:?}"
    );
    assert_eq!(
        (done.first(), done.last()),
        (Some(&0), Some(&12)),
        "{seen:?}"
    );
    // Pipelined: groups of the first pages were fetched before the last page was read.
    let listed_at = seen.iter().position(|p| *p == (Stage::Listing, 1, 1));
    let first_done = seen.iter().position(|p| p.0 == Stage::Fetching && p.1 > 0);
    assert!(
        matches!((first_done, listed_at), (Some(a), Some(b)) if a < b),
        "{seen:?}"
    );
    assert!(fixture.max_in_flight() <= 3, "{}", fixture.max_in_flight());
    assert_eq!(fixture.max_in_flight(), 3);
    Ok(())
}

#[tokio::test]
async fn filters_and_pages() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_workload(
                Workload::standard("prod", "web", "/org/acme/image/web:1.4")
                    .in_locations(&["aws-us-west-2", "gcp-us-east1"])
                    .with_container("sidecar", "envoy:1.30"),
            )
            .with_workload(Workload::standard("prod", "api", "/org/acme/image/api:2.0"))
            .with_workload(Workload::standard(
                "staging",
                "web",
                "/org/acme/image/web:1.5",
            )),
    )
    .await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let all = engine.inventory(&cpln()).await?;
    assert_eq!(all.total, 5, "web: 2 containers × 2 locations, api: 1");

    // A group filter saves the other workloads' calls.
    fixture.reset_counters();
    engine.invalidate_inventory(None, None);
    let web = engine.inventory(&cpln().with_group("web")).await?;
    assert_eq!(web.total, 4);
    assert_eq!(fixture.deployment_calls("prod", "api"), 0);
    // Another GVC is another listing.
    let staging = engine.inventory(&cpln().with_scope("staging")).await?;
    assert_eq!(staging.total, 1);
    assert_eq!(staging.containers[0].image, "/org/acme/image/web:1.5");
    assert_eq!(fixture.listing_calls("staging"), 1);

    let glob = engine
        .inventory(&cpln().with_image("*/image/web:*"))
        .await?;
    assert_eq!(glob.total, 2);
    let exact = engine.inventory(&cpln().with_image("envoy:1.30")).await?;
    assert_eq!(exact.total, 2);
    let located = engine
        .inventory(&cpln().with_location("gcp-us-east1"))
        .await?;
    assert_eq!(located.total, 2);
    let named = engine.inventory(&cpln().with_name("^side")).await?;
    assert_eq!(named.total, 2);
    let count = engine
        .inventory(&cpln().with_org("acme").counting())
        .await?;
    assert_eq!((count.total, count.containers.len()), (5, 0));
    let other_org = engine.inventory(&cpln().with_org("other")).await?;
    assert_eq!(other_org.total, 0);

    let mut ids = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = engine
            .inventory(&cpln().with_page(2, cursor.clone()))
            .await?;
        assert_eq!(page.total, 5);
        pages += 1;
        ids.extend(page.containers.into_iter().map(|c| c.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut all_ids: Vec<String> = all.containers.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, all_ids, "pages in the inventory's order");
    all_ids.dedup();
    assert_eq!(all_ids.len(), 5);
    Ok(())
}

#[tokio::test]
async fn suspended_rolling_out_stale_and_cron_workloads() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_workload(Workload::standard("prod", "idle", "nginx:1").suspended())
            .with_workload(
                Workload::standard("prod", "edge", "nginx:1")
                    .in_locations(&["aws-us-west-2", "gcp-us-east1"])
                    .with_suspended_location("gcp-us-east1"),
            )
            .with_workload(Workload::standard("prod", "web", "nginx:1").rolling_out())
            .with_workload(Workload::standard("prod", "flaky", "nginx:1").with_stale_message())
            .with_workload(Workload::cron("prod", "nightly", "busybox:1").with_failed_job()),
    )
    .await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let report = engine.inventory(&cpln()).await?;
    assert!(report.stats.errors.is_empty(), "{:?}", report.stats.errors);
    let of = |group: &str| {
        report
            .containers
            .iter()
            .filter(|c| c.group.as_deref() == Some(group))
            .collect::<Vec<_>>()
    };

    let idle = of("idle");
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0].health, Health::Suspended);
    assert_eq!((idle[0].replicas, idle[0].replicas_ready), (Some(0), None));
    assert_eq!(idle[0].message.as_deref(), Some("Workload is suspended"));

    let edge = of("edge");
    assert_eq!(edge.len(), 2);
    let east = edge
        .iter()
        .find(|c| c.location.as_deref() == Some("gcp-us-east1"))
        .unwrap();
    assert_eq!(east.health, Health::Suspended);
    assert_eq!(east.message.as_deref(), Some("Location is suspended"));
    let west = edge
        .iter()
        .find(|c| c.location.as_deref() == Some("aws-us-west-2"))
        .unwrap();
    assert_eq!(west.health, Health::Healthy);

    let web = of("web");
    assert_eq!(web.len(), 2, "both versions during the rollout");
    let new = web
        .iter()
        .find(|c| c.current_version == Some(true))
        .unwrap();
    let old = web
        .iter()
        .find(|c| c.current_version == Some(false))
        .unwrap();
    assert_eq!(
        (new.version.as_deref(), old.version.as_deref()),
        (Some("3"), Some("2"))
    );
    assert_eq!(
        (new.health, old.health),
        (Health::Unhealthy, Health::Healthy)
    );
    assert_eq!(new.image, "nginx:1-next");

    let flaky = of("flaky");
    assert_eq!(
        flaky[0].health,
        Health::Healthy,
        "a stale message on a ready container"
    );
    let restarts = flaky[0].restarts.clone().unwrap();
    assert_eq!(
        (
            restarts.count,
            restarts.exit_code,
            restarts.reason.as_deref()
        ),
        (3, Some(137), Some("OOMKilled"))
    );
    assert!(restarts.last_ms.is_some());

    let nightly = of("nightly");
    assert_eq!(nightly.len(), 2);
    let statuses: Vec<(&str, Health)> = nightly
        .iter()
        .map(|c| (c.job_status.as_deref().unwrap(), c.health))
        .collect();
    assert!(
        statuses.contains(&("successful", Health::Healthy)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("failed", Health::Unhealthy)),
        "{statuses:?}"
    );

    let stats = &report.stats;
    assert_eq!(
        (
            stats.containers_found,
            stats.containers_healthy,
            stats.containers_unhealthy,
            stats.containers_suspended
        ),
        (8, 4, 2, 2)
    );
    let unhealthy = engine.inventory(&cpln().unhealthy_only()).await?;
    assert_eq!(unhealthy.total, 2);
    let suspended = engine
        .inventory(&cpln().with_status(Health::Suspended))
        .await?;
    assert_eq!(suspended.total, 2);
    Ok(())
}

#[tokio::test]
async fn the_read_only_target_refuses_changes_with_the_adapters_reason() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(FixtureSpec::new("acme").with_many("prod", 1)).await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    let error = engine.check_target_writable(TARGET).unwrap_err();
    assert_eq!(error.code(), "target-read-only");
    assert!(error.to_string().contains("read-only"), "{error}");
    assert!(engine.check_target_writable("local").is_ok());
    assert!(engine.check_target_writable("nowhere").is_err());
    // The adapter itself refuses too, and says why; nothing reached Control Plane.
    let adapter = engine
        .target(TARGET)
        .unwrap()
        .cloud_adapter()
        .unwrap()
        .clone();
    let refused = adapter
        .scale(
            &DeploymentRef {
                id: "x".into(),
                name: "x".into(),
            },
            2,
        )
        .await?;
    match refused {
        Err(AdapterError::Denied(reason)) => assert!(reason.contains("read-only"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fixture.total_calls(), 0);
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_denied_and_not_retried() -> anyhow::Result<()> {
    let fixture = CplnFixture::start(FixtureSpec::new("acme").with_many("prod", 3)).await?;
    let scope = EngineScope::new();
    let engine = engine(&scope, &fixture, config()).await?;
    // Control Plane no longer takes the adapter's token (rotated there).
    fixture.update(|spec| spec.token = "rotated".to_owned());
    let report = engine.inventory(&cpln()).await?;
    assert_eq!(report.total, 0);
    assert_eq!(
        fixture.status_count(401),
        1,
        "one listing call, not retried"
    );
    assert_eq!(fixture.total_calls(), 1);
    let error = &report.stats.errors[0];
    assert_eq!(
        (
            error.target.as_str(),
            error.group.as_deref(),
            error.code.as_str(),
            error.attempts
        ),
        (TARGET, None, "denied", 1)
    );
    // A failed listing is not cached: with the token back, the next query reads everything.
    fixture.update(|spec| spec.token = "test-token".to_owned());
    let report = engine.inventory(&cpln()).await?;
    assert_eq!((report.total, report.stats.calls), (3, 4));
    assert!(report.stats.errors.is_empty(), "{:?}", report.stats.errors);
    Ok(())
}
