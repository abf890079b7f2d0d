//! Plugin host benchmark: prints its figures.
//!
//! `cargo bench -p windlass-host-api --bench plugins` (build the plugins first).
//!
//! Measures, in one run: instantiate-and-call latency per plugin kind (a fresh sandbox per call,
//! as the engine calls plugins), the overhead of a call on a warm instance, loading from the
//! compile cache against compiling, and the billing computation in the plugin against the same
//! computation written natively in Rust.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::{component, params};
use windlass_host_api::types::{
    BillingPeriod, ContainerFilter, MeasuredUsage, Resources, UsageRecord, UsageSummary,
};
use windlass_host_api::{Grants, Plugin, PluginHost, PluginSpec, Pooling};

const ITERATIONS: usize = 20_000;
const WARMUP: usize = 1_000;
/// Calls of the Python and JavaScript components (milliseconds each, not microseconds).
const FOREIGN_ITERATIONS: usize = 2_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let host = PluginHost::builder().with_pooling(Pooling::Auto).build()?;
    println!("windlass plugin host benchmark");
    println!(
        "pooling allocator: {}",
        if host.uses_pooling() {
            "on"
        } else {
            "off (fallback)"
        }
    );
    println!();

    compile_cache().await?;

    println!("instantiate-and-call (fresh sandbox per call), {ITERATIONS} calls each:");
    let template = load(
        &host,
        PluginSpec::from_file("web-postgres", component("stack-web-postgres")),
    )
    .await;
    let template = template.stack_template().expect("stack template");
    let render_params = params(&[("db_password", "s3cret"), ("web_replicas", "2")]);
    report(
        "stack-template describe",
        measure(|| async { template.describe().await.map(drop) }).await,
    );
    let rust_render = report(
        "stack-template render",
        measure(|| async { template.render(&render_params).await.map(drop) }).await,
    );

    // The same kind in other languages: CPython (componentize-py) and SpiderMonkey
    // (componentize-js) components, ~18 MB and ~12 MB, instantiated fresh for every call.
    let site_params = params(&[("image", "local/windlass-demo-web:1"), ("replicas", "2")]);
    for (label, name) in [
        (
            "stack-template render, Python (componentize-py)",
            "py-static-site",
        ),
        (
            "stack-template render, JavaScript (componentize-js)",
            "js-static-site",
        ),
    ] {
        let started = Instant::now();
        let plugin = load(
            &host,
            PluginSpec::from_file(name, component(name)).with_limits(windlass_host_api::Limits {
                memory_bytes: 128 << 20,
                ..windlass_host_api::Limits::default()
            }),
        )
        .await;
        let compiled = started.elapsed();
        let site = plugin.stack_template().expect("stack template");
        let p50 = report(
            &format!("{label} (compiled in {})", fmt(compiled)),
            measure_n(FOREIGN_ITERATIONS, || async {
                site.render(&site_params).await.map(drop)
            })
            .await,
        );
        println!(
            "  {:<48} {:.0}x the Rust template's render ({} per call)",
            "",
            ratio(p50, rust_render),
            fmt(p50)
        );
    }

    let source = tempfile::tempdir()?;
    std::fs::write(
        source.path().join("Cargo.toml"),
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n",
    )?;
    let build = load(
        &host,
        PluginSpec::from_file("auto", component("build-auto")),
    )
    .await;
    let build = build.build_strategy().expect("build strategy");
    report(
        "build-strategy detect (mounts a tree)",
        measure(|| async { build.detect(source.path()).await.map(drop) }).await,
    );

    let billing_spec = PluginSpec::from_file("hourly", component("billing-hourly"))
        .with_config("cpu_core_hour", "1.25")
        .with_config("memory_gib_hour", "0.5")
        .with_config("disk_gib_hour", "0.01")
        .with_config("quota_cpu_millis", "8000");
    let billing = load(&host, billing_spec).await;
    let billing = billing.billing_rule().expect("billing rule");
    let (summary, request) = quota_inputs();
    report(
        "billing-rule check-quota",
        measure(|| async { billing.check_quota(&summary, request).await.map(drop) }).await,
    );

    let (_platform, addr) = common::LoopbackPlatform::start().await?;
    let adapter_spec = PluginSpec::from_file("loopback", component("adapter-loopback"))
        .with_config("endpoint", format!("http://{addr}"))
        .with_grants(Grants {
            outbound_hosts: vec![addr.to_string()],
            ..Grants::default()
        });
    let adapter = load(&host, adapter_spec).await;
    let adapter = adapter.cloud_adapter().expect("cloud adapter");
    let filter = ContainerFilter {
        labels: vec![],
        name_prefix: None,
    };
    report(
        "cloud-adapter list-containers (+ loopback HTTP)",
        measure_n(2_000, || async {
            adapter.list_containers(&filter).await.map(drop)
        })
        .await,
    );
    println!();

    warm_calls(&billing, &summary, request).await;
    println!();
    native_billing(&billing).await;
    Ok(())
}

async fn load(host: &PluginHost, spec: PluginSpec) -> Plugin {
    let name = spec.name.clone();
    host.load(spec)
        .await
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// Compiling a component against loading it from the compile cache.
async fn compile_cache() -> anyhow::Result<()> {
    let spec = || PluginSpec::from_file("web-postgres", component("stack-web-postgres"));
    let mut compiled = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir()?;
        let host = PluginHost::builder()
            .with_cache_dir(dir.path())
            .with_pooling(Pooling::Off)
            .build()?;
        let started = Instant::now();
        host.load(spec()).await?;
        compiled.push(started.elapsed());
    }
    let dir = tempfile::tempdir()?;
    let host = PluginHost::builder()
        .with_cache_dir(dir.path())
        .with_pooling(Pooling::Off)
        .build()?;
    host.load(spec()).await?;
    let mut cached = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let plugin = host.load(spec()).await?;
        cached.push(started.elapsed());
        assert_eq!(
            plugin.compile_source(),
            windlass_host_api::CompileSource::Cache
        );
    }
    let (compile_p50, cache_p50) = (
        percentile(&mut compiled, 50.0),
        percentile(&mut cached, 50.0),
    );
    println!(
        "load stack-web-postgres ({} KiB):",
        std::fs::metadata(component("stack-web-postgres"))?.len() / 1024
    );
    println!("  compile with cranelift   p50 {:>10}", fmt(compile_p50));
    println!("  load from compile cache  p50 {:>10}", fmt(cache_p50));
    println!(
        "  cached load is {:.0}x faster than compiling (target >= 50x)",
        compile_p50.as_secs_f64() / cache_p50.as_secs_f64()
    );
    println!();
    Ok(())
}

/// Overhead of one call on a warm instance, against the same logic called natively.
async fn warm_calls(
    billing: &windlass_host_api::BillingRule,
    summary: &UsageSummary,
    request: Resources,
) {
    const CALLS: u32 = 200_000;
    let mut session = billing.session();
    for _ in 0..WARMUP {
        session
            .check_quota(summary, request)
            .await
            .expect("warm call");
    }
    let started = Instant::now();
    for _ in 0..CALLS {
        session
            .check_quota(summary, request)
            .await
            .expect("warm call");
    }
    let wasm = started.elapsed() / CALLS;

    let started = Instant::now();
    let mut denied = 0u32;
    for _ in 0..CALLS {
        denied += u32::from(native_quota(
            std::hint::black_box(summary),
            std::hint::black_box(request),
        ));
    }
    let native = started.elapsed() / CALLS;
    std::hint::black_box(denied);
    println!("warm instance, billing-rule check-quota, {CALLS} calls:");
    println!("  wasm call (warm)   mean {:>10}", fmt(wasm));
    println!("  native Rust        mean {:>10}", fmt(native));
    println!(
        "  call overhead           {:>10} (target <= 1 µs)",
        fmt(wasm.saturating_sub(native))
    );
}

/// The same hourly pricing in the plugin (fresh and warm) and natively.
async fn native_billing(billing: &windlass_host_api::BillingRule) {
    const CALLS: u32 = 2_000;
    let period = BillingPeriod {
        start_ms: 0,
        end_ms: 30 * 24 * 3_600_000,
    };
    let usage = usage_records(200);
    let invoice = billing
        .price(period, &usage)
        .await
        .expect("price")
        .expect("invoice");
    let native = native_price(period, &usage);
    assert_eq!(
        invoice.total.minor, native,
        "the native computation disagrees with the plugin"
    );

    let started = Instant::now();
    for _ in 0..CALLS {
        billing
            .price(period, &usage)
            .await
            .expect("price")
            .expect("invoice");
    }
    let fresh = started.elapsed() / CALLS;
    let mut session = billing.session();
    let started = Instant::now();
    for _ in 0..CALLS {
        session
            .price(period, &usage)
            .await
            .expect("price")
            .expect("invoice");
    }
    let warm = started.elapsed() / CALLS;
    let started = Instant::now();
    for _ in 0..CALLS {
        std::hint::black_box(native_price(period, std::hint::black_box(&usage)));
    }
    let native_time = started.elapsed() / CALLS;
    println!(
        "price 200 usage records (30 lines), {CALLS} times; total {} {}:",
        invoice.total.minor, invoice.total.currency
    );
    println!(
        "  plugin, fresh instance  mean {:>10}  ({:.1}x native)",
        fmt(fresh),
        ratio(fresh, native_time)
    );
    println!(
        "  plugin, warm instance   mean {:>10}  ({:.1}x native)",
        fmt(warm),
        ratio(warm, native_time)
    );
    println!("  native Rust             mean {:>10}", fmt(native_time));
}

fn quota_inputs() -> (UsageSummary, Resources) {
    let summary = UsageSummary {
        org: "acme".into(),
        allocated: Resources {
            cpu_millis: Some(2_000),
            memory_bytes: Some(1 << 30),
            disk_bytes: None,
        },
    };
    let request = Resources {
        cpu_millis: Some(500),
        memory_bytes: Some(256 << 20),
        disk_bytes: None,
    };
    (summary, request)
}

fn usage_records(count: usize) -> Vec<UsageRecord> {
    (0..count)
        .map(|i| UsageRecord {
            org: "acme".into(),
            stack: format!("stack-{}", i % 5),
            service: format!("svc-{}", i % 2),
            container: format!("c{i}"),
            resources: Resources {
                cpu_millis: Some(250 * (1 + (i as u32 % 4))),
                memory_bytes: Some((128 << 20) * (1 + (i as u64 % 8))),
                disk_bytes: Some((1 << 30) * (1 + (i as u64 % 3))),
            },
            start_ms: (i as u64) * 60_000,
            end_ms: (i as u64) * 60_000 + 3_600_000 * (1 + (i as u64 % 48)),
            used: MeasuredUsage::ZERO,
        })
        .collect()
}

// --- The billing rule of `billing-hourly`, written natively -------------------------------

const HOUR_MS: u128 = 3_600_000;
const GIB: u128 = 1 << 30;
/// Rates in millionths of a minor unit: 1.25, 0.5 and 0.01 minor units.
const CPU_RATE: u128 = 1_250_000;
const MEMORY_RATE: u128 = 500_000;
const DISK_RATE: u128 = 10_000;

fn native_quota(current: &UsageSummary, requested: Resources) -> bool {
    let projected = u64::from(current.allocated.cpu_millis.unwrap_or(0))
        + u64::from(requested.cpu_millis.unwrap_or(0));
    projected > 8_000
}

/// Sums each (stack, service, resource) exactly, rounds each line half up once, sums lines.
fn native_price(period: BillingPeriod, usage: &[UsageRecord]) -> i64 {
    let mut lines: std::collections::BTreeMap<(&str, &str, &str, u8), u128> = Default::default();
    for record in usage {
        let start = record.start_ms.max(period.start_ms);
        let end = record.end_ms.min(period.end_ms);
        if end <= start {
            continue;
        }
        let ms = u128::from(end - start);
        let key = |resource| {
            (
                record.org.as_str(),
                record.stack.as_str(),
                record.service.as_str(),
                resource,
            )
        };
        let r = &record.resources;
        *lines.entry(key(0)).or_default() += u128::from(r.cpu_millis.unwrap_or(0)) * ms;
        *lines.entry(key(1)).or_default() += u128::from(r.memory_bytes.unwrap_or(0)) * ms;
        *lines.entry(key(2)).or_default() += u128::from(r.disk_bytes.unwrap_or(0)) * ms;
    }
    lines
        .iter()
        .map(|(&(_, _, _, resource), &numerator)| {
            let (rate, denominator) = match resource {
                0 => (CPU_RATE, 1_000 * HOUR_MS),
                1 => (MEMORY_RATE, GIB * HOUR_MS),
                _ => (DISK_RATE, GIB * HOUR_MS),
            };
            let denominator = denominator * 1_000_000;
            let exact = numerator * rate;
            ((exact + denominator / 2) / denominator) as i64
        })
        .sum()
}

// --- Measurement ------------------------------------------------------------------------

async fn measure<F, Fut, E>(call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    measure_n(ITERATIONS, call).await
}

async fn measure_n<F, Fut, E>(iterations: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    for _ in 0..WARMUP.min(iterations) {
        call().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        call().await.unwrap_or_else(|e| panic!("{e}"));
        samples.push(started.elapsed());
    }
    samples
}

/// Prints the median and 99th percentile of `samples`; returns the median.
fn report(label: &str, mut samples: Vec<Duration>) -> Duration {
    let p50 = percentile(&mut samples, 50.0);
    let p99 = percentile(&mut samples, 99.0);
    println!("  {label:<48} p50 {:>10}  p99 {:>10}", fmt(p50), fmt(p99));
    p50
}

fn percentile(samples: &mut [Duration], pct: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * pct / 100.0).round() as usize;
    samples[index]
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-12)
}

fn fmt(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", nanos as f64 / 1_000.0)
    } else {
        format!("{:.1} ms", nanos as f64 / 1_000_000.0)
    }
}
