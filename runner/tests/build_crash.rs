//! `kill -9` of a real runner process in the middle of a build, on both store backends: once
//! while it fetches a private repository (a slow `git http-backend` behind Basic
//! authentication, the token's file on disk) and once while Docker runs a build step. After
//! each restart the build is failed with the reason, nothing of it is deployed, the running
//! revision keeps serving, the work directory is empty (no clone, no credential file) and no
//! dangling image of the engine's is left; the next build deploys.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod process;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use process::{Runner, free_port, toml_string};
use serde_json::{Value, json};
use windlass_test_support::db::TestDb;
use windlass_test_support::engine::EngineScope;
use windlass_test_support::git::Repo;
use windlass_test_support::git_http::GitHttpServer;
use windlass_test_support::http::Api;

/// A BusyBox site answering `page`, after `step` (a Dockerfile line, or "").
fn site(page: &str, step: &str) -> [(&'static str, String); 2] {
    [
        (
            "Dockerfile",
            format!(
                "FROM windlass-test/busybox:1\n{step}\nCOPY index.html /www/index.html\n\
                 CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n"
            ),
        ),
        ("index.html", page.to_owned()),
    ]
}

fn commit(repo: &Repo, page: &str, step: &str) -> anyhow::Result<String> {
    let files = site(page, step);
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    repo.commit(&files, page)
}

/// The page on 127.0.0.1:`port`, or the error.
fn page(port: u16) -> anyhow::Result<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

async fn serves(port: u16, text: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if page(port).is_ok_and(|p| p.contains(text)) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "127.0.0.1:{port} does not serve {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn build(api: &Api, token: &str, id: &str) -> anyhow::Result<Value> {
    let answer = api
        .call("get", &format!("/v1/builds/{id}"), Some(token), None)
        .await?;
    anyhow::ensure!(answer.status == 200, "{answer:?}");
    Ok(answer.body)
}

/// Waits until build `id` satisfies `done`.
async fn build_until(
    api: &Api,
    token: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let record = build(api, token, id).await?;
        if done(&record) {
            return Ok(record);
        }
        anyhow::ensure!(Instant::now() < deadline, "build {id} stays {record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_build(api: &Api, token: &str) -> anyhow::Result<String> {
    let answer = api
        .call(
            "post",
            "/v1/orgs/acme/stacks/site/services/web/builds",
            Some(token),
            None,
        )
        .await?;
    anyhow::ensure!(answer.status == 202, "{answer:?}");
    Ok(answer.body["id"].as_str().unwrap().to_owned())
}

fn deployed(record: &Value) -> bool {
    record["state"] == "succeeded" && !record["deployed_revision"].is_null()
}

/// Dangling images labelled with the engine's id.
fn dangling_images(engine: &str) -> anyhow::Result<String> {
    let output = std::process::Command::new("docker")
        .args(["images", "-q", "--filter", "dangling=true", "--filter"])
        .arg(format!("label=dev.windlass.engine={engine}"))
        .output()?;
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// Kills the runner `settle` after `at` holds of the build, restarts it and checks what the restart
/// left: the build failed as stopped, the work directory empty, no dangling image, v1 served.
#[allow(clippy::too_many_arguments)] // one call per crash point; a struct would only rename them
async fn crash_during(
    runner: &mut Runner,
    api: &Api,
    id: &str,
    at: impl Fn(&Value) -> bool,
    settle: Duration,
    work: &Path,
    engine: &str,
    port: u16,
) -> anyhow::Result<()> {
    build_until(api, &runner.token, id, at).await?;
    tokio::time::sleep(settle).await;
    runner.kill_and_restart()?;
    let record = build(api, &runner.token, id).await?;
    assert_eq!(record["state"], "failed", "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the engine stopped during the build"),
        "{record}"
    );
    assert!(record["deployed_revision"].is_null(), "{record}");
    assert_eq!(
        windlass_test_support::engine::dir_entries(work),
        Vec::<String>::new(),
        "left in {work:?}"
    );
    assert_eq!(dangling_images(engine)?, "", "dangling images left");
    assert!(
        page(port)?.contains("v1"),
        "the running revision stopped serving"
    );
    Ok(())
}

async fn a_runner_killed_mid_build_deploys_nothing_and_leaves_nothing(
    db: &TestDb,
) -> anyhow::Result<()> {
    let token_value = format!("wl-crash-token-{}", windlass_test_support::docker::suffix());
    let base = tempfile::tempdir()?;
    let repo = Repo::init(base.path(), "site.git")?;
    commit(&repo, "v1", "")?;
    let git = GitHttpServer::start(base.path(), "deploy", &token_value).await?;

    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let strategy = windlass_test_support::plugins::component("build_dockerfile.wasm")?;
    let extra = format!(
        "[[plugins]]\nname = \"dockerfile\"\nkind = \"build-strategy\"\nsource = {}\n",
        toml_string(&strategy.display().to_string())
    );
    let mut runner = Runner::start_with_config(&scope, dir.path(), Some(&db.url), &extra).await?;
    let address: SocketAddr = runner.url.trim_start_matches("http://").parse()?;
    let api = Api::new(address);
    let token = runner.token.clone();
    let work = dir.path().join("data").join("builds");

    let set = api
        .call(
            "put",
            "/v1/orgs/acme/secrets/git-token",
            Some(&token),
            Some(&json!({ "value": token_value })),
        )
        .await?;
    assert_eq!(set.status, 200, "{set:?}");
    let port = free_port()?;
    let service = json!({
        "name": "web",
        "image": "",
        "ports": [{ "container_port": 8080, "host_port": port }],
        "build": {
            "repository": git.url("site.git"),
            "reference": "main",
            "credentials": { "secret": "git-token", "username": "deploy" },
        },
    });
    let applied = api
        .call(
            "put",
            "/v1/orgs/acme/stacks/site/services/web",
            Some(&token),
            Some(&service),
        )
        .await?;
    assert!(applied.status.is_success(), "{applied:?}");
    let first = api
        .call("get", "/v1/builds?service=web", Some(&token), None)
        .await?;
    let first = first.body[0]["id"].as_str().unwrap().to_owned();
    build_until(&api, &token, &first, deployed).await?;
    serves(port, "v1").await?;

    // Killed while fetching: the credential file is on disk at that moment.
    git.set_delay(Duration::from_secs(3));
    let cloning = start_build(&api, &token).await?;
    let auth_dir = work.join(format!("{cloning}.auth"));
    crash_during(
        &mut runner,
        &api,
        &cloning,
        |r| r["state"] == "cloning" && auth_dir.exists(),
        Duration::ZERO,
        &work,
        &scope.id,
        port,
    )
    .await?;
    git.set_delay(Duration::ZERO);

    // Killed while Docker runs a build step.
    commit(&repo, "v2", "RUN sleep 30")?;
    let building = start_build(&api, &runner.token).await?;
    crash_during(
        &mut runner,
        &api,
        &building,
        |r| r["state"] == "building",
        // Into the `RUN sleep 30` step (the step before it is a cached FROM).
        Duration::from_secs(2),
        &work,
        &scope.id,
        port,
    )
    .await?;

    // The engine builds again after both crashes.
    commit(&repo, "v3", "")?;
    let next = start_build(&api, &runner.token).await?;
    build_until(&api, &runner.token, &next, deployed).await?;
    serves(port, "v3").await?;
    Ok(())
}

windlass_test_support::backend_tests!(a_runner_killed_mid_build_deploys_nothing_and_leaves_nothing);
