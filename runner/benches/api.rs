//! HTTP API benchmark against a real engine on the real Docker daemon: prints its figures.
//!
//! `cargo bench -p windlass --bench api` (needs Docker and `windlass-test/busybox:1`:
//! `bash scripts/setup-docker.sh && bash scripts/build-test-images.sh busybox`).
//!
//! An engine (SQLite in a temporary directory, running its reconcile loop, health monitor and
//! stats sampler) runs 50 busybox containers: a 40-replica service and a 10-replica one. The
//! API is served on 127.0.0.1 and a load generator — `CLIENTS` tokio tasks, each on its own
//! keep-alive connection, one request at a time — alternates `GET /v1/containers` and
//! `GET /v1/containers/{name}/health` for `WINDLASS_BENCH_SECONDS` (default 20) or
//! `MAX_REQUESTS`, whichever comes first, then stops. Two seconds into the window a new
//! revision of the 10-replica service is applied, so the reconciler replaces those containers
//! while the load runs.
//!
//! The window runs three times: as fast as the clients go with the API's container-list cache
//! off (every list asks Docker, as before the cache), the same with it on (the default:
//! refreshed in the background on every event, never older than 1 s), and with it on at a paced `PACED_RATE` requests/s
//! (each client sends on a fixed schedule and latency counts from the scheduled time, so a
//! stall is not hidden by the clients waiting for it). It prints requests/s and p50/p99/max
//! latency per route and overall for each. Targets: >= 1,000 requests/s overall at p99 <= 20 ms.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use tokio::net::TcpStream;
use windlass::labels::LABEL_ENGINE;
use windlass::{ContainerFilter, Engine, ServiceSpec};
use windlass_runner::api::{ApiState, EVERY_ORG, Role};

const IMAGE: &str = "windlass-test/busybox:1";
const STEADY: u32 = 40;
const ROLLING: u32 = 10;
const CLIENTS: usize = 16;
const MAX_REQUESTS: u64 = 2_000_000;
const PACED_RATE: f64 = 1_200.0;
const COMMAND: [&str; 3] = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 1; done",
];

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

fn service(name: &str, replicas: u32, revision: u32) -> ServiceSpec {
    ServiceSpec::new(name, IMAGE)
        .with_command(COMMAND)
        .with_env("REVISION", revision.to_string())
        .with_memory("16Mi")
        .with_replicas(replicas)
}

async fn run() -> anyhow::Result<()> {
    let docker = Docker::connect_with_local_defaults()?
        .negotiate_version()
        .await?;
    if docker.inspect_image(IMAGE).await.is_err() {
        bail!("{IMAGE} is missing: run `bash scripts/build-test-images.sh busybox`");
    }
    let seconds: u64 = std::env::var("WINDLASS_BENCH_SECONDS")
        .ok()
        .map(|s| s.parse().context("WINDLASS_BENCH_SECONDS"))
        .transpose()?
        .unwrap_or(20);
    let dir = tempfile::tempdir()?;
    let id = format!("bapi{:06x}", rand::random::<u32>() & 0xff_ffff);
    let engine = Engine::builder()
        .with_engine_id(&id)
        .with_store_url(format!(
            "sqlite://{}",
            dir.path().join("windlass.db").display()
        ))
        .with_stop_timeout(Duration::from_secs(2))
        .build()
        .await?;
    let (stop_engine, engine_stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn({
        let engine = engine.clone();
        async move {
            engine
                .run(async {
                    engine_stopped.await.ok();
                })
                .await
        }
    });
    let outcome = measure(&engine, seconds).await;
    stop_engine.send(()).ok();
    runner.await??;
    cleanup(&docker, &id).await?;
    outcome
}

async fn measure(engine: &Engine, seconds: u64) -> anyhow::Result<()> {
    println!(
        "windlass API benchmark: {} containers, {CLIENTS} keep-alive clients, {seconds} s per window",
        STEADY + ROLLING
    );
    engine
        .apply("bench", "load", service("steady", STEADY, 1))
        .await?;
    engine
        .apply("bench", "load", service("rolling", ROLLING, 1))
        .await?;
    let started = Instant::now();
    wait_running(engine, 1).await?;
    println!(
        "  deployed {} containers in {:.1} s",
        STEADY + ROLLING,
        started.elapsed().as_secs_f64()
    );
    let names: Vec<String> = engine
        .containers(&ContainerFilter::default())
        .await?
        .into_iter()
        .filter(|c| c.service == "steady")
        .map(|c| c.name)
        .collect();

    let mut results = Vec::new();
    for (revision, (label, ttl, rate)) in (2..).zip([
        (
            "list cache off, as fast as the clients go",
            Duration::ZERO,
            None,
        ),
        (
            "list cache on, as fast as the clients go",
            Duration::from_secs(1),
            None,
        ),
        (
            "list cache on, paced at 1200 requests/s",
            Duration::from_secs(1),
            Some(PACED_RATE),
        ),
    ]) {
        let state = ApiState::new(engine.clone()).with_list_ttl(ttl);
        let token = state
            .tokens
            .create("bench", EVERY_ORG, Role::Admin)
            .await?
            .secret;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(windlass_runner::api::serve(
            listener,
            windlass_runner::api::router(state),
            async {
                stopped.await.ok();
            },
        ));
        let window = Duration::from_secs(seconds);
        let deploy = {
            let engine = engine.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let at = Instant::now();
                engine
                    .apply("bench", "load", service("rolling", ROLLING, revision))
                    .await?;
                wait_running(&engine, revision).await?;
                anyhow::Ok(at.elapsed())
            })
        };
        let load = load(address, &token, &names, window, rate).await?;
        stop.send(()).ok();
        server.await??;
        let rolled = deploy.await??;
        println!();
        println!("{label}:");
        println!(
            "  new revision of the {ROLLING}-replica service applied 2 s in, all replaced in {:.1} s",
            rolled.as_secs_f64()
        );
        load.print();
        load.print_worst_seconds();
        results.push((label, load));
    }
    println!();
    println!("summary (target: >= 1000 requests/s overall at p99 <= 20 ms):");
    for (label, load) in &results {
        let all = load.overall();
        println!(
            "  {:<44} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  {}",
            label,
            all.rate(load.elapsed),
            all.percentile_ms(50.0),
            all.percentile_ms(99.0),
            if all.rate(load.elapsed) >= 1000.0 && all.percentile_ms(99.0) <= 20.0 {
                "meets the target"
            } else {
                "misses the target"
            }
        );
    }
    Ok(())
}

/// Waits until every replica runs the wanted revision of `rolling` (and all of `steady`).
async fn wait_running(engine: &Engine, rolling_revision: u32) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let containers = engine.containers(&ContainerFilter::default()).await?;
        let running = |service: &str, revision: Option<u64>| {
            containers
                .iter()
                .filter(|c| {
                    c.service == service
                        && c.status == windlass::ContainerStatus::Running
                        && revision.is_none_or(|r| c.revision == Some(r))
                })
                .count()
        };
        let steady = running("steady", None);
        let rolling = running("rolling", Some(u64::from(rolling_revision)));
        let rolling_total = containers.iter().filter(|c| c.service == "rolling").count();
        if steady == STEADY as usize && rolling == ROLLING as usize && rolling_total == rolling {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("only {steady} steady and {rolling} rolling containers run after 180 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Latencies of one route, in microseconds.
#[derive(Debug, Default, Clone)]
struct Samples {
    micros: Vec<u32>,
    /// The second of the window each request was sent (or due) in, beside `micros`.
    second: Vec<u16>,
    errors: u64,
}

impl Samples {
    fn merge(&mut self, other: &Samples) {
        self.micros.extend_from_slice(&other.micros);
        self.second.extend_from_slice(&other.second);
        self.errors += other.errors;
    }

    fn rate(&self, elapsed: Duration) -> f64 {
        self.micros.len() as f64 / elapsed.as_secs_f64()
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        f64::from(sorted[rank]) / 1000.0
    }
}

/// What one window measured.
#[derive(Debug)]
struct Load {
    elapsed: Duration,
    list: Samples,
    health: Samples,
}

impl Load {
    fn overall(&self) -> Samples {
        let mut all = self.list.clone();
        all.merge(&self.health);
        all
    }

    /// The three seconds of the window with the slowest p99, to tell a stall during the
    /// deploy from a steady cost.
    fn print_worst_seconds(&self) {
        let all = self.overall();
        let mut by_second: std::collections::BTreeMap<u16, Vec<u32>> = Default::default();
        for (second, micros) in all.second.iter().zip(&all.micros) {
            by_second.entry(*second).or_default().push(*micros);
        }
        let mut p99s: Vec<(u16, f64, usize)> = by_second
            .into_iter()
            .map(|(second, mut micros)| {
                micros.sort_unstable();
                let rank = (0.99 * (micros.len() - 1) as f64).round() as usize;
                (second, f64::from(micros[rank]) / 1000.0, micros.len())
            })
            .collect();
        p99s.sort_by(|a, b| b.1.total_cmp(&a.1));
        let worst: Vec<String> = p99s
            .iter()
            .take(3)
            .map(|(second, p99, n)| format!("second {second}: p99 {p99:.1} ms ({n} requests)"))
            .collect();
        println!("  slowest seconds: {}", worst.join("; "));
    }

    fn print(&self) {
        for (route, samples) in [
            ("GET /v1/containers", &self.list),
            ("GET /v1/containers/{name}/health", &self.health),
            ("overall", &self.overall()),
        ] {
            println!(
                "  {:<34} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ({} requests, {} errors)",
                route,
                samples.rate(self.elapsed),
                samples.percentile_ms(50.0),
                samples.percentile_ms(99.0),
                samples.percentile_ms(100.0),
                samples.micros.len(),
                samples.errors
            );
        }
    }
}

/// `CLIENTS` tasks, each on its own keep-alive connection, until `window` passes or
/// `MAX_REQUESTS` were sent: back to back, or at `rate` requests/s in all (then each latency
/// counts from when the request was due).
async fn load(
    address: std::net::SocketAddr,
    token: &str,
    names: &[String],
    window: Duration,
    rate: Option<f64>,
) -> anyhow::Result<Load> {
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + window;
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let (sent, token, names) = (sent.clone(), token.to_owned(), names.to_vec());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(address).await?;
            stream.set_nodelay(true)?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            let (mut list, mut health) = (Samples::default(), Samples::default());
            let mut i = client;
            // Paced: this client's requests are due every `interval`, staggered by client.
            let interval = rate.map(|r| Duration::from_secs_f64(CLIENTS as f64 / r));
            let mut due =
                started + interval.map_or(Duration::ZERO, |i| i / CLIENTS as u32 * client as u32);
            while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
                if interval.is_some() {
                    tokio::time::sleep_until(due.into()).await;
                }
                let (path, samples) = if i % 2 == 0 {
                    ("/v1/containers".to_owned(), &mut list)
                } else {
                    (
                        format!("/v1/containers/{}/health", names[i / 2 % names.len()]),
                        &mut health,
                    )
                };
                i += 1;
                let request = Request::get(path)
                    .header("host", "127.0.0.1")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Empty::<Bytes>::new())?;
                let at = if interval.is_some() {
                    due
                } else {
                    Instant::now()
                };
                due += interval.unwrap_or_default();
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                response.into_body().collect().await?;
                let micros = u32::try_from(at.elapsed().as_micros()).unwrap_or(u32::MAX);
                if status == StatusCode::OK {
                    samples.micros.push(micros);
                    samples
                        .second
                        .push(u16::try_from((at - started).as_secs()).unwrap_or(u16::MAX));
                } else {
                    samples.errors += 1;
                }
            }
            anyhow::Ok((list, health))
        }));
    }
    let (mut list, mut health) = (Samples::default(), Samples::default());
    for task in tasks {
        let (l, h) = task.await??;
        list.merge(&l);
        health.merge(&h);
    }
    Ok(Load {
        elapsed: started.elapsed(),
        list,
        health,
    })
}

/// Removes every container of the benchmark's engine.
async fn cleanup(docker: &Docker, id: &str) -> anyhow::Result<()> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&std::collections::HashMap::from([(
            "label",
            vec![format!("{LABEL_ENGINE}={id}")],
        )]))
        .build();
    let containers = docker.list_containers(Some(options)).await?;
    let removals = containers
        .iter()
        .filter_map(|c| c.id.as_deref())
        .map(|cid| {
            docker.remove_container(
                cid,
                Some(RemoveContainerOptionsBuilder::new().force(true).build()),
            )
        });
    for result in futures::future::join_all(removals).await {
        result?;
    }
    // The stack's network, once Docker has let go of the removed containers' endpoints.
    let network = format!("wl_{id}_bench_load");
    for _ in 0..20 {
        if docker.remove_network(&network).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}
