//! Worker heartbeat benchmark: how long after a worker fails the engine says so. The real
//! `adapter-swarm` component on the three-node swarm of `scripts/swarm-harness.sh`, through
//! the engine's heartbeat (`run`), with `unhealthy_after` = 10 s and a poll every second.
//!
//! `cargo bench -p windlass --bench workers` (needs the harness up and the plugins built:
//! `bash scripts/build-plugins.sh`, or `WINDLASS_PLUGINS_DIR`). `WINDLASS_BENCH_ROUNDS=N`
//! (default 2) rounds, each about 40 s.
//!
//! Each round stops n3's dockerd (`swarm-harness.sh stop-node n3`, which returns once the
//! daemon is gone: the failure) and times, from there, the manager reporting the node `down`
//! and the engine's `worker-unhealthy` event; then starts it again and times its
//! `worker-recovered`. Target (issue 16): failure to `worker-unhealthy` within the configured
//! timeout + 5 s. Exits non-zero when a round misses it.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use anyhow::Context as _;
use windlass::Engine;
use windlass::plugins::PluginHost;
use windlass::workers::{Worker, WorkersConfig};
use windlass_test_support::engine::{EngineScope, wait_event};
use windlass_test_support::swarm::{engine_with_workers, harness};

const UNHEALTHY_AFTER: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_secs(5);

fn rounds() -> usize {
    std::env::var("WINDLASS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn n3(workers: &[Worker]) -> anyhow::Result<Worker> {
    workers
        .iter()
        .find(|w| w.labels.get("windlass.harness").map(String::as_str) == Some("n3"))
        .cloned()
        .context("no worker labelled windlass.harness=n3")
}

/// One failure and recovery of n3: (manager saw it down, worker-unhealthy, worker-recovered),
/// the first two from the failure, the last from the restart.
async fn round(engine: &Engine, n3_id: &str) -> anyhow::Result<(Duration, Duration, Duration)> {
    let from = engine.event_log().last_index();
    let newer = move |e: &windlass::Event, id: &str| e.index > from && e.payload["worker"] == id;
    harness(&["stop-node", "n3"]).await?;
    let failed = Instant::now();
    let watch = async {
        let mut down = None;
        loop {
            if down.is_none()
                && engine
                    .workers(Some("swarm"))
                    .await?
                    .iter()
                    .any(|w| w.id == n3_id && w.status != "ready")
            {
                down = Some(failed.elapsed());
            }
            if let Some(down) = down {
                wait_event(engine, "worker-unhealthy", Duration::from_secs(120), |e| {
                    newer(e, n3_id)
                })
                .await?;
                return anyhow::Ok((down, failed.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let seen = tokio::time::timeout(Duration::from_secs(150), watch).await;
    harness(&["start-node", "n3"]).await?;
    let restarted = Instant::now();
    let (down, unhealthy) = seen.context("n3's failure was not seen within 150 s")??;
    wait_event(engine, "worker-recovered", Duration::from_secs(120), |e| {
        newer(e, n3_id)
    })
    .await?;
    Ok((down, unhealthy, restarted.elapsed()))
}

async fn run() -> anyhow::Result<bool> {
    windlass_test_support::docker::connect_with_busybox().await?;
    let host = PluginHost::builder().build()?;
    let scope = EngineScope::new();
    let workers = WorkersConfig {
        poll_interval: POLL,
        unhealthy_after: UNHEALTHY_AFTER,
    };
    let engine = engine_with_workers(&scope, &host, workers).await?;
    let runner = engine.clone();
    let task = tokio::spawn(async move { runner.run(std::future::pending()).await });
    let n3_id = n3(&engine.workers(Some("swarm")).await?)?.id;
    let mut ok = true;
    println!(
        "worker heartbeat ({} rounds; poll {POLL:?}, unhealthy after {UNHEALTHY_AFTER:?}; \
         target: failure to worker-unhealthy <= {:?})",
        rounds(),
        UNHEALTHY_AFTER + SLACK
    );
    for i in 1..=rounds() {
        let (down, unhealthy, recovered) = round(&engine, &n3_id).await?;
        let met = unhealthy <= UNHEALTHY_AFTER + SLACK;
        ok &= met;
        println!(
            "  round {i}: manager saw n3 down after {down:>8.2?}, worker-unhealthy after \
             {unhealthy:>8.2?} ({}), worker-recovered {recovered:>8.2?} after the restart",
            if met { "met" } else { "MISSED" }
        );
    }
    task.abort();
    Ok(ok)
}

fn main() -> anyhow::Result<()> {
    let ok = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())?;
    anyhow::ensure!(ok, "a round missed the target");
    Ok(())
}
