//! Inventory benchmark: the real `adapter-cpln` component against the Control Plane fixture
//! server on loopback, through `Engine::inventory`. Prints its figures as a table.
//!
//! `cargo bench -p windlass --bench inventory` (needs Docker for the engine to start, and the
//! plugins built: `bash scripts/build-plugins.sh`, or `WINDLASS_PLUGINS_DIR`).
//!
//! 1,000 workloads (one container each) in one GVC, listing pages of 100, 50 ms latency on
//! every request:
//!
//! 1. the whole inventory (listing + every workload's deployments) with 1 call in flight (the
//!    sequential listing), 16 and 5 — each on a fresh engine, so a cold cache — and the ratios;
//! 2. the same query again within the TTL: the calls the fixture saw (must be 0) and the time;
//! 3. 429 bursts on about 20 % of the calls (every fifth workload throttled, once or up to the
//!    last attempt, with and without `Retry-After`), the default retry policy: every workload
//!    returned, and the most attempts one call took against the configured maximum.
//!
//! Targets (issue 17): 16 in flight ≥ 12× faster than sequential, 5 ≥ 4.5×; the repeat makes
//! no call and takes < 5 ms; under 429 bursts every workload comes back within the attempts.
//! Exits non-zero when a workload is missing, a repeat made calls, or a call took more than the
//! configured attempts (the timing targets are reported, met or missed).
//!
//! `WINDLASS_BENCH_WORKLOADS=N` (default 1000) and `WINDLASS_BENCH_LATENCY_MS=N` (default 50)
//! shrink it for a quick check; the sequential run alone takes about N × latency.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use windlass::Engine;
use windlass::inventory::{
    InventoryConfig, InventoryQuery, InventoryReport, Progress, RetryPolicy, Stage,
};
use windlass::plugins::{CloudAdapter, Grants, PluginHost, PluginKind, PluginSpec};
use windlass::targets::Target;
use windlass_test_support::cpln::{CplnFixture, Fault, FixtureSpec};
use windlass_test_support::engine::EngineScope;

const TARGET: &str = "cpln";
const GVC: &str = "prod";
const PAGE_SIZE: usize = 100;

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let failures = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())?;
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAILED: {f}");
        }
        std::process::exit(1);
    }
    Ok(())
}

async fn adapter(host: &PluginHost, fixture: &CplnFixture) -> anyhow::Result<CloudAdapter> {
    let component = windlass_test_support::plugins::component("adapter_cpln.wasm")?;
    let spec = PluginSpec::from_file("cpln", component)
        .with_kind(PluginKind::CloudAdapter)
        .with_grants(Grants {
            outbound_hosts: vec![fixture.host()],
            ..Grants::default()
        })
        .with_config("api_url", fixture.base_url())
        .with_config("org", "acme")
        .with_config("gvc", GVC)
        .with_config("token", fixture.token());
    host.load(spec)
        .await?
        .cloud_adapter()
        .context("adapter-cpln is a cloud adapter")
}

/// A fresh engine (its own scope, so a cold cache) whose only extra target is the fixture.
async fn start_engine(
    host: &PluginHost,
    fixture: &CplnFixture,
    config: InventoryConfig,
) -> anyhow::Result<(EngineScope, Engine)> {
    let scope = EngineScope::new();
    let engine = scope
        .builder()
        .with_target(Target::adapter(
            TARGET,
            "cpln",
            adapter(host, fixture).await?,
        ))
        .with_inventory(config)
        .build()
        .await?;
    Ok((scope, engine))
}

fn query() -> InventoryQuery {
    InventoryQuery::all().with_target(TARGET)
}

/// One timed run: the report, its wall time and the time of its fetching stage (from the
/// `fetching 0/N` progress report to `done`).
struct Timed {
    report: InventoryReport,
    wall: Duration,
    fetching: Duration,
}

async fn timed(engine: &Engine) -> anyhow::Result<Timed> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let marks = tokio::spawn(async move {
        let (mut first_fetch, mut done) = (None, None);
        while let Some(p) = rx.recv().await {
            match p.stage {
                Stage::Fetching if first_fetch.is_none() => first_fetch = Some(Instant::now()),
                Stage::Done => done = Some(Instant::now()),
                _ => {}
            }
        }
        (first_fetch, done)
    });
    let started = Instant::now();
    let report = engine.inventory_with_progress(&query(), tx).await?;
    let wall = started.elapsed();
    let (first_fetch, done) = marks.await?;
    let fetching = match (first_fetch, done) {
        (Some(a), Some(b)) => b.duration_since(a),
        _ => bail!("no fetching or done progress report"),
    };
    Ok(Timed {
        report,
        wall,
        fetching,
    })
}

/// The workloads `w0000`… a report has containers of.
fn returned(report: &InventoryReport) -> BTreeSet<&str> {
    report
        .containers
        .iter()
        .filter_map(|c| c.group.as_deref())
        .collect()
}

/// The workloads missing from a report (by name), and its errors, as failures.
fn missing(report: &InventoryReport, workloads: usize, run: &str) -> Vec<String> {
    let seen = returned(report);
    let absent: Vec<String> = (0..workloads)
        .map(|i| format!("w{i:04}"))
        .filter(|w| !seen.contains(w.as_str()))
        .collect();
    let mut failures = Vec::new();
    if !absent.is_empty() {
        failures.push(format!(
            "{run}: {} of {workloads} workloads missing (first: {})",
            absent.len(),
            absent[0]
        ));
    }
    for e in &report.stats.errors {
        failures.push(format!(
            "{run}: {}/{} [{}] {} after {} attempts",
            e.target,
            e.group.as_deref().unwrap_or("-"),
            e.code,
            e.message,
            e.attempts
        ));
    }
    failures
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

async fn run() -> anyhow::Result<Vec<String>> {
    let workloads = usize::try_from(env_number("WINDLASS_BENCH_WORKLOADS", 1_000)?)?;
    let latency = Duration::from_millis(env_number("WINDLASS_BENCH_LATENCY_MS", 50)?);
    windlass_test_support::docker::connect_with_busybox().await?;
    let host = PluginHost::builder().build()?;
    let pages = workloads.div_ceil(PAGE_SIZE);
    println!(
        "windlass inventory benchmark ({} cores, debug assertions {}): adapter-cpln against the \
         Control Plane fixture on loopback, {workloads} workloads in one GVC ({pages} listing \
         pages of {PAGE_SIZE}), {} ms per request",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if cfg!(debug_assertions) { "on" } else { "off" },
        latency.as_millis()
    );
    let mut failures = Vec::new();

    // 1. Sequential, 16 and 5 in flight; each a fresh engine and fresh fixture counters.
    let fixture = CplnFixture::start(
        FixtureSpec::new("acme")
            .with_many(GVC, workloads)
            .with_page_size(PAGE_SIZE)
            .with_latency(latency),
    )
    .await?;
    println!();
    println!(
        "{:<22} {:>8} {:>10} {:>10} {:>6} {:>9} {:>11} {:>14}",
        "run", "in flight", "wall", "fetching", "calls", "max seen", "workloads", "vs sequential"
    );
    let mut sequential = None;
    let mut repeat_engine = None;
    for (label, concurrency, target) in [
        ("sequential", 1usize, None),
        ("concurrent", 16, Some(12.0)),
        ("concurrent (default)", 5, Some(4.5)),
    ] {
        fixture.reset_counters();
        let config = InventoryConfig::default().with_concurrency(concurrency);
        let (scope, engine) = start_engine(&host, &fixture, config).await?;
        let t = timed(&engine).await?;
        failures.extend(missing(&t.report, workloads, label));
        let got = returned(&t.report).len();
        let calls = fixture.total_calls();
        if t.report.stats.calls != calls {
            failures.push(format!(
                "{label}: the engine counted {} calls, the fixture {calls}",
                t.report.stats.calls
            ));
        }
        let ratio = match sequential {
            None => {
                sequential = Some((t.wall, t.fetching));
                "1.00×".to_owned()
            }
            Some((wall, fetching)) => {
                let r = wall.as_secs_f64() / t.wall.as_secs_f64();
                let f = fetching.as_secs_f64() / t.fetching.as_secs_f64();
                let target: f64 = target.unwrap_or(0.0);
                format!(
                    "{r:.2}× (≥ {target}×: {}; fetching alone {f:.2}×)",
                    verdict(r >= target)
                )
            }
        };
        println!(
            "{label:<22} {concurrency:>9} {:>10} {:>10} {calls:>6} {:>9} {:>11} {ratio}",
            secs(t.wall),
            secs(t.fetching),
            fixture.max_in_flight(),
            format!("{got}/{workloads}"),
        );
        if concurrency == 16 {
            repeat_engine = Some((scope, engine));
        }
    }

    // 2. The same query again within the TTL, on the engine that ran with 16 in flight.
    let (_scope, engine) = repeat_engine.unwrap();
    let before = fixture.total_calls();
    let started = Instant::now();
    let again = engine.inventory(&query()).await?;
    let first_repeat = started.elapsed();
    let mut repeats = Vec::with_capacity(20);
    for _ in 0..20 {
        let started = Instant::now();
        let r = engine.inventory(&query()).await?;
        repeats.push(started.elapsed());
        anyhow::ensure!(r.total == again.total, "{} != {}", r.total, again.total);
    }
    repeats.sort();
    let repeat_calls = fixture.total_calls() - before;
    failures.extend(missing(&again, workloads, "repeat within the TTL"));
    if repeat_calls != 0 || again.stats.calls != 0 {
        failures.push(format!(
            "repeat within the TTL: the fixture saw {repeat_calls} calls, the engine counted {}",
            again.stats.calls
        ));
    }
    println!();
    println!(
        "repeat within the TTL: {repeat_calls} calls at the fixture ({} counted, {} cache hits), \
         {} (< 5 ms: {}); 20 more repeats: median {}, slowest {}",
        again.stats.calls,
        again.stats.cache_hits,
        ms(first_repeat),
        verdict(first_repeat < Duration::from_millis(5)),
        ms(repeats[repeats.len() / 2]),
        ms(repeats[repeats.len() - 1]),
    );
    drop((engine, _scope));
    drop(fixture);

    // 3. 429 bursts: every fifth workload is throttled — once, or (one in ten of those) up to
    //    the last attempt; half of them with `Retry-After: 1`, half without (1 s doubling).
    let retry = RetryPolicy::default();
    let mut spec = FixtureSpec::new("acme")
        .with_many(GVC, workloads)
        .with_page_size(PAGE_SIZE)
        .with_latency(latency);
    let mut throttled = 0;
    for i in (0..workloads).step_by(5) {
        let k = i / 5;
        let times = if k % 10 == 9 {
            retry.max_attempts - 1
        } else {
            1
        };
        let retry_after_s = (k % 2 == 0).then_some(1);
        spec = spec.with_fault(
            &format!("w{i:04}"),
            Fault::Throttle {
                times,
                retry_after_s,
            },
        );
        throttled += 1;
    }
    let fixture = CplnFixture::start(spec).await?;
    let config = InventoryConfig::default().with_retry(retry);
    let (_scope, engine) = start_engine(&host, &fixture, config).await?;
    let t = timed(&engine).await?;
    failures.extend(missing(&t.report, workloads, "429 bursts"));
    let got = returned(&t.report).len();
    let calls = fixture.total_calls();
    let refused = fixture.status_count(429);
    let most = (0..workloads)
        .map(|i| fixture.deployment_calls(GVC, &format!("w{i:04}")))
        .max()
        .unwrap_or(0);
    let listing = fixture.listing_calls(GVC);
    if most > u64::from(retry.max_attempts) {
        failures.push(format!(
            "429 bursts: a workload was asked {most} times, more than {} attempts",
            retry.max_attempts
        ));
    }
    if listing != pages as u64 {
        failures.push(format!(
            "429 bursts: {listing} listing calls for {pages} pages"
        ));
    }
    println!(
        "429 bursts ({throttled} workloads throttled, concurrency {}, retries: {} attempts, \
         Retry-After or {} s doubling): {got}/{workloads} workloads returned, {} errors; \
         {calls} calls of which {refused} answered 429 ({:.1} %); most attempts for one call \
         {most} of {} allowed; {}",
        InventoryConfig::default().concurrency,
        retry.max_attempts,
        retry.base_delay.as_secs(),
        t.report.stats.errors.len(),
        refused as f64 * 100.0 / calls.max(1) as f64,
        retry.max_attempts,
        secs(t.wall),
    );
    if t.report.stats.rate_limited != refused {
        failures.push(format!(
            "429 bursts: the engine counted {} rate-limited calls, the fixture {refused}",
            t.report.stats.rate_limited
        ));
    }
    Ok(failures)
}
