//! Metering benchmark: what metering costs the engine with 500 running containers.
//!
//! `cargo bench --workspace --bench metering` (add `--profile dev` to reuse the test build;
//! needs Docker and `windlass-test/busybox:1`). `WINDLASS_BENCH_CONTAINERS=N` (default 500)
//! and `WINDLASS_BENCH_SECONDS=S` (default 120: two closes of the default one-minute
//! interval) change the size and the window.
//!
//! One engine runs N busybox containers (one service, N replicas, 8 MiB of memory each) with
//! its health sampler following every container's stats stream, as in production, and meters
//! on the default one-minute interval (the engine looks every second). Over the
//! window it reports the samples the meter counted and what metering took (the CPU time of
//! counting samples, by the thread's clock, and the wall time of closing intervals with their
//! store writes, an upper bound of their CPU),
//! as a share of one core, against the target of 1 %; and, for scale, the whole engine
//! process's CPU (the sampler's stats streams, the reconciler, everything) over the same window.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use windlass::{ContainerFilter, Engine, ServiceSpec};
use windlass_test_support::docker::BUSYBOX;
use windlass_test_support::engine::EngineScope;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's CPU time (user + system, every thread) so far.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

async fn running(engine: &Engine) -> anyhow::Result<usize> {
    let filter = ContainerFilter {
        org: Some("bench".into()),
        ..ContainerFilter::default()
    };
    Ok(engine
        .containers(&filter)
        .await?
        .iter()
        .filter(|c| c.status == windlass::ContainerStatus::Running)
        .count())
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let containers = usize::try_from(env_number("WINDLASS_BENCH_CONTAINERS", 500))?;
    let window = Duration::from_secs(env_number("WINDLASS_BENCH_SECONDS", 120));
    windlass_test_support::docker::connect_with_busybox().await?;
    let scope = EngineScope::new();
    let engine = scope.builder().build().await?;
    let replicas = u32::try_from(containers)?;
    engine
        .apply(
            "bench",
            "meter",
            ServiceSpec::new("sleeper", BUSYBOX)
                .with_command(["sleep", "3600"])
                .with_memory("8Mi")
                .with_replicas(replicas),
        )
        .await?;
    let runner = engine.clone();
    let task = tokio::spawn(async move { runner.run(std::future::pending()).await });
    let started = Instant::now();
    loop {
        let up = running(&engine).await?;
        if up >= containers {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(900),
            "{up} of {containers} containers running after 15 minutes"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "windlass metering benchmark ({} cores): {containers} containers running after {:.0} s; \
         a {:.0} s window",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        started.elapsed().as_secs_f64(),
        window.as_secs_f64()
    );
    // Let every stats stream start before measuring.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let (work_before, cpu_before, at) = (engine.metering_work(), process_cpu(), Instant::now());
    tokio::time::sleep(window).await;
    let (work_after, cpu_after, wall) = (engine.metering_work(), process_cpu(), at.elapsed());
    let samples = work_after.samples - work_before.samples;
    let closes = work_after.closes - work_before.closes;
    let sampling = work_after.sample_time - work_before.sample_time;
    let closing = work_after.close_time - work_before.close_time;
    let share = (sampling + closing).as_secs_f64() / wall.as_secs_f64() * 100.0;
    let process = (cpu_after - cpu_before).as_secs_f64() / wall.as_secs_f64() * 100.0;
    println!(
        "  samples counted: {samples} ({:.0} a second, {:.1} µs each, {:.1} ms in all)",
        samples as f64 / wall.as_secs_f64(),
        sampling.as_secs_f64() * 1e6 / samples.max(1) as f64,
        sampling.as_secs_f64() * 1e3
    );
    println!(
        "  closes: {closes} ({:.1} ms each, store writes included, {:.1} ms in all)",
        closing.as_secs_f64() * 1e3 / closes.max(1) as f64,
        closing.as_secs_f64() * 1e3
    );
    println!(
        "  metering: {share:.3} % of one core (target < 1 %: {})",
        if share < 1.0 { "met" } else { "MISSED" }
    );
    println!(
        "  the whole engine process (stats streams of {containers} containers, health, \
         reconciler, metering): {process:.1} % of one core"
    );
    task.abort();
    engine.remove_stack("bench", "meter").await.ok();
    drop(engine);
    drop(scope); // removes the containers
    Ok(())
}
