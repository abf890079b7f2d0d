//! The demo stack for real: the `stack-web-postgres` plugin renders PostgreSQL, the api and the
//! web page; the engine deploys them in dependency order with the locally built images; a visit
//! posted through the page lands in PostgreSQL and survives a redeploy of the database.
//!
//! Needs Docker, the images of `scripts/build-test-images.sh postgres demo-api demo-web` and
//! the plugins (`cargo build --release` in plugins/, or `WINDLASS_PLUGINS_DIR`).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use common::engine::{EngineScope, wait_event};
use common::http::Api;
use windlass::plugins::{PluginHost, PluginKind, PluginSpec};
use windlass::stacks::StackSpec;
use windlass::{ContainerFilter, Engine, EventFilter, Protocol, ServiceSpec};

async fn demo_stack() -> anyhow::Result<StackSpec> {
    demo_stack_with(&[("db_password", "s3cret")]).await
}

/// The template rendered with `params`.
async fn demo_stack_with(params: &[(&str, &str)]) -> anyhow::Result<StackSpec> {
    let dir = std::env::var_os("WINDLASS_PLUGINS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release"),
        PathBuf::from,
    );
    let component = dir.join("stack_web_postgres.wasm");
    if !component.is_file() {
        bail!(
            "{} is missing: build the plugins (`cargo build --release` in plugins/)",
            component.display()
        );
    }
    common::docker::connect_with_demo_images().await?;
    let host = PluginHost::builder().build()?;
    let plugin = host
        .load(PluginSpec::from_file("web-postgres", component).with_kind(PluginKind::StackTemplate))
        .await?;
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let rendered = plugin
        .stack_template()
        .unwrap()
        .render(&params)
        .await?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    StackSpec::from_rendered(&rendered).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn wait_ready(engine: &Engine) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status = engine.stack_status("acme", "shop").await?;
        if status.len() == 3 && status.iter().all(|s| s.is_ready()) {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the demo stack never got ready: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn page(engine: &Engine) -> anyhow::Result<(Api, String)> {
    let filter = ContainerFilter {
        org: Some("acme".into()),
        stack: Some("shop".into()),
        service: Some("web".into()),
    };
    let web = &engine.containers(&filter).await?[0];
    let port = engine
        .inspect(&web.name)
        .await?
        .host_port(80, Protocol::Tcp)
        .context("web publishes port 80")?;
    let api = Api::new(format!("127.0.0.1:{port}").parse()?);
    let answer = api.call("get", "/", None, None).await?;
    anyhow::ensure!(answer.status == 200, "{answer:?}");
    Ok((api, answer.body.as_str().unwrap_or_default().to_owned()))
}

/// The page shows no visit, a visit posted through it is answered 303, then the page shows it
/// (read back from PostgreSQL through the api).
async fn posts_the_first_visit(engine: &Engine) -> anyhow::Result<()> {
    let (web, before) = page(engine).await?;
    anyhow::ensure!(
        before.contains("Latest visits (from PostgreSQL): 0"),
        "{before}"
    );
    let posted = web.call("post", "/", None, None).await?;
    anyhow::ensure!(posted.status == 303, "{posted:?}");
    let (_, after) = page(engine).await?;
    anyhow::ensure!(
        after.contains("Latest visits (from PostgreSQL): 1"),
        "{after}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_stack_serves_rows_from_postgres_in_order_and_keeps_them_across_a_redeploy()
-> anyhow::Result<()> {
    let spec = demo_stack().await?;
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    engine
        .deploy_stack("acme", "shop", &spec, &BTreeMap::new())
        .await?;
    let runner = engine.clone();
    let run = tokio::spawn(async move { runner.run(std::future::pending()).await });
    wait_ready(&engine).await?;

    // Order: the api was created only once PostgreSQL answered queries, web once the api did.
    let events = engine.events(&EventFilter::from_index(0)).await?;
    let first = |kind: &str, service: &str, to: Option<&str>| {
        events
            .iter()
            .find(|e| {
                e.kind == kind
                    && e.service.as_deref() == Some(service)
                    && to.is_none_or(|t| e.payload["to"] == t)
            })
            .map(|e| e.index)
            .unwrap()
    };
    assert!(
        first("container-created", "api", None) > first("health-changed", "db", Some("passing"))
    );
    assert!(
        first("container-created", "web", None) > first("health-changed", "api", Some("passing"))
    );

    // A visit posted through the page is read back from PostgreSQL.
    posts_the_first_visit(&engine).await?;

    // A new revision of the database (replaced stop-first: it mounts its data volume) keeps
    // the data.
    let db_name = format!("wl_{}_acme_shop_db_0", scope.id);
    let old_db = engine.inspect(&db_name).await?.id;
    let stored = engine
        .services(windlass::Scope::Service {
            org: "acme",
            stack: "shop",
            service: "db",
        })
        .await?;
    let db: ServiceSpec = serde_json::from_value(stored[0].spec.clone())?;
    let from = engine.event_log().last_index();
    assert_eq!(
        engine
            .apply("acme", "shop", db.with_env("REDEPLOYED", "1"))
            .await?
            .revision,
        2
    );
    wait_event(&engine, "health-changed", Duration::from_secs(60), |e| {
        e.index > from && e.service.as_deref() == Some("db") && e.payload["to"] == "passing"
    })
    .await?;
    assert_ne!(
        engine.inspect(&db_name).await?.id,
        old_db,
        "the database container was replaced"
    );
    wait_ready(&engine).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, text) = page(&engine).await?;
        if text.contains("Latest visits (from PostgreSQL): 1") {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the visit is gone after the redeploy: {text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    run.abort();
    Ok(())
}

/// "This repository plus a PostgreSQL database": the template's `api` built from a git
/// repository (the demo backend's source on a loopback git server, detected as Python by
/// build-auto, built FROM the local Python base) instead of its image; the engine builds it,
/// deploys it behind PostgreSQL with `DATABASE_URL` injected, and the page shows a visit
/// stored in PostgreSQL through the built api.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_template_builds_its_api_from_a_repository_and_it_serves_rows_from_postgres()
-> anyhow::Result<()> {
    common::plugins::require_build_bases().await?;
    let base = tempfile::tempdir()?;
    let repo = common::git::Repo::init(base.path(), "api.git")?;
    let sha = repo.commit(
        &[
            ("requirements.txt", "# psycopg2 comes with the base image\n"),
            ("main.py", include_str!("../../images/demo-api/app.py")),
        ],
        "The demo api",
    )?;
    let server = common::git::GitServer::start(base.path())?;
    let url = server.url("api.git");
    let spec = demo_stack_with(&[
        ("db_password", "s3cret"),
        ("api_repository", &url),
        ("api_ref", "main"),
    ])
    .await?;
    let api_spec = spec.services.iter().find(|s| s.name == "api").unwrap();
    assert!(api_spec.build.is_some(), "{api_spec:?}");

    let host = PluginHost::builder().build()?;
    let scope = EngineScope::new();
    let work = tempfile::tempdir()?;
    let engine = scope
        .builder()
        .with_builds(
            common::plugins::build_strategies(&host)
                .await?
                .with_work_dir(work.path()),
        )
        .build()
        .await?;
    engine
        .deploy_stack("acme", "shop", &spec, &BTreeMap::new())
        .await?;
    let runner = engine.clone();
    let run = tokio::spawn(async move { runner.run(std::future::pending()).await });
    wait_ready(&engine).await?;

    // Built from the commit by build-auto's Python plan, and that image runs.
    let builds = engine
        .builds(&windlass::builds::BuildFilter {
            org: Some("acme".into()),
            stack: Some("shop".into()),
            service: Some("api".into()),
            limit: None,
        })
        .await?;
    assert_eq!(builds.len(), 1, "{builds:?}");
    let build = &builds[0];
    assert_eq!(
        build.state,
        windlass::builds::BuildState::Succeeded,
        "{build:?}"
    );
    assert_eq!(
        build.commit.as_ref().map(|c| c.sha.as_str()),
        Some(sha.as_str())
    );
    assert_eq!(build.strategy.as_deref(), Some("auto"));
    let plan = build.plan.clone().context("a plan")?;
    assert_eq!(plan["language"], "python", "{plan}");
    let filter = ContainerFilter {
        org: Some("acme".into()),
        stack: Some("shop".into()),
        service: Some("api".into()),
    };
    let api = &engine.containers(&filter).await?[0];
    let inspected = engine.inspect(&api.name).await?;
    assert_eq!(
        Some(inspected.image.as_str()),
        build.image.as_deref(),
        "{inspected:?}"
    );

    // A visit posted through the page goes through the built api into PostgreSQL (the api
    // reaches it only through the injected DATABASE_URL).
    posts_the_first_visit(&engine).await?;
    run.abort();
    Ok(())
}
