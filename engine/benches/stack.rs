//! Stack deploy benchmark: a cold deploy of the demo stack (PostgreSQL, api, web; each gated on
//! the one before being healthy) by the engine against docker-compose with the equivalent
//! compose file (`engine/benches/compose/demo.yml`, health-gated `depends_on`, health checks
//! every second), in the same run, alternating. Prints its figures.
//!
//! `cargo bench -p windlass --bench stack` (needs Docker, docker-compose — Debian's package,
//! which `scripts/bench-compose.sh` installs — the demo images and the plugins:
//! `bash scripts/build-test-images.sh postgres demo-api demo-web`, `cargo build --release` in
//! plugins/).
//!
//! Cold means: a new engine id and store, so a new network and a new volume, and PostgreSQL
//! initialises its data directory; compose's side removes its project (`down -v`) before each
//! run. Timed: from the deploy call (or `docker-compose up -d`) until every service is ready
//! (compose: until `docker inspect` shows all three healthy).

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
};
use windlass::Engine;
use windlass::labels::LABEL_ENGINE;
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::stacks::StackSpec;

const ROUNDS: usize = 3;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

async fn run() -> anyhow::Result<()> {
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    for image in [
        "local/postgres:15",
        "local/windlass-demo-api:1",
        "local/windlass-demo-web:1",
    ] {
        if docker.inspect_image(image).await.is_err() {
            bail!(
                "{image} is missing: run `bash scripts/build-test-images.sh postgres demo-api demo-web`"
            );
        }
    }
    let spec = render().await?;
    println!(
        "windlass stack deploy benchmark (Docker {}): db → api → web, each health-gated, probes every 1 s",
        docker.version().await?.version.unwrap_or_default()
    );
    let (mut engine_runs, mut compose_runs) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for engine_first in [round % 2 == 0, round % 2 != 0] {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if engine_first {
                let took = engine_deploy(&docker, &spec, round).await?;
                println!(
                    "  round {round}: windlass        {:.2} s",
                    took.as_secs_f64()
                );
                engine_runs.push(took);
            } else {
                let took = compose_deploy()?;
                println!(
                    "  round {round}: docker-compose  {:.2} s",
                    took.as_secs_f64()
                );
                compose_runs.push(took);
            }
        }
    }
    let median = |runs: &mut Vec<Duration>| {
        runs.sort();
        runs[runs.len() / 2]
    };
    let (engine, compose) = (median(&mut engine_runs), median(&mut compose_runs));
    println!();
    println!(
        "cold deploy, median of {ROUNDS}: windlass {:.2} s, docker-compose {:.2} s → ratio {:.2} (target ≤ 1.00)",
        engine.as_secs_f64(),
        compose.as_secs_f64(),
        engine.as_secs_f64() / compose.as_secs_f64()
    );
    Ok(())
}

/// The demo stack as the template plugin renders it, with one web replica like the compose file.
async fn render() -> anyhow::Result<StackSpec> {
    let dir = std::env::var_os("WINDLASS_PLUGINS_DIR").map_or_else(
        || repo().join("plugins/target/wasm32-wasip2/release"),
        PathBuf::from,
    );
    let host = PluginHost::builder().build()?;
    let plugin = host
        .load(
            PluginSpec::from_file("web-postgres", dir.join("stack_web_postgres.wasm"))
                .with_kind(PluginKind::StackTemplate),
        )
        .await
        .context("loading the stack-web-postgres plugin (build the plugins first)")?;
    let template = plugin.stack_template().context("a stack template")?;
    let params = vec![
        ("db_password".to_owned(), "demo".to_owned()),
        ("web_replicas".to_owned(), "1".to_owned()),
    ];
    let rendered = template
        .render(&params)
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))?;
    StackSpec::from_rendered(&rendered).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn engine_deploy(
    docker: &Docker,
    spec: &StackSpec,
    round: usize,
) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let id = format!("bs{:06x}r{round}", rand::random::<u32>() & 0xff_ffff);
    let engine = Engine::builder()
        .with_engine_id(&id)
        .with_store_url(format!("sqlite://{}", dir.path().join("w.db").display()))
        .with_stop_timeout(Duration::from_secs(5))
        .build()
        .await?;
    let started = Instant::now();
    engine
        .deploy_stack("bench", "demo", spec, &BTreeMap::new())
        .await?;
    let runner = engine.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        runner
            .run(async {
                stopped.await.ok();
            })
            .await
    });
    let deadline = started + Duration::from_secs(180);
    let took = loop {
        let status = engine.stack_status("bench", "demo").await?;
        if status.len() == 3 && status.iter().all(|s| s.is_ready()) {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            bail!("the engine's stack was not ready after 180 s: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    stop.send(()).ok();
    run.await??;
    cleanup(docker, &id).await?;
    Ok(took)
}

/// One cold run of `scripts/bench-compose.sh`, which prints `run 1: all healthy after S s`.
fn compose_deploy() -> anyhow::Result<Duration> {
    let output = Command::new("bash")
        .arg(repo().join("scripts/bench-compose.sh"))
        .arg("1")
        .output()
        .context("running scripts/bench-compose.sh")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "bench-compose.sh failed: {}\n{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let seconds: f64 = stdout
        .split("all healthy after ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no timing in bench-compose.sh's output: {stdout}"))?;
    Ok(Duration::from_secs_f64(seconds))
}

/// Removes what the engine `id` created: containers, then its network and volume.
async fn cleanup(docker: &Docker, id: &str) -> anyhow::Result<()> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_ENGINE}={id}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    for container in docker.list_containers(Some(options)).await? {
        if let Some(cid) = container.id {
            let options = RemoveContainerOptionsBuilder::default().force(true).build();
            docker.remove_container(&cid, Some(options)).await.ok();
        }
    }
    let _ = docker.remove_network(&format!("wl_{id}_bench_demo")).await;
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    for volume in docker
        .list_volumes(Some(options))
        .await?
        .volumes
        .unwrap_or_default()
    {
        let _ = docker
            .remove_volume(
                &volume.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await;
    }
    Ok(())
}
