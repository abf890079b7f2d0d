//! Builds from a private repository, against a real git server (`git http-backend` behind
//! HTTP Basic authentication on loopback), real Docker and both store backends: without
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
use common::engine::EngineScope;
use common::git::Repo;
use common::git_http::GitHttpServer;
use windlass::builds::{BuildRecord, BuildSource, BuildState, BuildsConfig, GitCredentials};
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
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
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let record = engine.build_record(&record.id).await?;
        let settled = record.state != BuildState::Succeeded
            || record.deployed_revision.is_some()
            || record.error.is_some();
        if record.state.is_terminal() && settled {
            return Ok(record);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "build {} still {} after 120 s",
            record.id,
            record.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
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

    let scope = EngineScope::new();
    let key_dir = tempfile::tempdir()?;
    let work = tempfile::tempdir()?;
    let runtime_dir = format!("/dev/shm/windlass-test-{}", scope.id);
    let host = PluginHost::builder().build()?;
    let dockerfile = host
        .load(
            PluginSpec::from_file(
                "dockerfile",
                common::plugins::component("build_dockerfile.wasm")?,
            )
            .with_kind(PluginKind::BuildStrategy),
        )
        .await?;
    let engine = scope
        .builder()
        .with_store_url(&db.url)
        .with_secrets(
            SecretsConfig::key_file(key_dir.path().join("secrets.key"))
                .with_runtime_dir(&runtime_dir),
        )
        .with_builds(
            BuildsConfig::default()
                .with_strategy(
                    "dockerfile",
                    dockerfile.build_strategy().context("a build strategy")?,
                )
                .with_work_dir(work.path()),
        )
        .build()
        .await?;
    let runner = engine.clone();
    let task = tokio::spawn(async move { runner.run(std::future::pending()).await });

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
    let refused = build(&engine).await?;
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
    let built = build(&engine).await?;
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
    let events = engine
        .events(&EventFilter {
            limit: Some(100_000),
            ..EventFilter::default()
        })
        .await?;
    let everything = format!(
        "{}{}{log}{:?}{:?}",
        serde_json::to_string(&events)?,
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
    // Nothing of the fetch is left on disk: no clone (removed just after the record is
    // final), no credential file.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(work.path())?.count() > 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "left in the work directory: {:?}",
            std::fs::read_dir(work.path())?.collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A wrong new version is what the next fetch uses: refused again.
    engine
        .set_secret("acme", "git-token", SecretString::from("wrong"), "ops")
        .await?;
    let stale = build(&engine).await?;
    assert_eq!(stale.state, BuildState::Failed, "{stale:?}");
    assert!(
        stale
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("git fetch failed"),
        "{stale:?}"
    );

    // In use: not deleted, and the refusal says by what.
    let error = engine
        .delete_secret("acme", "git-token", "ops")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "secret-in-use", "{error}");
    assert!(
        error.to_string().contains("shop/web (build credentials)"),
        "{error}"
    );

    engine.remove_stack("acme", "shop").await?;
    task.abort();
    common::docker::remove_images_of_engine(&scope.id).await;
    Ok(())
}

common::backend_tests!(a_private_repository_builds_with_its_secret);
