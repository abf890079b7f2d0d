//! Build benchmarks against a real git server (`git daemon` on loopback) and the real Docker
//! daemon, each against its baseline in the same run:
//!
//! 1. **Push to serving**: from a signed webhook delivery to the new commit's page served by
//!    the new revision, against doing the same by hand (`git clone --depth 1`, `docker build`,
//!    `docker run`, waiting for the page). Rounds alternate; each round is a new commit.
//! 2. **Rebuild of an unchanged commit**: `Engine::build` of the commit already built, to the
//!    record's end (same image, nothing rolled).
//! 3. **A tree of 5,000 files**: the engine's build (shallow fetch, detect and plan, the tar
//!    context streamed to Docker, Docker's build) against `docker build` of the same checked
//!    out tree, each round a commit that changes one file (the `COPY` layer is rebuilt).
//!
//! `cargo bench -p windlass --bench builds` (add `--profile dev` to reuse the test build;
//! needs Docker, git and `windlass-test/busybox:1`, and the plugins built:
//! `WINDLASS_PLUGINS_DIR`). `WINDLASS_BENCH_ROUNDS` sets the rounds (default 5).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use windlass::builds::{
    BuildSource, BuildState, BuildsConfig, WebhookDelivery, WebhookProvider, sign_webhook,
};
use windlass::secrets::SecretsConfig;
use windlass::{BuildRequest, Engine, PortSpec, ServiceSpec};
use windlass_test_support::git::{GitServer, Repo};

const BASE: &str = "windlass-test/busybox:1";

/// A static site whose server stops on SIGTERM as a real app does (BusyBox httpd as PID 1
/// ignores it, so every stop would wait out Docker's 10 s grace).
fn site_dockerfile() -> String {
    format!(
        "FROM {BASE}\nCOPY index.html /www/index.html\n\
         CMD [\"sh\", \"-c\", \"trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait\"]\n"
    )
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

fn rounds() -> usize {
    std::env::var("WINDLASS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// Whether `GET /` on 127.0.0.1:`port` answers 200 with `text` (one attempt, 250 ms at most:
/// the page answers in milliseconds, and a connection accepted by a container on its way out
/// must not hold the poll for long on either side of the comparison).
async fn page_has(port: u16, text: &str) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        anyhow::Ok(answer)
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(250), attempt).await,
        Ok(Ok(a)) if (a.starts_with("HTTP/1.0 200") || a.starts_with("HTTP/1.1 200")) && a.contains(text)
    )
}

async fn until_served(port: u16, text: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !page_has(port, text).await {
        anyhow::ensure!(Instant::now() < deadline, "{text} never served on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn sh(command: &str, dir: &Path) -> anyhow::Result<()> {
    let output = std::process::Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "`{command}`: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn engine(id: &str, dir: &Path) -> anyhow::Result<Engine> {
    let engine = Engine::builder()
        .with_engine_id(id)
        .with_store_url(format!("sqlite://{}", dir.join("w.db").display()))
        .with_resource_sampling(false)
        .with_secrets(
            SecretsConfig::key_file(dir.join("secrets.key"))
                .with_runtime_dir(format!("/dev/shm/windlass-{id}-secrets")),
        )
        .with_builds(
            BuildsConfig::default()
                .with_strategy(
                    "dockerfile",
                    windlass_test_support::plugins::dockerfile_strategy().await?,
                )
                .with_work_dir(dir.join("work")),
        )
        .build()
        .await?;
    Ok(engine)
}

/// Waits for the build to end and returns how long it ran (started → finished), failing
/// unless it succeeded.
async fn finished(engine: &Engine, id: &str) -> anyhow::Result<Duration> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let record = engine.build_record(id).await?;
        if record.state.is_terminal() {
            anyhow::ensure!(record.state == BuildState::Succeeded, "{record:?}");
            let ms = record.finished_ms.unwrap_or(0) - record.started_ms.unwrap_or(0);
            return Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        }
        anyhow::ensure!(Instant::now() < deadline, "build {id} did not end");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn windlass_now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(0)
}

/// Where the last push's time went: every event after `from`, ms after the delivery.
async fn timeline(engine: &Engine, from: u64, started_ms: i64) -> anyhow::Result<()> {
    let events = engine
        .events(&windlass::EventFilter::from_index(from + 1))
        .await?;
    println!("  the last push, event by event (ms after the delivery):");
    for e in events {
        let detail = ["state", "to", "step", "revision"]
            .iter()
            .find_map(|k| e.payload.get(*k).map(|v| format!("{k}={v}")))
            .unwrap_or_default();
        println!(
            "    {:>6} {} {} {}",
            e.ts_ms - started_ms,
            e.kind,
            e.container.as_deref().unwrap_or(""),
            detail
        );
    }
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn run() -> anyhow::Result<()> {
    let rounds = rounds();
    let dir = tempfile::tempdir()?;
    let id = format!("bench-builds-{}", std::process::id());
    let git_base = dir.path().join("git");
    std::fs::create_dir_all(&git_base)?;
    let git = GitServer::start(&git_base)?;
    let engine = engine(&id, dir.path()).await?;
    let runner = engine.clone();
    let task = tokio::spawn(async move { runner.run(std::future::pending()).await });
    let outcome = benches(&engine, &git, &git_base, dir.path(), rounds).await;
    task.abort();
    let _ = engine.remove_stack("bench", "site").await;
    let _ = engine.remove_stack("bench", "tree").await;
    // The run loop is gone: what the removals left (containers, networks) goes by label.
    let _ = windlass_test_support::docker::cleanup_labelled("dev.windlass.engine", &id).await;
    windlass_test_support::docker::remove_images_of_engine(&id).await;
    let _ = std::process::Command::new("sh")
        .args([
            "-c",
            "docker rm -f $(docker ps -aq --filter label=windlass-bench-manual) 2>/dev/null; \
             docker rmi -f $(docker images -q --filter label=windlass-bench-manual) 2>/dev/null",
        ])
        .output();
    std::fs::remove_dir_all(format!("/dev/shm/windlass-{id}-secrets")).ok();
    outcome
}

async fn benches(
    engine: &Engine,
    git: &GitServer,
    git_base: &Path,
    dir: &Path,
    rounds: usize,
) -> anyhow::Result<()> {
    // 1. Push to serving.
    let repo = Repo::init(git_base, "site.git")?;
    repo.commit(
        &[
            ("Dockerfile", &site_dockerfile()),
            ("index.html", "<h1>round 0</h1>"),
        ],
        "round 0",
    )?;
    let port = free_port()?;
    let spec = ServiceSpec::new("web", "")
        .with_port(PortSpec::tcp(8080).with_host_port(port))
        .with_build(BuildSource::new(git.url("site.git")).with_reference("main"));
    engine.apply("bench", "site", spec).await?;
    if let Err(error) = until_served(port, "round 0").await {
        let builds = engine
            .builds(&windlass::builds::BuildFilter::default())
            .await?;
        anyhow::bail!("{error}; builds: {builds:?}");
    }
    let secret = engine
        .rotate_webhook_secret("bench", "site", "web", "bench")
        .await?;
    let key = secrecy::ExposeSecret::expose_secret(&secret)
        .as_bytes()
        .to_vec();
    let manual_port = free_port()?;
    let (mut pushed, mut by_hand, mut built) = (Vec::new(), Vec::new(), Vec::new());
    let mut by_hand_commands = Vec::new();
    for round in 1..=rounds {
        // The engine: a signed push, to the new page served.
        let text = format!("engine round {round}");
        let sha = repo.commit(&[("index.html", &format!("<h1>{text}</h1>"))], &text)?;
        let body = format!(
            r#"{{"ref":"refs/heads/main","after":"{sha}","repository":{{"default_branch":"main"}}}}"#
        );
        let delivery = WebhookDelivery {
            signature: Some(sign_webhook(&key, body.as_bytes())),
            delivery_id: Some(format!("bench-{round}")),
        };
        let from = engine.event_log().last_index();
        let started = Instant::now();
        let started_ms = windlass_now_ms();
        engine
            .webhook_push(
                WebhookProvider::Github,
                "bench",
                "site",
                "web",
                &delivery,
                body.as_bytes(),
            )
            .await?;
        until_served(port, &text).await?;
        pushed.push(started.elapsed());
        let latest = engine
            .builds(&windlass::builds::BuildFilter {
                service: Some("web".into()),
                limit: Some(1),
                ..windlass::builds::BuildFilter::default()
            })
            .await?;
        if let Some(b) = latest.first() {
            let ms = b.finished_ms.unwrap_or(0) - b.queued_ms;
            built.push(Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
        }
        if round == rounds {
            timeline(engine, from, started_ms).await?;
            println!(
                "    {:>6} the new page served",
                pushed.last().map_or(0, Duration::as_millis)
            );
            if let Some(b) = latest.first() {
                println!("  its build log:");
                for line in engine.build_log(&b.id).await?.lines() {
                    println!("    {line}");
                }
            }
        }

        // By hand: clone, build, run, wait for the page, with a client polling all along as
        // the engine's round has one (a connection made while a container is replaced can
        // hang until its attempt times out: polling only once `docker run` returned would
        // spare the manual pipeline what the engine's round pays).
        let text = format!("manual round {round}");
        repo.commit(&[("index.html", &format!("<h1>{text}</h1>"))], &text)?;
        let checkout = dir.join(format!("manual-{round}"));
        let command = format!(
            "git clone -q --depth 1 {} {} && docker build -q --label windlass-bench-manual=1 -t windlass-bench-manual:{round} {} >/dev/null && \
             (docker rm -f windlass-bench-manual >/dev/null 2>&1; true) && \
             docker run -d --name windlass-bench-manual --label windlass-bench-manual=1 -p 127.0.0.1:{manual_port}:8080 windlass-bench-manual:{round} >/dev/null",
            git.url("site.git"),
            checkout.display(),
            checkout.display()
        );
        let started = Instant::now();
        let polling = tokio::spawn({
            let text = text.clone();
            async move { until_served(manual_port, &text).await }
        });
        let work_dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || sh(&command, &work_dir)).await??;
        let commands_done = started.elapsed();
        polling.await??;
        by_hand.push(started.elapsed());
        by_hand_commands.push(commands_done);
    }
    let (engine_p50, manual_p50) = (median(&mut pushed), median(&mut by_hand));
    println!("build benchmarks ({rounds} rounds each, medians)");
    println!(
        "  push to serving:   engine {engine_p50:>9.2?}   by hand {manual_p50:>9.2?}   ratio {:.2} (target <= 1.15)",
        engine_p50.as_secs_f64() / manual_p50.as_secs_f64()
    );
    println!(
        "    of which the build (queued to built) {:>9.2?}, the rest is the rollout",
        median(&mut built)
    );
    let commands_p50 = median(&mut by_hand_commands);
    println!(
        "    by hand, the commands alone (until `docker run` returned): {commands_p50:>9.2?} (engine / that: {:.2})",
        engine_p50.as_secs_f64() / commands_p50.as_secs_f64()
    );

    // 2. A rebuild of the commit already built.
    let mut rebuilds = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let record = engine
            .build("bench", "site", "web", BuildRequest::default())
            .await?;
        finished(engine, &record.id).await?;
        rebuilds.push(started.elapsed());
    }
    println!(
        "  unchanged rebuild: {:>9.2?} end to end (target < 3 s)",
        median(&mut rebuilds)
    );

    // 3. 5,000 files: the engine's build against docker build of the same tree.
    let tree = Repo::init(git_base, "tree.git")?;
    let mut files: Vec<(String, String)> = (0..5000)
        .map(|i| (format!("src/d{}/f{i}.txt", i % 50), format!("file {i}\n")))
        .collect();
    files.push((
        "Dockerfile".into(),
        format!("FROM {BASE}\nCOPY . /app\nCMD [\"sleep\", \"3600\"]\n"),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    tree.commit(&refs, "tree")?;
    // A git host keeps its repositories packed (`git gc`); 5,000 loose objects would make the
    // server deflate and delta-search every one for each fetch, which is the server's cost,
    // not the engine's.
    tree.git(&["repack", "-adq"])?;
    let spec = ServiceSpec::new("app", "")
        .with_build(BuildSource::new(git.url("tree.git")).with_reference("main"));
    engine.apply("bench", "tree", spec).await?;
    let (mut engine_builds, mut docker_builds) = (Vec::new(), Vec::new());
    let checkout = dir.join("tree-checkout");
    sh(
        &format!(
            "git clone -q {} {}",
            git.url("tree.git"),
            checkout.display()
        ),
        dir,
    )?;
    for round in 1..=rounds {
        tree.commit(
            &[("src/changed.txt", &format!("round {round}\n"))],
            "change",
        )?;
        let record = engine
            .build("bench", "tree", "app", BuildRequest::default())
            .await?;
        engine_builds.push(finished(engine, &record.id).await?);
        if round == rounds {
            // Where the engine's time went, from its own log.
            for line in engine.build_log(&record.id).await?.lines() {
                if line.contains(" in ") && line.contains(" ms") {
                    println!("    tree build: {line}");
                }
            }
        }

        std::fs::write(
            checkout.join("src/changed.txt"),
            format!("manual round {round}\n"),
        )?;
        let started = Instant::now();
        sh(
            &format!(
                "docker build -q --label windlass-bench-manual=1 -t windlass-bench-manual-tree:{round} . >/dev/null"
            ),
            &checkout,
        )?;
        docker_builds.push(started.elapsed());
    }
    // The first round clones afresh; the next ones start from the service's kept clone.
    let (engine_first, docker_first) = (engine_builds[0], docker_builds[0]);
    let (engine_p50, docker_p50) = (median(&mut engine_builds), median(&mut docker_builds));
    println!(
        "  5,000-file tree:   engine {engine_p50:>9.2?}   docker build {docker_p50:>9.2?}   ratio {:.2} (target <= 1.10)",
        engine_p50.as_secs_f64() / docker_p50.as_secs_f64()
    );
    println!(
        "    first build (a fresh clone, no kept one): engine {engine_first:>9.2?}   docker build {docker_first:>9.2?}   ratio {:.2}",
        engine_first.as_secs_f64() / docker_first.as_secs_f64()
    );
    Ok(())
}
