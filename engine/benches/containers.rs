//! Container benchmark against the real Docker daemon: prints its figures.
//!
//! `cargo bench -p windlass --bench containers` (needs Docker and `windlass-test/busybox:1`:
//! `bash scripts/setup-docker.sh && bash scripts/build-test-images.sh busybox`).
//!
//! 1. Start 50 containers: through the engine (one reconcile pass), through the same creates
//!    and starts as raw bollard calls at the same concurrency, raw bollard one by one, and a
//!    sequential `docker run -d` loop, what a user would script.
//! 2. Recovery: an engine in a child process runs 200 containers and is killed with SIGKILL; a
//!    new engine with the same id and store starts and reconciles. Timed: from building the new
//!    engine to every container adopted, with duplicates counted.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures::StreamExt;
use windlass::labels::LABEL_ENGINE;
use windlass::{ContainerFilter, Engine, ServiceSpec};

mod common;
use common::remove_labelled;

const IMAGE: &str = "windlass-test/busybox:1";
const COUNT: usize = 50;
const ROUNDS: usize = 3;
const RECOVERY_COUNT: u32 = 200;
const CHILD_ENV: &str = "WINDLASS_BENCH_CHILD";
const COMMAND: [&str; 3] = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return runtime.block_on(child_engine(&spec));
    }
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    if docker.inspect_image(IMAGE).await.is_err() {
        bail!("{IMAGE} is missing: run `bash scripts/build-test-images.sh busybox`");
    }
    let dir = tempfile::tempdir()?;
    println!(
        "windlass container benchmark (Docker {})",
        docker.version().await?.version.unwrap_or_default()
    );
    println!();
    println!("start {COUNT} containers (create + start, until all are running):");

    let tag = format!("b{:06x}", rand::random::<u32>() & 0xff_ffff);
    // Alternate the engine and its raw baseline so neither gets a warmer Docker; keep the best
    // of each.
    let (mut engine_time, mut raw_parallel) = (Duration::MAX, Duration::MAX);
    // Docker keeps tearing down removed containers' network sandboxes for a while: let it
    // settle before each run, and swap the order every round.
    for round in 0..ROUNDS {
        for first in [round % 2 == 0, round % 2 != 0] {
            settle().await;
            if first {
                let raw = raw_bollard(&docker, &format!("{tag}-rawp{round}"), 16).await?;
                raw_parallel = raw_parallel.min(raw);
            } else {
                let engine = engine_start(&docker, &format!("{tag}-e{round}"), dir.path()).await?;
                engine_time = engine_time.min(engine);
            }
        }
    }
    settle().await;
    let layer = runtime_layer(&docker, &format!("{tag}-layer")).await?;
    settle().await;
    let raw_sequential = raw_bollard(&docker, &format!("{tag}-raws"), 1).await?;
    let cli = docker_run_loop(&format!("{tag}-cli")).await?;

    println!(
        "  engine (one reconcile pass, 16 at a time)  {:>8.0} ms  (best of {ROUNDS})",
        ms(engine_time)
    );
    println!(
        "  raw bollard, 16 at a time                  {:>8.0} ms  (best of {ROUNDS})",
        ms(raw_parallel)
    );
    println!(
        "  engine's Docker layer alone, 16 at a time  {:>8.0} ms",
        ms(layer)
    );
    println!(
        "  raw bollard, one by one                    {:>8.0} ms",
        ms(raw_sequential)
    );
    println!(
        "  `docker run -d` loop                        {:>8.0} ms",
        ms(cli)
    );
    println!(
        "  engine / raw bollard (same concurrency)     {:>8.2}  (target <= 1.10)",
        ratio(engine_time, raw_parallel)
    );
    println!(
        "  engine / docker run loop                    {:>8.2}",
        ratio(engine_time, cli)
    );
    println!();

    recovery(&docker, &tag, dir.path()).await
}

/// One engine start of `COUNT` replicas: one reconcile pass, timed; then cleaned up.
async fn engine_start(
    docker: &Docker,
    engine_id: &str,
    dir: &std::path::Path,
) -> anyhow::Result<Duration> {
    let engine = Engine::builder()
        .with_engine_id(engine_id)
        .with_store_url(format!(
            "sqlite://{}",
            dir.join(format!("{engine_id}.db")).display()
        ))
        .with_parallelism(16)
        .build()
        .await?;
    let spec = ServiceSpec::new("svc", IMAGE)
        .with_command(COMMAND)
        .with_replicas(COUNT as u32);
    engine.apply("bench", "start", spec).await?;
    let started = Instant::now();
    let report = engine.reconcile().await?;
    let elapsed = started.elapsed();
    if report.started as usize != COUNT {
        bail!(
            "the engine started {} of {COUNT}: {report:?}",
            report.started
        );
    }
    remove_labelled(docker, LABEL_ENGINE, engine_id).await?;
    remove_network(docker, &format!("wl_{engine_id}_bench_start")).await?;
    Ok(elapsed)
}

/// The engine's Docker layer alone (`DockerRuntime`, the engine's container specs), without
/// the reconciler, the store or events: tells where the engine's time goes.
async fn runtime_layer(docker: &Docker, tag: &str) -> anyhow::Result<Duration> {
    let runtime = windlass::DockerRuntime::connect_default().await?;
    let network = format!("{tag}-net");
    runtime
        .ensure_network(&windlass::NetworkSpec::new(&network).with_label("dev.windlass.bench", tag))
        .await?;
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..COUNT)
        .map(|i| {
            let runtime = &runtime;
            let spec = windlass::ContainerSpec::new(format!("{tag}-{i}"), IMAGE)
                .with_command(COMMAND)
                .with_network(&network, ["svc"])
                .with_label("dev.windlass.bench", tag);
            async move {
                let id = runtime.create_container(&spec).await?;
                runtime.start_container(&id).await?;
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for result in results {
        result?;
    }
    remove_labelled(docker, "dev.windlass.bench", tag).await?;
    remove_network(docker, &network).await?;
    Ok(elapsed)
}

/// The same creates and starts the engine makes, straight through bollard: the same image and
/// command, attached to a user network with an alias as the engine attaches every container to
/// its stack's network.
async fn raw_bollard(docker: &Docker, tag: &str, concurrency: usize) -> anyhow::Result<Duration> {
    let network = format!("{tag}-net");
    docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: network.clone(),
            driver: Some("bridge".to_owned()),
            labels: Some(HashMap::from([(
                "dev.windlass.bench".to_owned(),
                tag.to_owned(),
            )])),
            ..Default::default()
        })
        .await?;
    let network = &network;
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..COUNT)
        .map(|i| async move {
            let name = format!("{tag}-{i}");
            let body = bollard::models::ContainerCreateBody {
                image: Some(IMAGE.to_owned()),
                cmd: Some(COMMAND.iter().map(|s| s.to_string()).collect()),
                labels: Some(HashMap::from([(
                    "dev.windlass.bench".to_owned(),
                    tag.to_owned(),
                )])),
                // Docker 20.10 honours the endpoint only for the network named in network_mode.
                host_config: Some(bollard::models::HostConfig {
                    network_mode: Some(network.clone()),
                    ..Default::default()
                }),
                networking_config: Some(bollard::models::NetworkingConfig {
                    endpoints_config: Some(HashMap::from([(
                        network.clone(),
                        bollard::models::EndpointSettings {
                            aliases: Some(vec!["svc".to_owned()]),
                            ..Default::default()
                        },
                    )])),
                }),
                ..Default::default()
            };
            let options = CreateContainerOptionsBuilder::default().name(&name).build();
            let created = docker.create_container(Some(options), body).await?;
            docker
                .start_container(
                    &created.id,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await?;
            Ok(())
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    for result in results {
        result?;
    }
    remove_labelled(docker, "dev.windlass.bench", tag).await?;
    remove_network(docker, network).await?;
    Ok(elapsed)
}

/// What a user would script: `docker run -d` fifty times.
async fn docker_run_loop(tag: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for i in 0..COUNT {
        let status = Command::new("docker")
            .args([
                "run",
                "-d",
                "--name",
                &format!("{tag}-{i}"),
                "--label",
                &format!("dev.windlass.bench={tag}"),
                IMAGE,
            ])
            .args(COMMAND)
            .stdout(Stdio::null())
            .status()
            .context("running the docker CLI")?;
        if !status.success() {
            bail!("docker run failed: {status}");
        }
    }
    let elapsed = started.elapsed();
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    remove_labelled(&docker, "dev.windlass.bench", tag).await?;
    Ok(elapsed)
}

/// Runs 200 containers from a child process, kills it, and times the adoption.
async fn recovery(docker: &Docker, tag: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let engine_id = format!("{tag}-rec");
    let store = format!("sqlite://{}", dir.join("recovery.db").display());
    println!("recovery after kill -9 with {RECOVERY_COUNT} running containers:");
    let mut child = Command::new(std::env::current_exe()?)
        .env(CHILD_ENV, format!("{engine_id} {store}"))
        .stdout(Stdio::piped())
        .spawn()?;
    // The child prints one line once all its containers run.
    let stdout = child.stdout.take().context("child stdout")?;
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
    })
    .await??;
    if !line.starts_with("ready") {
        bail!("the child engine failed: {line}");
    }
    child.kill()?;
    child.wait()?;

    let started = Instant::now();
    let engine = Engine::builder()
        .with_engine_id(&engine_id)
        .with_store_url(&store)
        .build()
        .await?;
    let report = engine.reconcile().await?;
    let elapsed = started.elapsed();
    let containers = engine.containers(&ContainerFilter::default()).await?;
    let mut names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let duplicates = containers.len() - names.len();
    println!(
        "  adopted {} of {RECOVERY_COUNT} in {:.0} ms (target <= 2000 ms); created {}, duplicates {duplicates}",
        report.adopted,
        ms(elapsed),
        report.created
    );
    remove_labelled(docker, LABEL_ENGINE, &engine_id).await?;
    remove_network(docker, &format!("wl_{engine_id}_bench_recovery")).await?;
    if report.adopted != RECOVERY_COUNT || duplicates != 0 || report.created != 0 {
        bail!("recovery was not clean: {report:?}");
    }
    Ok(())
}

/// The child: run 200 containers, say so, then wait to be killed.
async fn child_engine(spec: &str) -> anyhow::Result<()> {
    let (engine_id, store) = spec.split_once(' ').context("child spec")?;
    let engine = Engine::builder()
        .with_engine_id(engine_id)
        .with_store_url(store)
        .build()
        .await?;
    engine
        .apply(
            "bench",
            "recovery",
            ServiceSpec::new("svc", IMAGE)
                .with_command(COMMAND)
                .with_replicas(RECOVERY_COUNT),
        )
        .await?;
    let report = engine.reconcile().await?;
    if report.started != RECOVERY_COUNT {
        println!("failed: {report:?}");
        return Ok(());
    }
    println!("ready");
    std::future::pending::<()>().await;
    Ok(())
}

/// Removes a network once Docker has let go of the endpoints of its removed containers.
async fn remove_network(docker: &Docker, network: &str) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        match docker.remove_network(network).await {
            Ok(()) => return Ok(()),
            Err(_) if attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Gives Docker time to finish cleaning up after the previous run.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(5)).await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}
