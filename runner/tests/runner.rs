//! `windlass run --config FILE` end to end, as a separate process: the stack-template plugin
//! renders the web + API + PostgreSQL stack (with the busybox test image for every service),
//! the runner applies its services to a real Docker engine and stops cleanly on SIGTERM; a
//! template refusing its parameters stops the runner before it touches Docker.
//!
//! Needs Docker with the busybox test image, and the plugin components
//! (`cargo build --release` in `plugins/`, or `WINDLASS_PLUGINS_DIR`).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use common::docker::BUSYBOX;
use common::engine::EngineScope;
use windlass::labels::{LABEL_ENGINE, LABEL_SERVICE, LABEL_STACK};

/// The stack template component.
fn web_postgres() -> anyhow::Result<PathBuf> {
    common::plugins::component("stack_web_postgres.wasm")
}

/// Writes a config for engine `id` rendering stack acme/shop with `params` (TOML inline-table
/// contents) and `extra` TOML appended.
fn write_config(dir: &Path, id: &str, params: &str, extra: &str) -> anyhow::Result<PathBuf> {
    let text = format!(
        r#"[engine]
id = "{id}"
data_dir = "data"

[[plugins]]
name = "web-postgres"
kind = "stack-template"
source = "{component}"
limits = {{ memory_mib = 32, timeout_ms = 2000 }}

[[stacks]]
name = "shop"
org = "acme"
template = "web-postgres"
params = {{ {params} }}
{extra}"#,
        component = web_postgres()?.display(),
    );
    let path = dir.join("windlass.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn spawn_runner(config: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "windlass=info,warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?)
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut text);
    }
    text
}

#[tokio::test]
async fn run_deploys_the_stacks_in_dependency_order_serves_the_api_and_stops_on_sigterm()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let runtime = common::docker::connect_with_busybox().await?;
    let dir = tempfile::tempdir()?;
    // busybox for every service: the db container runs but never listens on 5432, so it never
    // gets healthy, and the api (which waits for a healthy db) and web (for a healthy api) must
    // not start.
    let params = format!(
        r#"db_password = "pw", web_replicas = "2", postgres_image = "{BUSYBOX}", api_image = "{BUSYBOX}", web_image = "{BUSYBOX}""#
    );
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let extra = format!("\n[api]\nlisten = \"127.0.0.1:{port}\"\n");
    let config = write_config(dir.path(), &scope.id, &params, &extra)?;
    let mut child = spawn_runner(&config)?;

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let listed = runtime
            .list_containers(&[(LABEL_ENGINE, scope.id.as_str())])
            .await?;
        let services: Vec<String> = listed
            .iter()
            .map(|c| {
                assert_eq!(c.labels.get(LABEL_STACK).map(String::as_str), Some("shop"));
                c.labels.get(LABEL_SERVICE).cloned().unwrap_or_default()
            })
            .collect();
        assert!(
            services.iter().all(|s| s == "db"),
            "only db may start while it is not healthy: {services:?}"
        );
        if services.len() == 1 {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the runner exited early ({status}):\n{}",
                stderr_of(&mut child)
            );
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!(
                "the db container did not appear:\n{}",
                stderr_of(&mut child)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The API answers on the configured address; without a token it refuses.
    let api = common::http::Api::new(format!("127.0.0.1:{port}").parse()?);
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(answer) = api.call("get", "/healthz", None, None).await {
            answered = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let healthz = answered.context("the API never answered")?;
    assert_eq!(healthz.body, "ok");
    let refused = api.call("get", "/v1/containers", None, None).await?;
    assert_eq!(refused.status, hyper::StatusCode::UNAUTHORIZED);
    // Still gated a moment later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let listed = runtime
        .list_containers(&[(LABEL_ENGINE, scope.id.as_str())])
        .await?;
    assert_eq!(listed.len(), 1, "{listed:?}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait()? {
            break exit;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!(
                "the runner did not stop on SIGTERM:\n{}",
                stderr_of(&mut child)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let log = stderr_of(&mut child);
    assert!(exit.success(), "{exit}:\n{log}");
    for expected in [
        "plugin loaded",
        "stack deployed",
        "serving the HTTP API",
        "SIGTERM: stopping",
    ] {
        assert!(
            log.contains(expected),
            "{expected:?} not in the log:\n{log}"
        );
    }
    assert!(
        dir.path().join("data/windlass.db").is_file(),
        "the default store lives in data_dir, beside the config file"
    );
    assert!(
        dir.path().join("data/compiled").is_dir(),
        "the compile cache lives in data_dir"
    );
    Ok(())
}

#[test]
fn a_template_refusing_its_parameters_stops_the_runner_before_docker() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // An endpoint nothing listens on: the runner must fail on the parameters, not on Docker.
    let nowhere = dir.path().join("no-docker.sock");
    let extra = format!("\n[runtime]\nendpoint = \"unix://{}\"\n", nowhere.display());
    let config = write_config(
        dir.path(),
        "refused",
        r#"db_password = "pw", web_replicas = "lots""#,
        &extra,
    )?;
    let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "off")
        .output()
        .context("running windlass")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "stack acme/shop: template `web-postgres` refused the parameters: web_replicas:"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("no-docker.sock"), "{stderr}");
    Ok(())
}

#[test]
fn a_config_loads_a_0_1_and_a_0_2_template_side_by_side() -> anyhow::Result<()> {
    // The same template at both contract versions: the 0.2.0 one renders its stack, the 0.1.0
    // one (built from the same source with the 0.1.0 SDK) answers the same refusal as 0.2.0
    // would, through the host's conversion, and that stops the runner before Docker.
    let dir = tempfile::tempdir()?;
    let nowhere = dir.path().join("no-docker.sock");
    let text = format!(
        r#"[engine]
id = "versions"
data_dir = "data"

[runtime]
endpoint = "unix://{nowhere}"

[[plugins]]
name = "web-postgres"
kind = "stack-template"
source = "{current}"

[[plugins]]
name = "web-postgres-v0-1"
kind = "stack-template"
source = "{v0_1}"

[[stacks]]
name = "shop"
org = "acme"
template = "web-postgres"
params = {{ db_password = "pw" }}

[[stacks]]
name = "legacy"
org = "acme"
template = "web-postgres-v0-1"
params = {{ db_password = "pw", web_replicas = "lots" }}
"#,
        nowhere = nowhere.display(),
        current = web_postgres()?.display(),
        v0_1 = common::plugins::component("v0_1_stack_web_postgres.wasm")?.display(),
    );
    let config = dir.path().join("windlass.toml");
    std::fs::write(&config, text)?;
    let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "windlass_host_api=info,off")
        .output()
        .context("running windlass")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let loaded = |plugin: &str, contract: &str| {
        stderr.lines().any(|line| {
            line.contains("plugin loaded")
                && line.contains(&format!("plugin={plugin} "))
                && line.contains(&format!("contract={contract}"))
        })
    };
    assert!(loaded("web-postgres", "0.2.0"), "{stderr}");
    assert!(loaded("web-postgres-v0-1", "0.1.0"), "{stderr}");
    assert!(
        stderr.contains(
            "stack acme/legacy: template `web-postgres-v0-1` refused the parameters: web_replicas:"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("acme/shop"),
        "the 0.2.0 stack rendered: {stderr}"
    );
    assert!(!stderr.contains("no-docker.sock"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn a_deploy_interrupted_by_kill_9_resumes_when_the_runner_restarts() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let runtime = common::docker::connect_with_demo_images().await?;
    let dir = tempfile::tempdir()?;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let extra = format!("\n[api]\nlisten = \"127.0.0.1:{port}\"\n");
    let config = write_config(dir.path(), &scope.id, r#"db_password = "pw""#, &extra)?;
    let services = || async {
        let listed = runtime
            .list_containers(&[(LABEL_ENGINE, scope.id.as_str())])
            .await?;
        anyhow::Ok(
            listed
                .into_iter()
                .map(|c| {
                    let service = c.labels.get(LABEL_SERVICE).cloned().unwrap_or_default();
                    (service, c.id)
                })
                .collect::<Vec<_>>(),
        )
    };

    // 1. The runner starts the deploy: db first; the api waits for db to answer queries.
    let mut child = spawn_runner(&config)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let db = loop {
        let now = services().await?;
        if let Some((_, id)) = now.iter().find(|(s, _)| s == "db") {
            break id.clone();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!("db never appeared:\n{}", stderr_of(&mut child));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // 2. kill -9 mid-deploy, before the api could start.
    child.kill()?;
    child.wait()?;
    let at_kill = services().await?;
    assert!(
        at_kill.iter().all(|(s, _)| s == "db"),
        "killed too late for this test: {at_kill:?}"
    );

    // 3. A new runner with the same config carries on: db adopted, api and web created.
    let mut child = spawn_runner(&config)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = services().await?;
        let mut names: Vec<&str> = now.iter().map(|(s, _)| s.as_str()).collect();
        names.sort_unstable();
        if names == ["api", "db", "web"] {
            let kept = now
                .iter()
                .find(|(s, _)| s == "db")
                .map(|(_, id)| id.clone());
            assert_eq!(
                kept.as_deref(),
                Some(db.as_str()),
                "the database was adopted, not recreated"
            );
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!(
                "the deploy did not resume: {now:?}\n{}",
                stderr_of(&mut child)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    Ok(())
}
