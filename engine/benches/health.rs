//! Health monitoring benchmark against the real Docker daemon: prints its figures.
//!
//! `cargo bench -p windlass --bench health` (needs Docker and `windlass-test/busybox:1`:
//! `bash scripts/setup-docker.sh && bash scripts/build-test-images.sh busybox`).
//!
//! 200 busybox httpd containers, each with an HTTP liveness check every second. For a
//! measurement window the benchmark reads the engine process's CPU time (user + system, from
//! `/proc/self/stat`) and the monitor's scheduling lag (due time → probe start) over every
//! probe in the window. Two rounds: probes only (resource sampling off), then probes plus
//! Docker's stats stream of all 200 containers. Targets (issue 4): ≤ 5 % of one core, lag
//! p99 ≤ 50 ms.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bollard::Docker;
use windlass::health::{CheckKind, HealthCheck, Probe};
use windlass::labels::LABEL_ENGINE;
use windlass::{ContainerFilter, Engine, ServiceSpec};

mod common;
use common::remove_labelled;

const IMAGE: &str = "windlass-test/busybox:1";
const CONTAINERS: u32 = 200;
const WINDOW: Duration = Duration::from_secs(30);
const PAGE: &str = "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www";

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    if docker.inspect_image(IMAGE).await.is_err() {
        bail!("{IMAGE} is missing: run `bash scripts/build-test-images.sh busybox`");
    }
    let dir = tempfile::tempdir()?;
    let id = format!("bh{:06x}", rand::random::<u32>() & 0xff_ffff);
    let store = format!("sqlite://{}", dir.path().join("windlass.db").display());
    println!(
        "windlass health benchmark (Docker {}, {} cores)",
        docker.version().await?.version.unwrap_or_default(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{CONTAINERS} containers, one HTTP liveness probe each every second, {} s windows",
        WINDOW.as_secs()
    );
    let outcome = measure(&id, &store).await;
    remove_labelled(&docker, LABEL_ENGINE, &id).await?;
    let _ = docker
        .remove_network(&format!("wl_{id}_bench_health"))
        .await;
    outcome
}

async fn measure(id: &str, store: &str) -> anyhow::Result<()> {
    let liveness = HealthCheck::new(CheckKind::Liveness, Probe::http(8080, "/healthz"))
        .every(Duration::from_secs(1))
        .failing_after(3);
    let web = ServiceSpec::new("web", IMAGE)
        .with_command(["sh", "-c", PAGE])
        .with_memory("16Mi")
        .with_replicas(CONTAINERS)
        .with_health_check(liveness);
    for (round, sampling) in [("probes only", false), ("probes + stats streams", true)] {
        let engine = Engine::builder()
            .with_engine_id(id)
            .with_store_url(store)
            .with_parallelism(32)
            .with_stop_timeout(Duration::from_secs(1))
            .with_resource_sampling(sampling)
            .build()
            .await?;
        engine.apply("bench", "health", web.clone()).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = engine.clone();
        let run =
            tokio::spawn(async move { runner.run(async { stopped.await.unwrap_or(()) }).await });

        let started = Instant::now();
        wait_all_live(&engine).await?;
        println!();
        println!(
            "{round}: {CONTAINERS} containers running and live after {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Let the first probes (and streams) settle, then measure a clean window.
        tokio::time::sleep(Duration::from_secs(5)).await;
        engine.reset_probe_stats();
        let cpu_before = process_cpu()?;
        let wall = Instant::now();
        tokio::time::sleep(WINDOW).await;
        let cpu = process_cpu()?.saturating_sub(cpu_before);
        let wall = wall.elapsed();
        let stats = engine.probe_stats();
        println!(
            "  probes: {} in {:.1} s ({:.0}/s), {} unhealthy",
            stats.probes,
            wall.as_secs_f64(),
            stats.probes as f64 / wall.as_secs_f64(),
            stats.unhealthy
        );
        println!(
            "  engine CPU: {:.2} % of one core   (target <= 5 %)",
            cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
        );
        println!(
            "  scheduling lag: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms   (target p99 <= 50 ms)",
            ms(stats.lag_p50),
            ms(stats.lag_p99),
            ms(stats.lag_max)
        );
        stop.send(()).ok();
        run.await??;
    }
    Ok(())
}

/// Waits until every replica runs and the monitor probes all of them.
async fn wait_all_live(engine: &Engine) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let containers = engine.containers(&ContainerFilter::default()).await?;
        let running = containers
            .iter()
            .filter(|c| c.state.as_deref() == Some("running"))
            .count();
        if running == CONTAINERS as usize {
            break;
        }
        if Instant::now() > deadline {
            bail!("only {running} of {CONTAINERS} containers running after 300 s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    engine.reset_probe_stats();
    while engine.probe_stats().probes < u64::from(CONTAINERS) * 2 {
        if Instant::now() > deadline {
            bail!(
                "the monitor ran only {:?} after 300 s",
                engine.probe_stats()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// This process's CPU time so far (user + system).
fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat
        .rsplit_once(')')
        .context("unexpected /proc/self/stat")?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the whole line: 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // The kernel reports in USER_HZ, 100 on every Linux this runs on.
    Ok(Duration::from_millis(ticks * 10))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
