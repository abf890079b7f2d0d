//! Builds from source against the real thing: a git repository served by `git daemon` on
//! loopback, the build strategy components from plugins/, the Docker engine, and the rolling
//! update that deploys what was built.

use std::time::Duration;

use anyhow::Context as _;
use windlass::builds::{BuildFilter, BuildRecord, BuildSource, BuildState, BuildsConfig};
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::{BuildRequest, Engine, PortSpec, ServiceSpec};
use windlass_test_support::engine::EngineScope;
use windlass_test_support::git::{GitServer, Repo};
use windlass_test_support::{docker, plugins};

/// A static site served by BusyBox httpd, with its own Dockerfile.
fn site(body: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "Dockerfile",
            "FROM windlass-test/busybox:1\nCOPY www /www\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
                .to_owned(),
        ),
        ("www/index.html", body.to_owned()),
    ]
}

fn files<'a>(list: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    list.iter().map(|(p, c)| (*p, c.as_str())).collect()
}

async fn strategies(host: &PluginHost) -> anyhow::Result<BuildsConfig> {
    let mut config = BuildsConfig::default();
    for (name, file) in [
        ("dockerfile", "build_dockerfile.wasm"),
        ("auto", "build_auto.wasm"),
    ] {
        let plugin = host
            .load(
                PluginSpec::from_file(name, plugins::component(file)?)
                    .with_kind(PluginKind::BuildStrategy),
            )
            .await?;
        config = config.with_strategy(name, plugin.build_strategy().context("a build strategy")?);
    }
    Ok(config)
}

fn run(engine: &Engine) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let runner = engine.clone();
    tokio::spawn(async move {
        runner.run(std::future::pending()).await?;
        Ok(())
    })
}

/// Waits until build `id` is in a terminal state.
async fn finished(engine: &Engine, id: &str, timeout: Duration) -> anyhow::Result<BuildRecord> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let record = engine.build_record(id).await?;
        if record.state.is_terminal() {
            return Ok(record);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("build {id} still {} after {timeout:?}", record.state);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The newest build of the service.
async fn latest(engine: &Engine, service: &str) -> anyhow::Result<BuildRecord> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let filter = BuildFilter {
            service: Some(service.to_owned()),
            org: Some("acme".to_owned()),
            stack: Some("shop".to_owned()),
            limit: Some(1),
        };
        if let Some(build) = engine.builds(&filter).await?.into_iter().next() {
            return Ok(build);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("no build of {service} was queued");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn remove_built_images(engine_id: &str) {
    let Ok(output) = tokio::process::Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            &format!("label=dev.windlass.engine={engine_id}"),
        ])
        .output()
        .await
    else {
        return;
    };
    let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if !ids.is_empty() {
        let _ = tokio::process::Command::new("docker")
            .args(["rmi", "-f"])
            .args(&ids)
            .output()
            .await;
    }
}

/// Declaring a service with a build source builds it (clone → detect → plan → docker build)
/// and deploys it; a second commit built through `Engine::build` replaces it; a failing build
/// changes nothing that runs and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_repository_becomes_a_running_service() -> anyhow::Result<()> {
    docker::connect_with_busybox().await?;
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    let first = repo.commit(&files(&site("<h1>first</h1>")), "First page")?;
    let server = GitServer::start(base.path())?;

    let host = PluginHost::builder().build()?;
    let scope = EngineScope::new();
    let work = tempfile::tempdir()?;
    let engine = scope
        .builder()
        .with_builds(strategies(&host).await?.with_work_dir(work.path()))
        .build()
        .await?;
    let task = run(&engine);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let spec = ServiceSpec::new("web", "")
        .with_build(BuildSource::new(server.url("site.git")).with_reference("main"))
        .with_port(PortSpec::tcp(8080).with_host_port(port));
    engine.apply("acme", "shop", spec).await?;

    // The declaration queued the first build.
    let build = latest(&engine, "web").await?;
    assert_eq!(build.trigger, "declared");
    let build = finished(&engine, &build.id, Duration::from_secs(120)).await?;
    let log = engine.build_log(&build.id).await?;
    assert_eq!(build.state, BuildState::Succeeded, "{build:?}\n{log}");
    let commit = build.commit.clone().context("a commit")?;
    assert_eq!(commit.sha, first);
    assert_eq!(commit.author, "Test Author <author@example.invalid>");
    assert_eq!(commit.message, "First page");
    assert_eq!(build.strategy.as_deref(), Some("dockerfile"));
    assert!(build.image_size.unwrap_or(0) > 0, "{build:?}");
    assert!(build.duration_ms().is_some());
    assert_eq!(build.deployed_revision, Some(2), "{build:?}");
    let image = build.image.clone().context("an image")?;
    assert!(image.ends_with(&first[..12]), "{image}");
    for expected in [
        "fetching main",
        "strategy dockerfile: dockerfile",
        "Step 1/",
        "-- succeeded",
    ] {
        assert!(
            log.contains(expected),
            "`{expected}` not in the log:\n{log}"
        );
    }
    let page = docker::http_get(port, "/", Duration::from_secs(30)).await?;
    assert!(page.contains("<h1>first</h1>"), "{page}");

    // A second commit, built on request, becomes the next revision.
    let second = repo.commit(&files(&site("<h1>second</h1>")), "Second page")?;
    let build = engine
        .build("acme", "shop", "web", BuildRequest::default())
        .await?;
    assert_eq!(build.trigger, "api");
    let build = finished(&engine, &build.id, Duration::from_secs(120)).await?;
    assert_eq!(build.state, BuildState::Succeeded, "{build:?}");
    assert_eq!(
        build.commit.as_ref().map(|c| c.sha.as_str()),
        Some(second.as_str())
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let page = docker::http_get(port, "/", Duration::from_secs(30)).await?;
        if page.contains("<h1>second</h1>") {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "still serving {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A failing build step: the record says why, the running revision keeps serving.
    let mut broken = site("<h1>broken</h1>");
    broken[0].1 = "FROM windlass-test/busybox:1\nRUN false\n".to_owned();
    repo.commit(&files(&broken), "Broken")?;
    let build = engine
        .build("acme", "shop", "web", BuildRequest::default())
        .await?;
    let build = finished(&engine, &build.id, Duration::from_secs(120)).await?;
    assert_eq!(build.state, BuildState::Failed, "{build:?}");
    let error = build.error.clone().unwrap_or_default();
    assert!(error.contains("non-zero code"), "{error}");
    assert!(
        build
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("build step failed"),
        "{build:?}"
    );
    let page = docker::http_get(port, "/", Duration::from_secs(30)).await?;
    assert!(page.contains("<h1>second</h1>"), "{page}");
    let failed = windlass_test_support::engine::wait_event(
        &engine,
        "build-failed",
        Duration::from_secs(5),
        |e| e.payload["build"] == build.id.as_str(),
    )
    .await?;
    assert!(
        failed.payload["log_tail"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );

    // Every state change was an event.
    let kinds = windlass_test_support::engine::event_kinds(&engine).await?;
    for kind in [
        "build-queued",
        "build-cloning",
        "build-detecting",
        "build-building",
        "build-succeeded",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    // No clone is left behind.
    assert_eq!(std::fs::read_dir(work.path())?.count(), 0);

    task.abort();
    remove_built_images(&scope.id).await;
    drop(server);
    Ok(())
}

/// The records on both backends: a source that cannot be fetched fails with git's reason and a
/// hint, the log is kept, the list finds it, and nothing is deployed.
async fn a_failed_fetch_is_recorded(db: &windlass_test_support::db::TestDb) -> anyhow::Result<()> {
    docker::connect_with_busybox().await?;
    let scope = EngineScope::new();
    let work = tempfile::tempdir()?;
    let engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_builds(BuildsConfig::default().with_work_dir(work.path()))
        .build()
        .await?;
    let missing = work.path().join("no-such-repository");
    let spec = ServiceSpec::new("web", "")
        .with_build(BuildSource::new(missing.display().to_string()).with_reference("main"));
    engine.apply("acme", "shop", spec).await?;
    let build = latest(&engine, "web").await?;
    let build = finished(&engine, &build.id, Duration::from_secs(30)).await?;
    assert_eq!(build.state, BuildState::Failed, "{build:?}");
    let error = build.error.clone().unwrap_or_default();
    assert!(error.contains("git fetch failed"), "{error}");
    assert!(
        build
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("could not be fetched"),
        "{build:?}"
    );
    assert!(build.finished_ms.is_some() && build.started_ms.is_some());
    let log = engine.build_log(&build.id).await?;
    assert!(
        log.contains("-- failed") && log.contains("queued by declared"),
        "{log}"
    );
    let all = engine.builds(&BuildFilter::default()).await?;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0], build);
    // A redelivered webhook is told apart from a new one.
    assert!(engine.record_webhook_delivery("github", "d-1").await?);
    assert!(!engine.record_webhook_delivery("github", "d-1").await?);
    // Nothing runs: the service has no image.
    assert!(
        engine
            .containers(&windlass::ContainerFilter::default())
            .await?
            .is_empty()
    );
    Ok(())
}

windlass_test_support::backend_tests!(a_failed_fetch_is_recorded);

/// Webhooks: a bad or missing signature builds nothing; 50 deliveries at once (three commits,
/// redelivered ids among them) make one build per commit, within the concurrency limit; a
/// push to another branch is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_deliveries_build_each_commit_once() -> anyhow::Result<()> {
    use windlass::builds::{WebhookDelivery, WebhookOutcome, WebhookProvider, sign_webhook};
    use windlass::secrets::{SecretsConfig, SecretsKey};

    docker::connect_with_busybox().await?;
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    repo.commit(&files(&site("<h1>0</h1>")), "Page 0")?;
    let server = GitServer::start(base.path())?;
    let host = PluginHost::builder().build()?;
    let scope = EngineScope::new();
    let work = tempfile::tempdir()?;
    let runtime_dir = format!("/dev/shm/windlass-test-{}", scope.id);
    let engine = scope
        .builder()
        .with_secrets(SecretsConfig::key(SecretsKey::generate()).with_runtime_dir(&runtime_dir))
        .with_builds(
            strategies(&host)
                .await?
                .with_work_dir(work.path())
                .with_concurrency(1),
        )
        .build()
        .await?;
    let spec = ServiceSpec::new("web", "")
        .with_build(BuildSource::new(server.url("site.git")).with_reference("main"));
    engine.apply("acme", "shop", spec).await?;
    let first = latest(&engine, "web").await?;
    finished(&engine, &first.id, Duration::from_secs(120)).await?;

    let secret = engine
        .rotate_webhook_secret("acme", "shop", "web", "test")
        .await?;
    let key = secrecy::ExposeSecret::expose_secret(&secret)
        .as_bytes()
        .to_vec();
    let mut commits = Vec::new();
    for i in 1..=3 {
        commits.push(repo.commit(
            &files(&site(&format!("<h1>{i}</h1>"))),
            &format!("Page {i}"),
        )?);
    }
    let push = |branch: &str, sha: &str| {
        format!(
            r#"{{"ref":"refs/heads/{branch}","after":"{sha}","repository":{{"default_branch":"main"}}}}"#
        )
    };

    // Refused before anything is read.
    let body = push("main", &commits[0]);
    for signature in [None, Some(sign_webhook(b"wrong", body.as_bytes()))] {
        let delivery = WebhookDelivery {
            signature,
            delivery_id: Some("bad".into()),
        };
        let outcome = engine
            .webhook_push(
                WebhookProvider::Github,
                "acme",
                "shop",
                "web",
                &delivery,
                body.as_bytes(),
            )
            .await?;
        assert_eq!(outcome, WebhookOutcome::Unauthorized);
    }
    // Another branch: acknowledged, ignored.
    let body = push("feature", &commits[0]);
    let delivery = WebhookDelivery {
        signature: Some(sign_webhook(&key, body.as_bytes())),
        delivery_id: Some("feature-1".into()),
    };
    let outcome = engine
        .webhook_push(
            WebhookProvider::Github,
            "acme",
            "shop",
            "web",
            &delivery,
            body.as_bytes(),
        )
        .await?;
    assert!(matches!(outcome, WebhookOutcome::Ignored(_)), "{outcome:?}");

    // 50 at once: commits round-robin, the first five sharing one delivery id.
    let deliveries = (0..50).map(|i| {
        let engine = engine.clone();
        let body = push("main", &commits[i % 3]);
        let delivery = WebhookDelivery {
            signature: Some(sign_webhook(&key, body.as_bytes())),
            delivery_id: Some(if i < 5 {
                "dup".to_owned()
            } else {
                format!("d-{i}")
            }),
        };
        tokio::spawn(async move {
            engine
                .webhook_push(
                    WebhookProvider::Github,
                    "acme",
                    "shop",
                    "web",
                    &delivery,
                    body.as_bytes(),
                )
                .await
        })
    });
    let outcomes = futures::future::join_all(deliveries).await;
    let mut builds = std::collections::BTreeSet::new();
    let mut duplicates = 0;
    for outcome in outcomes {
        match outcome?? {
            WebhookOutcome::Build(record) => {
                builds.insert(record.id);
            }
            WebhookOutcome::Duplicate => duplicates += 1,
            other => anyhow::bail!("unexpected {other:?}"),
        }
    }
    assert_eq!(duplicates, 4);
    assert_eq!(builds.len(), 3, "{builds:?}");

    // The concurrency limit holds while they run; each commit is built once.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        let all = engine.builds(&BuildFilter::default()).await?;
        let running = all
            .iter()
            .filter(|b| {
                matches!(
                    b.state,
                    BuildState::Cloning | BuildState::Detecting | BuildState::Building
                )
            })
            .count();
        assert!(running <= 1, "{running} builds at once");
        if all.iter().all(|b| b.state.is_terminal()) {
            let hooked: Vec<_> = all
                .iter()
                .filter(|b| b.trigger == "webhook-github")
                .collect();
            assert_eq!(hooked.len(), 3);
            let mut built: Vec<String> = hooked
                .iter()
                .map(|b| b.commit.as_ref().map(|c| c.sha.clone()).unwrap_or_default())
                .collect();
            built.sort();
            let mut expected = commits.clone();
            expected.sort();
            assert_eq!(built, expected);
            for b in hooked {
                assert_eq!(b.state, BuildState::Succeeded, "{b:?}");
            }
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "builds still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    remove_built_images(&scope.id).await;
    let _ = std::fs::remove_dir_all(&runtime_dir);
    drop(server);
    Ok(())
}
