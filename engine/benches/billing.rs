//! Billing benchmark: prints its figures.
//!
//! `cargo bench --workspace --bench billing` (needs Docker for the engine to start, and the
//! plugins built: `bash scripts/build-plugins.sh`, or `WINDLASS_PLUGINS_DIR`).
//!
//! 1. A billing cycle for 1,000 orgs × 10 services (one hour of usage each, stored as the meter
//!    would): usage read, priced by the real `billing-hourly` component on a warm instance,
//!    invoice + lines + balance per org, 250 orgs a store transaction, on an SQLite file.
//! 2. The pricing alone, the same 1,000 calls on a warm instance, against the same arithmetic
//!    in native Rust in the same run (the ratio).
//! 3. `check-quota` on the deploy path: `Engine::check_quota` (the org's allocation from the
//!    engine's ledger, then the warm rule), p50 and p99; the same after 1.1 s of quiet (the
//!    ledger's entry stale: the holding is read from the store first); the warm rule call
//!    alone; and one single-row store read, the floor of any check that reads the store.
//!
//! Targets (issue 15): the cycle under 1 s, `check-quota` p50 under 50 µs.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use windlass::billing::{BillingConfig, Quotas, UsageInterval};
use windlass::plugins::types::{
    BillingPeriod, MeasuredUsage, Resources, UsageRecord, UsageSummary,
};
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::{Engine, ManualClock, ServiceSpec};

const ORGS: usize = 1_000;
const SERVICES: usize = 10;
const T0: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;
/// 100 minor units per core-hour and 10 per GiB-hour, in millionths (the rule's precision).
const CPU_RATE_MICROS: u128 = 100_000_000;
const MEMORY_RATE_MICROS: u128 = 10_000_000;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

fn plugins_dir() -> PathBuf {
    std::env::var_os("WINDLASS_PLUGINS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release"),
        PathBuf::from,
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn run() -> anyhow::Result<()> {
    let component = plugins_dir().join("billing_hourly.wasm");
    if !component.is_file() {
        bail!(
            "{} is missing: run `bash scripts/build-plugins.sh`",
            component.display()
        );
    }
    let host = PluginHost::builder().build()?;
    let plugin = host
        .load(
            PluginSpec::from_file("hourly", &component)
                .with_kind(PluginKind::BillingRule)
                .with_config("cpu_core_hour", "100")
                .with_config("memory_gib_hour", "10"),
        )
        .await?;
    let rule = plugin.billing_rule().context("a billing rule")?;
    let dir = tempfile::tempdir()?;
    let id = format!("bb{:06x}", rand::random::<u32>() & 0xff_ffff);
    let clock = ManualClock::starting_at(T0 + HOUR_MS);
    let mut billing = BillingConfig::default();
    billing.default_rule = Some(("hourly".into(), rule.clone()));
    billing.default_quotas = Quotas::unlimited()
        .with_cpu_millis(1_000_000)
        .with_memory_bytes(1 << 40);
    let engine = Engine::builder()
        .with_engine_id(&id)
        .with_store_url(format!(
            "sqlite://{}",
            dir.path().join("windlass.db").display()
        ))
        .with_clock(Arc::new(clock.clone()))
        .with_billing(billing)
        .build()
        .await?;
    println!(
        "windlass billing benchmark ({} cores), {ORGS} orgs × {SERVICES} services",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // One hour of usage per service, as the meter stores it.
    let mut rows = Vec::with_capacity(ORGS * SERVICES);
    for org in 0..ORGS {
        for service in 0..SERVICES {
            let (org, service) = (format!("org{org:04}"), format!("svc{service}"));
            rows.push(
                UsageInterval::new(
                    &id,
                    (&org, "main", &service),
                    &format!("{org}-main-{service}-1"),
                    T0,
                    T0 + HOUR_MS,
                )
                .with_allocation(Some(500), Some(512 << 20)),
            );
        }
    }
    engine.record_usage(&rows).await?;

    // 1. The whole cycle.
    let started = Instant::now();
    let report = engine.run_billing_cycles().await?;
    let cycle = started.elapsed();
    anyhow::ensure!(
        report.charged.len() == ORGS,
        "charged {} orgs",
        report.charged.len()
    );
    anyhow::ensure!(
        report.charged.iter().all(|(_, _, total)| *total == 550),
        "{report:?}"
    );
    println!(
        "cycle, plugin-priced: {ORGS} invoices in {:.1} ms ({:.0} µs an org)",
        cycle.as_secs_f64() * 1e3,
        cycle.as_secs_f64() * 1e6 / ORGS as f64
    );

    // Of which: reading each org's usage.
    let started = Instant::now();
    for org in 0..ORGS {
        engine
            .usage(&format!("org{org:04}"), T0, T0 + HOUR_MS)
            .await?;
    }
    println!(
        "  of which reading the usage of every org: {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    // 2. The pricing alone: the warm component against native Rust.
    let mut by_org: BTreeMap<&str, Vec<UsageRecord>> = BTreeMap::new();
    for r in &rows {
        by_org.entry(&r.org).or_default().push(UsageRecord {
            org: r.org.clone(),
            stack: r.stack.clone(),
            service: r.service.clone(),
            container: r.container.clone(),
            resources: Resources {
                cpu_millis: Some(500),
                memory_bytes: Some(512 << 20),
                disk_bytes: None,
            },
            start_ms: T0 as u64,
            end_ms: (T0 + HOUR_MS) as u64,
            used: MeasuredUsage::ZERO,
        });
    }
    let period = BillingPeriod {
        start_ms: T0 as u64,
        end_ms: (T0 + HOUR_MS) as u64,
    };
    let mut session = rule.session();
    session.price(period, &by_org["org0000"]).await??; // warm
    let started = Instant::now();
    let mut plugin_total = 0i64;
    for records in by_org.values() {
        plugin_total += session.price(period, records).await??.total.minor;
    }
    let plugin_pricing = started.elapsed();
    let started = Instant::now();
    let mut native_total = 0i64;
    for records in by_org.values() {
        native_total += std::hint::black_box(native_price(period, records));
    }
    let native_pricing = started.elapsed();
    anyhow::ensure!(
        plugin_total == native_total,
        "{plugin_total} != {native_total}"
    );
    println!(
        "pricing alone: plugin (warm) {:.2} ms, native Rust {:.3} ms: {:.0}× (same totals, {plugin_total})",
        plugin_pricing.as_secs_f64() * 1e3,
        native_pricing.as_secs_f64() * 1e3,
        plugin_pricing.as_secs_f64() / native_pricing.as_secs_f64().max(1e-9)
    );
    // The cycle's own time in the rule's calls (CycleReport::pricing), replaced by the native
    // pricing of the same records: both measured in this run.
    let natively = cycle - report.pricing.min(cycle) + native_pricing;
    println!(
        "  of which pricing (the rule's calls inside the cycle): {:.1} ms",
        report.pricing.as_secs_f64() * 1e3
    );
    println!(
        "cycle priced natively (cycle − its pricing + native pricing): {:.1} ms; plugin/native {:.2}",
        natively.as_secs_f64() * 1e3,
        cycle.as_secs_f64() / natively.as_secs_f64()
    );

    // 3. check-quota on the deploy path.
    for i in 0..5 {
        let spec = ServiceSpec::new(format!("s{i}"), "windlass-test/busybox:1")
            .with_cpu("0.5")
            .with_memory("256Mi")
            .with_replicas(2);
        engine.apply("acme", "shop", spec).await?;
    }
    let request = ServiceSpec::new("new", "windlass-test/busybox:1")
        .with_cpu("0.5")
        .with_memory("256Mi");
    let mut deploy_path = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let started = Instant::now();
        engine.check_quota("acme", "shop", &request).await?;
        deploy_path.push(started.elapsed());
    }
    deploy_path.sort();
    let current = UsageSummary {
        org: "acme".into(),
        allocated: Resources {
            cpu_millis: Some(5_000),
            memory_bytes: Some(5 << 29),
            disk_bytes: None,
        },
    };
    let requested = Resources {
        cpu_millis: Some(500),
        memory_bytes: Some(256 << 20),
        disk_bytes: None,
    };
    let overlay = vec![("quota_cpu_millis".to_owned(), "1000000".to_owned())];
    let mut warm = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let started = Instant::now();
        session
            .check_quota_with(&current, requested, &overlay)
            .await?;
        warm.push(started.elapsed());
    }
    warm.sort();
    // A check after more than a second without one: the ledger's entry is stale (another
    // engine may have written), so the org's holding is read from the store first.
    let mut cold = Vec::with_capacity(5);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let started = Instant::now();
        engine.check_quota("acme", "shop", &request).await?;
        cold.push(started.elapsed());
    }
    cold.sort();
    // The floor of any check that reads the store: one single-row read (the org's account).
    let mut one_read = Vec::with_capacity(2_000);
    for _ in 0..2_000 {
        let started = Instant::now();
        engine.account("acme").await?;
        one_read.push(started.elapsed());
    }
    one_read.sort();
    println!(
        "check-quota on the deploy path (Engine::check_quota): p50 {:.1} µs, p99 {:.1} µs",
        percentile(&deploy_path, 0.5).as_secs_f64() * 1e6,
        percentile(&deploy_path, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "check-quota after 1.1 s of quiet (the holding read from the store): median of 5 {:.1} µs",
        percentile(&cold, 0.5).as_secs_f64() * 1e6
    );
    println!(
        "check-quota, the warm rule call alone: p50 {:.1} µs, p99 {:.1} µs",
        percentile(&warm, 0.5).as_secs_f64() * 1e6,
        percentile(&warm, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "one store read (Engine::account, one row): p50 {:.1} µs, p99 {:.1} µs",
        percentile(&one_read, 0.5).as_secs_f64() * 1e6,
        percentile(&one_read, 0.99).as_secs_f64() * 1e6
    );
    Ok(())
}

/// `billing-hourly`'s arithmetic for CPU and memory: exact numerators per service and
/// resource, one half-up rounding per line.
fn native_price(period: BillingPeriod, usage: &[UsageRecord]) -> i64 {
    let mut sums: BTreeMap<(&str, &str, &str, u8), u128> = BTreeMap::new();
    for r in usage {
        let start = r.start_ms.max(period.start_ms);
        let end = r.end_ms.min(period.end_ms);
        if end <= start {
            continue;
        }
        let ms = u128::from(end - start);
        let key = (r.org.as_str(), r.stack.as_str(), r.service.as_str());
        if let Some(cpu) = r.resources.cpu_millis {
            *sums.entry((key.0, key.1, key.2, 0)).or_default() += u128::from(cpu) * ms;
        }
        if let Some(memory) = r.resources.memory_bytes {
            *sums.entry((key.0, key.1, key.2, 1)).or_default() += u128::from(memory) * ms;
        }
    }
    sums.into_iter()
        .map(|((_, _, _, dim), numerator)| {
            let (rate, denominator) = if dim == 0 {
                (CPU_RATE_MICROS, 1_000 * HOUR_MS as u128)
            } else {
                (MEMORY_RATE_MICROS, (1u128 << 30) * HOUR_MS as u128)
            };
            let scaled = denominator * 1_000_000;
            ((numerator * rate + scaled / 2) / scaled) as i64
        })
        .sum()
}
