//! Builds from source against the real thing: a git repository served by `git daemon` on
//! loopback, the build strategy components from plugins/, the Docker engine, and the rolling
//! update that deploys what was built.

use std::time::Duration;

use anyhow::Context as _;
use windlass::builds::{BuildFilter, BuildRecord, BuildSource, BuildState, BuildsConfig};
use windlass::plugins::PluginHost;
use windlass::{BuildRequest, Engine, PortSpec, ServiceSpec};
use windlass_test_support::docker;
use windlass_test_support::engine::{
    EngineScope, build_finished as finished, build_leftovers, kept_clones,
};
use windlass_test_support::git::{GitServer, Repo};
use windlass_test_support::plugins::{
    AUTO_IMAGES, build_strategies as strategies, require_build_bases as require_bases,
};

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

fn run(engine: &Engine) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let runner = engine.clone();
    tokio::spawn(async move {
        runner.run(std::future::pending()).await?;
        Ok(())
    })
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
    // It started from the first build's kept clone (and served the second page: the tree
    // was the new commit's).
    let log = engine.build_log(&build.id).await?;
    assert!(log.contains("reusing the service's kept clone"), "{log}");
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
    // No clone is left behind: the last build failed, so the kept clone it started from was
    // removed with it rather than parked again.
    assert_eq!(build_leftovers(work.path()), Vec::<String>::new());
    assert_eq!(kept_clones(work.path()), 0);

    task.abort();
    docker::remove_images_of_engine(&scope.id).await;
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
    docker::remove_images_of_engine(&scope.id).await;
    let _ = std::fs::remove_dir_all(&runtime_dir);
    drop(server);
    Ok(())
}

/// A static site: only an `index.html` (build-auto, served by BusyBox httpd on port 80).
fn static_site() -> Vec<(&'static str, String)> {
    vec![
        ("index.html", "<h1>static from git</h1>\n".to_owned()),
        ("style.css", "h1 { color: teal }\n".to_owned()),
    ]
}

/// A Python web application on the standard library only (build-auto; nothing to install).
fn python_app(greeting: &str) -> Vec<(&'static str, String)> {
    let main = format!(
        r#"import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("<h1>{greeting}</h1><p>python %d.%d</p>" % sys.version_info[:2]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"#
    );
    vec![
        ("requirements.txt", "# standard library only\n".to_owned()),
        ("main.py", main),
    ]
}

/// A Node.js application without dependencies (build-auto; started with `node server.js`).
fn node_app() -> Vec<(&'static str, String)> {
    vec![
        (
            "package.json",
            r#"{"name":"hello-node","version":"1.0.0","main":"server.js"}"#.to_owned(),
        ),
        (
            "server.js",
            r#"const http = require("http");
http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end("<h1>node from git</h1><p>node " + process.versions.node + "</p>");
  })
  .listen(Number(process.env.PORT));
"#
            .to_owned(),
        ),
    ]
}

/// A free port on loopback.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `GET /` on `port` answers a page containing `text`.
async fn serves(port: u16, text: &str, timeout: Duration) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        // These services have no readiness probe: ready means started, and an app may still be
        // opening its socket (Docker's proxy then resets the connection). Retried like a 404.
        let page = match docker::http_get(port, "/", Duration::from_secs(30)).await {
            Ok(page) => page,
            Err(error) => format!("no answer: {error:#}"),
        };
        if (page.starts_with("HTTP/1.0 200") || page.starts_with("HTTP/1.1 200"))
            && page.contains(text)
        {
            return Ok(page);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "port {port} does not serve `{text}`: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An app of the end-to-end test: service name, tree, container port, strategy, language and
/// the text its page must show.
type App = (
    &'static str,
    Vec<(&'static str, String)>,
    u16,
    &'static str,
    &'static str,
    &'static str,
);

/// A hostile commit: what it is, how it changes the work tree, the error and hint expected.
type HostileCase<'a> = (
    &'static str,
    &'a dyn Fn(&std::path::Path) -> std::io::Result<()>,
    &'static str,
    &'static str,
);

/// From a git repository on a loopback git server to a served page, for each kind of tree
/// this machine can build: a static site, a Python web app and a Node.js app (build-auto, on
/// the local bases its config names) and a repository with its own Dockerfile
/// (build-dockerfile). Each goes detect → plan → Docker build → rolling update, and an HTTP
/// GET of the running container returns its page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_tree_builds_here_and_serves_its_page() -> anyhow::Result<()> {
    require_bases().await?;
    let base = tempfile::tempdir()?;
    let apps: [App; 4] = [
        (
            "site",
            static_site(),
            80,
            "auto",
            "static",
            "<h1>static from git</h1>",
        ),
        (
            "py",
            python_app("python from git"),
            8080,
            "auto",
            "python",
            "<h1>python from git</h1><p>python 3.",
        ),
        (
            "js",
            node_app(),
            8080,
            "auto",
            "node",
            "<h1>node from git</h1><p>node 18.",
        ),
        (
            "own",
            site("<h1>own Dockerfile</h1>"),
            8080,
            "dockerfile",
            "dockerfile",
            "<h1>own Dockerfile</h1>",
        ),
    ];
    let mut commits = Vec::new();
    for (name, tree, ..) in &apps {
        let repo = Repo::init(base.path(), &format!("{name}.git"))?;
        commits.push(repo.commit(&files(tree), &format!("The {name} app"))?);
    }
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
    let mut ports = Vec::new();
    for (name, _, container_port, ..) in &apps {
        let port = free_port()?;
        ports.push(port);
        let spec = ServiceSpec::new(*name, "")
            .with_build(BuildSource::new(server.url(&format!("{name}.git"))).with_reference("main"))
            .with_port(PortSpec::tcp(*container_port).with_host_port(port));
        engine.apply("acme", "shop", spec).await?;
    }

    for (i, (name, _, _, strategy, language, page)) in apps.iter().enumerate() {
        let queued = latest(&engine, name).await?;
        let build = finished(&engine, &queued.id, Duration::from_secs(180)).await?;
        let log = engine.build_log(&build.id).await?;
        assert_eq!(
            build.state,
            BuildState::Succeeded,
            "{name}: {build:?}\n{log}"
        );
        assert_eq!(
            build.commit.as_ref().map(|c| c.sha.as_str()),
            Some(commits[i].as_str()),
            "{name}"
        );
        assert_eq!(build.strategy.as_deref(), Some(*strategy), "{name}: {log}");
        let plan = build.plan.clone().context("a plan")?;
        assert_eq!(plan["language"], *language, "{name}: {plan}");
        if *strategy == "auto" {
            // The plan built FROM the configured local base, never a public image.
            let dockerfile = plan["dockerfile"].as_str().unwrap_or_default();
            let from: Vec<&str> = dockerfile
                .lines()
                .filter_map(|l| l.strip_prefix("FROM "))
                .collect();
            assert!(
                !from.is_empty()
                    && from
                        .iter()
                        .all(|f| AUTO_IMAGES.iter().any(|(_, image)| f.starts_with(image))),
                "{name}: {dockerfile}"
            );
            assert!(
                !dockerfile.contains("pip") && !dockerfile.contains("npm"),
                "{name}: {dockerfile}"
            );
        }
        assert_eq!(build.deployed_revision, Some(2), "{name}: {build:?}\n{log}");
        let got = serves(ports[i], page, Duration::from_secs(60)).await?;
        assert!(got.contains(page), "{name}: {got}");
    }
    // The pages come from the built images, one container per service.
    let containers = engine
        .containers(&windlass::ContainerFilter::default())
        .await?;
    for (name, ..) in &apps {
        let of: Vec<_> = containers.iter().filter(|c| c.service == *name).collect();
        assert_eq!(of.len(), 1, "{name}: {containers:?}");
        assert!(
            of[0]
                .image
                .starts_with(&format!("windlass-build/{}/acme/shop/{name}:", scope.id)),
            "{name}: {:?}",
            of[0]
        );
    }
    assert_eq!(build_leftovers(work.path()), Vec::<String>::new());
    assert_eq!(kept_clones(work.path()), apps.len());

    task.abort();
    docker::remove_images_of_engine(&scope.id).await;
    drop(server);
    Ok(())
}

/// A rebuild of the commit that runs uses Docker's layer cache and makes the same image, so
/// the service is not rolled (same revision, same container); a new commit rolls it. The
/// records on both backends.
async fn a_rebuild_of_the_same_commit_does_not_roll(
    db: &windlass_test_support::db::TestDb,
) -> anyhow::Result<()> {
    require_bases().await?;
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "py.git")?;
    let first = repo.commit(&files(&python_app("first")), "First")?;
    let server = GitServer::start(base.path())?;
    let host = PluginHost::builder().build()?;
    let scope = EngineScope::new();
    let work = tempfile::tempdir()?;
    let engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_builds(strategies(&host).await?.with_work_dir(work.path()))
        .build()
        .await?;
    let task = run(&engine);
    let port = free_port()?;
    let spec = ServiceSpec::new("web", "")
        .with_build(BuildSource::new(server.url("py.git")).with_reference("main"))
        .with_port(PortSpec::tcp(8080).with_host_port(port));
    engine.apply("acme", "shop", spec).await?;
    let queued = latest(&engine, "web").await?;
    let built = finished(&engine, &queued.id, Duration::from_secs(180)).await?;
    assert_eq!(built.state, BuildState::Succeeded, "{built:?}");
    let revision = built.deployed_revision.context("deployed")?;
    serves(port, "<h1>first</h1>", Duration::from_secs(60)).await?;
    let web = windlass::ContainerFilter {
        org: Some("acme".into()),
        stack: Some("shop".into()),
        service: Some("web".into()),
    };
    let running = engine.containers(&web).await?;
    assert_eq!(running.len(), 1, "{running:?}");
    let runtime = docker::connect().await?;
    let image_id = runtime
        .require_image(built.image.as_deref().unwrap_or_default())
        .await?;

    // The same commit again.
    let again = engine
        .build("acme", "shop", "web", BuildRequest::default())
        .await?;
    let again = finished(&engine, &again.id, Duration::from_secs(120)).await?;
    let log = engine.build_log(&again.id).await?;
    assert_eq!(again.state, BuildState::Succeeded, "{again:?}\n{log}");
    assert_eq!(
        again.commit.as_ref().map(|c| c.sha.as_str()),
        Some(first.as_str())
    );
    assert_eq!(again.image, built.image, "{log}");
    assert_eq!(again.deployed_revision, Some(revision), "{again:?}\n{log}");
    for expected in ["Using cache", "image unchanged", "not rolled"] {
        assert!(
            log.contains(expected),
            "`{expected}` not in the log:\n{log}"
        );
    }
    // The tag still names the image that runs, and no dangling copy is left.
    assert_eq!(
        runtime
            .require_image(again.image.as_deref().unwrap_or_default())
            .await?,
        image_id
    );
    let dangling = tokio::process::Command::new("docker")
        .args(["images", "-q", "--filter", "dangling=true", "--filter"])
        .arg(format!("label=dev.windlass.engine={}", scope.id))
        .output()
        .await?;
    assert!(
        String::from_utf8_lossy(&dangling.stdout).trim().is_empty(),
        "dangling images: {}",
        String::from_utf8_lossy(&dangling.stdout)
    );
    // Nothing was rolled: the same container serves, at the same revision.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = engine.containers(&web).await?;
    assert_eq!(
        after
            .iter()
            .map(|c| (&c.id, c.revision))
            .collect::<Vec<_>>(),
        running
            .iter()
            .map(|c| (&c.id, c.revision))
            .collect::<Vec<_>>()
    );
    let rolled = windlass_test_support::engine::event_kinds(&engine).await?;
    assert_eq!(
        rolled.iter().filter(|k| *k == "build-succeeded").count(),
        2,
        "{rolled:?}"
    );

    // A new commit rolls it.
    let second = repo.commit(&files(&python_app("second")), "Second")?;
    let next = engine
        .build("acme", "shop", "web", BuildRequest::default())
        .await?;
    let next = finished(&engine, &next.id, Duration::from_secs(120)).await?;
    assert_eq!(next.state, BuildState::Succeeded, "{next:?}");
    assert_eq!(
        next.commit.as_ref().map(|c| c.sha.as_str()),
        Some(second.as_str())
    );
    assert_eq!(next.deployed_revision, Some(revision + 1), "{next:?}");
    serves(port, "<h1>second</h1>", Duration::from_secs(60)).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = engine.containers(&web).await?;
        if now.len() == 1 && now[0].id != running[0].id && now[0].revision == Some(revision + 1) {
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "not rolled: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The three records, newest first.
    let all = engine
        .builds(&BuildFilter {
            service: Some("web".into()),
            org: Some("acme".into()),
            stack: Some("shop".into()),
            limit: None,
        })
        .await?;
    assert_eq!(
        all.iter().map(|b| b.deployed_revision).collect::<Vec<_>>(),
        [Some(revision + 1), Some(revision), Some(revision)]
    );

    task.abort();
    docker::remove_images_of_engine(&scope.id).await;
    drop(server);
    Ok(())
}

windlass_test_support::backend_tests!(a_rebuild_of_the_same_commit_does_not_roll);

/// Waits for the newest build of `service` that is not `after` to finish.
async fn next_build(
    engine: &Engine,
    service: &str,
    after: &str,
    timeout: Duration,
) -> anyhow::Result<BuildRecord> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let newest = latest(engine, service).await?;
        if newest.id != after {
            return finished(engine, &newest.id, timeout).await;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no new build of {service}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A hostile repository: hooks (in the served repository and committed with a
/// `core.hooksPath` pointing at them) never run, a submodule is not followed, a symlink out of
/// the tree (absolute, or outside only once resolved through another link), a subdirectory
/// through a symlink or with `..`, and a file over the limit are refused with a reason and a
/// hint, and the revision that runs keeps serving throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_repository_is_contained() -> anyhow::Result<()> {
    use std::os::unix::fs::{PermissionsExt as _, symlink};

    docker::connect_with_busybox().await?;
    let base = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let marker = outside.path().join("a-hook-ran");
    let hook = format!("#!/bin/sh\ntouch '{}'\n", marker.display());

    // A repository the submodule points at: its page must never be served.
    let secret = Repo::init(base.path(), "secret.git")?;
    let secret_sha = secret.commit(&[("secret.html", "<h1>from the submodule</h1>")], "Secret")?;

    let repo = Repo::init(base.path(), "evil.git")?;
    let mut tree = site("<h1>safe</h1>");
    tree[0].1 = "FROM windlass-test/busybox:1\nCOPY www /www\nRUN [ ! -e /www/sub/secret.html ]\nEXPOSE 8080\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n".to_owned();
    tree.push((".githooks/post-checkout", hook.clone()));
    tree.push((
        ".gitmodules",
        "[submodule \"sub\"]\n\tpath = www/sub\n\turl = ../secret.git\n".to_owned(),
    ));
    repo.commit(&files(&tree), "Safe, with hooks and a submodule")?;
    std::fs::set_permissions(
        repo.dir.join(".githooks/post-checkout"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    repo.git(&["update-index", "--chmod=+x", ".githooks/post-checkout"])?;
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{secret_sha},www/sub"),
    ])?;
    repo.git(&["commit", "-q", "-m", "The submodule"])?;
    let safe = repo.git(&["rev-parse", "HEAD"])?.trim().to_owned();
    // Hooks in the served repository itself, and its config pointing at the committed ones.
    let served_hook = repo.dir.join(".git/hooks/post-checkout");
    std::fs::write(&served_hook, &hook)?;
    std::fs::set_permissions(&served_hook, std::fs::Permissions::from_mode(0o755))?;
    // They work: a checkout in the repository runs them (the control for the check below).
    repo.git(&["checkout", "-q", "main"])?;
    anyhow::ensure!(marker.exists(), "the control hook did not run");
    std::fs::remove_file(&marker)?;
    repo.git(&["config", "core.hooksPath", ".githooks"])?;
    repo.git(&["checkout", "-q", "main"])?;
    anyhow::ensure!(marker.exists(), "the committed control hook did not run");
    std::fs::remove_file(&marker)?;
    let server = GitServer::start(base.path())?;

    let host = PluginHost::builder().build()?;
    let scope = EngineScope::new();
    let work = tempfile::tempdir()?;
    let mut builds = strategies(&host).await?.with_work_dir(work.path());
    builds.max_file_bytes = 64 << 10;
    let engine = scope.builder().with_builds(builds).build().await?;
    let task = run(&engine);
    let port = free_port()?;
    let source = BuildSource::new(server.url("evil.git")).with_reference("main");
    let spec = ServiceSpec::new("web", "")
        .with_build(source.clone())
        .with_port(PortSpec::tcp(8080).with_host_port(port));
    engine.apply("acme", "shop", spec.clone()).await?;
    let build = latest(&engine, "web").await?;
    let build = finished(&engine, &build.id, Duration::from_secs(120)).await?;
    let log = engine.build_log(&build.id).await?;
    assert_eq!(build.state, BuildState::Succeeded, "{build:?}\n{log}");
    assert_eq!(
        build.commit.as_ref().map(|c| c.sha.as_str()),
        Some(safe.as_str())
    );
    let safe_image = build.image.clone();
    serves(port, "<h1>safe</h1>", Duration::from_secs(60)).await?;
    // The submodule was not followed (the build's own RUN checked it too).
    let page = docker::http_get(port, "/sub/secret.html", Duration::from_secs(10)).await?;
    assert!(
        page.starts_with("HTTP/1.0 404") || page.starts_with("HTTP/1.1 404"),
        "{page}"
    );
    assert!(!log.contains("secret.git"), "{log}");
    assert!(
        !marker.exists(),
        "a hook of the repository ran during the build"
    );

    // Each hostile commit fails with its reason and hint; the safe revision keeps serving.
    let mut last = build.id.clone();
    let cases: [HostileCase; 3] = [
        (
            "an absolute symlink",
            &|dir| symlink("/etc/passwd", dir.join("www/passwd")),
            "symlink `www/passwd`",
            "symlink pointing outside",
        ),
        (
            "a symlink outside once resolved",
            &|dir| {
                std::fs::remove_file(dir.join("www/passwd"))?;
                symlink(".", dir.join("www/loop"))?;
                symlink("loop/loop/../../..", dir.join("www/up"))
            },
            "symlink `www/up`",
            "symlink pointing outside",
        ),
        (
            "a huge file",
            &|dir| {
                std::fs::remove_file(dir.join("www/up"))?;
                std::fs::write(dir.join("www/huge.bin"), vec![b'x'; 100 << 10])
            },
            "`www/huge.bin` is 102400 bytes",
            "size limits",
        ),
    ];
    for (what, change, error, hint) in cases {
        change(&repo.dir)?;
        repo.commit(&[], what)?;
        let build = engine
            .build("acme", "shop", "web", BuildRequest::default())
            .await?;
        let build = finished(&engine, &build.id, Duration::from_secs(120)).await?;
        assert_eq!(build.state, BuildState::Failed, "{what}: {build:?}");
        let message = build.error.clone().unwrap_or_default();
        assert!(message.contains(error), "{what}: {message}");
        assert!(
            build.hint.as_deref().unwrap_or("").contains(hint),
            "{what}: {build:?}"
        );
        assert_eq!(build.image, None, "{what}");
        serves(port, "<h1>safe</h1>", Duration::from_secs(10)).await?;
        last = build.id;
    }
    std::fs::remove_file(repo.dir.join("www/huge.bin"))?;
    repo.commit(&[], "Back to safe")?;

    // A subdirectory (the Dockerfile's directory) through a symlink, or leaving the tree.
    symlink("www", repo.dir.join("app"))?;
    repo.commit(&[], "A link to www")?;
    let through_link = spec.clone().with_build(
        source
            .clone()
            .with_subdirectory("app")
            .with_strategy("dockerfile"),
    );
    engine.apply("acme", "shop", through_link).await?;
    let build = next_build(&engine, "web", &last, Duration::from_secs(120)).await?;
    assert_eq!(build.state, BuildState::Failed, "{build:?}");
    let message = build.error.clone().unwrap_or_default();
    assert!(
        message.contains("`app` goes through a symlink"),
        "{message}"
    );
    for dotdot in ["../outside", "www/../../outside"] {
        let leaving = spec
            .clone()
            .with_build(source.clone().with_subdirectory(dotdot));
        let refused = engine.apply("acme", "shop", leaving).await;
        let message = format!("{:?}", refused.as_ref().err());
        assert!(
            refused.is_err() && message.contains("build.subdirectory"),
            "{dotdot}: {message}"
        );
    }
    serves(port, "<h1>safe</h1>", Duration::from_secs(10)).await?;
    let containers = engine
        .containers(&windlass::ContainerFilter::default())
        .await?;
    // Only the safe image ever ran (changing the source is a new revision of the spec, but the
    // image stays the one built from the safe commit).
    assert!(
        !containers.is_empty()
            && containers
                .iter()
                .all(|c| Some(c.image.as_str()) == safe_image.as_deref()),
        "{containers:?}"
    );

    // No hook ever ran, and no clone is left but the kept one of the safe revision.
    assert!(!marker.exists(), "a hook of the repository ran");
    assert_eq!(build_leftovers(work.path()), Vec::<String>::new());
    assert!(kept_clones(work.path()) <= 1);

    task.abort();
    docker::remove_images_of_engine(&scope.id).await;
    drop(server);
    Ok(())
}
