//! Storage is metered: what each container holds — its writable layer, and the volumes it
//! mounts, each volume charged to one container only — as the health snapshots measure it,
//! stored per interval and priced by `billing-hourly`'s `disk_gib_hour`. Real busybox
//! containers writing real files, a manual clock, on both store backends.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use windlass::billing::BillingConfig;
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::stacks::StackSpec;
use windlass::{ContainerFilter, Engine, ManualClock, ServiceSpec};
use windlass_test_support::db::TestDb;
use windlass_test_support::docker::BUSYBOX;
use windlass_test_support::engine::EngineScope;

const T0: i64 = 1_767_225_600_000;
const MINUTE: Duration = Duration::from_secs(60);
const MIB: i64 = 1 << 20;

async fn billing() -> anyhow::Result<BillingConfig> {
    let host = PluginHost::builder().build()?;
    let component = windlass_test_support::plugins::component("billing_hourly.wasm")?;
    let plugin = host
        .load(
            PluginSpec::from_file("hourly", component)
                .with_kind(PluginKind::BillingRule)
                .with_config("disk_gib_hour", "1000")
                .with_config("currency", "EUR"),
        )
        .await?;
    let mut billing = BillingConfig::default();
    billing.default_rule = Some((
        "hourly".to_owned(),
        plugin.billing_rule().context("a billing rule")?,
    ));
    billing.cycle = 5 * MINUTE;
    Ok(billing)
}

/// Two replicas, each writing 8 MiB into its writable layer and the same 4 MiB file into
/// the volume both mount.
fn stack() -> StackSpec {
    let script = "dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; \
                  dd if=/dev/zero of=/data/v bs=1M count=4 2>/dev/null; \
                  while true; do sleep 1; done";
    let files = ServiceSpec::new("files", BUSYBOX)
        .with_command(["sh", "-c", script])
        .with_volume("data", "/data", false)
        .with_replicas(2);
    StackSpec {
        services: vec![files],
        volumes: vec!["data".to_owned()],
        target: None,
    }
}

windlass_test_support::backend_tests!(storage_is_metered_per_interval_and_priced);

async fn storage_is_metered_per_interval_and_priced(db: &TestDb) -> anyhow::Result<()> {
    windlass_test_support::docker::connect_with_busybox().await?;
    let scope = EngineScope::new();
    let clock = ManualClock::starting_at(T0);
    let engine: Engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_clock(Arc::new(clock.clone()))
        .with_metering_interval(MINUTE)
        .with_billing(billing().await?)
        .build()
        .await?;
    engine
        .deploy_stack("acme", "disk", &stack(), &BTreeMap::new())
        .await?;
    let runner = engine.clone();
    let run = tokio::spawn(async move { runner.run(std::future::pending()).await });
    let filter = ContainerFilter {
        org: Some("acme".into()),
        ..ContainerFilter::default()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while engine.containers(&filter).await?.len() < 2 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "2 replicas never ran"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    engine.meter_now().await?;

    // A minute of the clock per second, a health snapshot each, until both containers'
    // storage is in the intervals.
    let mut minutes = 0;
    let rows = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        engine.snapshot_health().await?;
        clock.advance(MINUTE);
        engine.meter_now().await?;
        minutes += 1;
        let rows = engine.usage("acme", 0, i64::MAX).await?;
        let last_start = rows.iter().map(|r| r.interval_start_ms).max().unwrap_or(0);
        let last: Vec<_> = rows
            .iter()
            .filter(|r| r.interval_start_ms == last_start)
            .collect();
        let measured = last.len() == 2
            && last
                .iter()
                .all(|r| r.disk_bytes.is_some_and(|d| d >= 8 * MIB));
        if measured && minutes >= 6 || minutes == 40 {
            break rows;
        }
    };
    let last_start = rows.iter().map(|r| r.interval_start_ms).max().unwrap();
    let mut last: Vec<i64> = rows
        .iter()
        .filter(|r| r.interval_start_ms == last_start)
        .map(|r| r.disk_bytes.unwrap_or(0))
        .collect();
    last.sort();
    assert_eq!(last.len(), 2, "{rows:#?}");
    // Each holds its 8 MiB layer; the shared volume's 4 MiB is charged once.
    assert!(
        (8 * MIB..12 * MIB).contains(&last[0]) && (12 * MIB..16 * MIB).contains(&last[1]),
        "writable layers of 8 MiB, the 4 MiB volume on one of them: {last:?}"
    );
    let volume_charged_once = last[0] + last[1] < 2 * 12 * MIB;
    assert!(volume_charged_once, "{last:?}");

    // The closed five-minute periods are priced for the storage held (by the engine's own
    // billing loop, or now).
    engine.run_billing_cycles().await?;
    let invoices = engine.invoices("acme", 0, i64::MAX).await?;
    let disk_lines: Vec<_> = invoices
        .iter()
        .flat_map(|i| i.lines.iter())
        .filter(|l| l.description.contains("disk"))
        .collect();
    assert!(
        disk_lines
            .iter()
            .any(|l| l.quantity_micros > 0 && l.amount_minor > 0),
        "a priced disk line: {invoices:#?}"
    );
    run.abort();
    Ok(())
}
