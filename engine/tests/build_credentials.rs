//! Builds from a private repository, against real git servers on loopback (`git http-backend`
//! behind HTTP Basic authentication, and an sshd of the test's own), real Docker and both
//! store backends: without
//! credentials the fetch is refused and the build says why; a source naming a missing secret
//! is refused at deploy; with the token in the secret store the build fetches, builds and
//! deploys, the read is audited (`secret-read`, purpose `build-clone`) and the token is in no
//! event, build log or record and nowhere on disk after the build; a new version of the secret
//! is what the next fetch uses; the secret cannot be deleted while the service needs it.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::time::Duration;

use anyhow::Context as _;
use common::db::TestDb;
use common::engine::{EngineScope, build_finished};
use common::git::Repo;
use common::git_http::GitHttpServer;
use common::git_ssh::GitSshServer;
use windlass::builds::{BuildRecord, BuildSource, BuildState, BuildsConfig, GitCredentials};
use windlass::secrets::SecretsConfig;
use windlass::secrets::secrecy::SecretString;
use windlass::{BuildRequest, Engine, EventFilter, ServiceSpec};

const SITE: &str = "FROM windlass-test/busybox:1\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";

async fn build(engine: &Engine) -> anyhow::Result<BuildRecord> {
    let request = BuildRequest {
        trigger: "test".into(),
        ..BuildRequest::default()
    };
    let record = engine.build("acme", "shop", "web", request).await?;
    build_finished(engine, &record.id, Duration::from_secs(120)).await
}

/// An engine with the Dockerfile strategy and a secret store, running.
struct Setup {
    scope: EngineScope,
    engine: Engine,
    work: tempfile::TempDir,
    _key_dir: tempfile::TempDir,
    runtime_dir: String,
    task: tokio::task::JoinHandle<Result<(), windlass::EngineError>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.runtime_dir).ok();
    }
}

impl Setup {
    async fn new(db: &TestDb) -> anyhow::Result<Self> {
        let scope = EngineScope::new();
        let key_dir = tempfile::tempdir()?;
        let work = tempfile::tempdir()?;
        let runtime_dir = format!("/dev/shm/windlass-test-{}", scope.id);
        let engine = scope
            .builder()
            .with_store_url(&db.url)
            .with_secrets(
                SecretsConfig::key_file(key_dir.path().join("secrets.key"))
                    .with_runtime_dir(&runtime_dir),
            )
            .with_builds(
                BuildsConfig::default()
                    .with_strategy("dockerfile", common::plugins::dockerfile_strategy().await?)
                    .with_work_dir(work.path()),
            )
            .build()
            .await?;
        let runner = engine.clone();
        let task = tokio::spawn(async move { runner.run(std::future::pending()).await });
        Ok(Setup {
            scope,
            engine,
            work,
            _key_dir: key_dir,
            runtime_dir,
            task,
        })
    }

    /// Waits until the work directory holds nothing but kept clones: no build's clone
    /// (removed or parked just after the record is final), no credential file (those live
    /// beside a clone, never in it, so a kept clone holds none).
    async fn work_dir_emptied(&self) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !windlass_test_support::engine::build_leftovers(self.work.path()).is_empty() {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "left in the work directory: {:?}",
                windlass_test_support::engine::build_leftovers(self.work.path())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Every event, as text.
    async fn all_events(&self) -> anyhow::Result<String> {
        let events = self
            .engine
            .events(&EventFilter {
                limit: Some(100_000),
                ..EventFilter::default()
            })
            .await?;
        Ok(serde_json::to_string(&events)?)
    }

    async fn finish(self) -> anyhow::Result<()> {
        self.engine.remove_stack("acme", "shop").await?;
        self.task.abort();
        common::docker::remove_images_of_engine(&self.scope.id).await;
        Ok(())
    }
}

async fn a_private_repository_builds_with_its_secret(db: &TestDb) -> anyhow::Result<()> {
    common::docker::connect_with_busybox().await?;
    let token = format!("wl-git-token-{}", common::docker::suffix());
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    repo.commit(
        &[("Dockerfile", SITE), ("index.html", "<h1>private</h1>")],
        "Private page",
    )?;
    let server = GitHttpServer::start(base.path(), "deploy", &token).await?;

    let setup = Setup::new(db).await?;
    let engine = &setup.engine;

    // A source that names a secret the org does not have is refused, naming it; nothing is
    // stored.
    let source = BuildSource::new(server.url("site.git"))
        .with_reference("main")
        .with_credentials(GitCredentials::secret("git-token").with_username("deploy"));
    let spec = ServiceSpec::new("web", "").with_build(source.clone());
    let error = engine
        .apply("acme", "shop", spec.clone())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "validation", "{error}");
    assert!(
        error.to_string().contains("build.credentials.secret")
            && error
                .to_string()
                .contains("`git-token` does not exist in org acme"),
        "{error}"
    );
    assert!(
        engine
            .services(windlass::Scope::Stack {
                org: "acme",
                stack: "shop"
            })
            .await?
            .is_empty()
    );

    // Without credentials the server refuses the fetch; the build says so and what to do.
    let anonymous = ServiceSpec::new("web", "")
        .with_build(BuildSource::new(server.url("site.git")).with_reference("main"));
    engine.apply("acme", "shop", anonymous).await?;
    let refused = build(engine).await?;
    assert_eq!(refused.state, BuildState::Failed, "{refused:?}");
    assert!(server.refused() > 0 && server.accepted() == 0);
    let hint = refused.hint.clone().unwrap_or_default();
    assert!(hint.contains("credentials"), "{refused:?}");

    // With the token in the secret store: fetched, built, deployed.
    engine
        .set_secret(
            "acme",
            "git-token",
            SecretString::from(format!("{token}\n")),
            "ops",
        )
        .await?;
    engine.apply("acme", "shop", spec).await?;
    let built = build(engine).await?;
    assert_eq!(built.state, BuildState::Succeeded, "{built:?}");
    assert!(built.deployed_revision.is_some(), "{built:?}");
    assert!(server.accepted() > 0);
    let log = engine.build_log(&built.id).await?;
    assert!(log.contains("Private page"), "{log}");

    // The read is audited, with the purpose, and the token is nowhere it should not be.
    let reads = engine
        .events(&EventFilter {
            kind: Some("secret-read".into()),
            ..EventFilter::default()
        })
        .await?;
    assert!(
        reads
            .iter()
            .any(|e| e.payload["purpose"] == "build-clone" && e.payload["secret"] == "git-token"),
        "{reads:?}"
    );
    let everything = format!(
        "{}{}{log}{:?}{:?}",
        setup.all_events().await?,
        serde_json::to_string(&built)?,
        built,
        engine
            .services(windlass::Scope::Stack {
                org: "acme",
                stack: "shop"
            })
            .await?,
    );
    assert!(!everything.contains(&token), "the token leaked");
    // Nothing of the fetch is left on disk but the kept clone, and the token is in none of
    // its files.
    setup.work_dir_emptied().await?;
    for entry in walkdir::WalkDir::new(setup.work.path()) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let bytes = std::fs::read(entry.path())?;
            assert!(
                !String::from_utf8_lossy(&bytes).contains(&token),
                "the token is in {}",
                entry.path().display()
            );
        }
    }

    // A wrong new version is what the next fetch uses: refused again.
    engine
        .set_secret("acme", "git-token", SecretString::from("wrong"), "ops")
        .await?;
    let stale = build(engine).await?;
    assert_eq!(stale.state, BuildState::Failed, "{stale:?}");
    assert!(
        stale
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("git fetch failed"),
        "{stale:?}"
    );

    // Listed as used by the build, and not deleted while it is; the refusal says by what.
    let listed = engine.secret("acme", "git-token").await?;
    let uses: Vec<(&str, &str, &str)> = listed
        .used_by
        .iter()
        .map(|u| (u.stack.as_str(), u.service.as_str(), u.injection))
        .collect();
    assert_eq!(uses, [("shop", "web", "build-credentials")]);
    let error = engine
        .delete_secret("acme", "git-token", "ops")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "secret-in-use", "{error}");
    assert!(
        error.to_string().contains("shop/web (build credentials)"),
        "{error}"
    );

    setup.finish().await
}

common::backend_tests!(a_private_repository_builds_with_its_secret);

/// Over `ssh://` the secret is a private key: without it sshd refuses the fetch; with it the
/// build fetches, builds and deploys, and the key is in no event or log and not left on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_over_ssh_builds_with_its_key() -> anyhow::Result<()> {
    common::docker::connect_with_busybox().await?;
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    repo.commit(
        &[("Dockerfile", SITE), ("index.html", "<h1>over ssh</h1>")],
        "Page over SSH",
    )?;
    let server = GitSshServer::start(base.path())?;
    let db = TestDb::sqlite().await?;
    let setup = Setup::new(&db).await?;
    let engine = &setup.engine;

    let anonymous = ServiceSpec::new("web", "")
        .with_build(BuildSource::new(server.url("site.git")).with_reference("main"));
    engine.apply("acme", "shop", anonymous).await?;
    let refused = build(engine).await?;
    assert_eq!(refused.state, BuildState::Failed, "{refused:?}");
    assert!(
        refused
            .hint
            .as_deref()
            .unwrap_or_default()
            .contains("credentials"),
        "{refused:?}"
    );

    engine
        .set_secret(
            "acme",
            "deploy-key",
            SecretString::from(server.client_key.clone()),
            "ops",
        )
        .await?;
    let source = BuildSource::new(server.url("site.git"))
        .with_reference("main")
        .with_credentials(GitCredentials::secret("deploy-key"));
    engine
        .apply(
            "acme",
            "shop",
            ServiceSpec::new("web", "").with_build(source),
        )
        .await?;
    let built = build(engine).await?;
    assert_eq!(built.state, BuildState::Succeeded, "{built:?}");
    assert!(built.deployed_revision.is_some(), "{built:?}");
    let log = engine.build_log(&built.id).await?;
    assert!(log.contains("Page over SSH"), "{log}");

    // The key's body (its base64 lines) is nowhere but the store.
    let body = server
        .client_key
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 20)
        .context("a key body line")?;
    let everything = format!("{}{log}{built:?}", setup.all_events().await?);
    assert!(!everything.contains(body), "the private key leaked");
    setup.work_dir_emptied().await?;
    setup.finish().await
}
