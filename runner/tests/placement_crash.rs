//! `kill -9` of a real `windlass run` process while it places a service on the Docker Swarm
//! target (the `adapter-swarm` component on the three-node swarm of
//! `scripts/swarm-harness.sh`), at the one point a restart must survive: the adapter has
//! deployed, the placement is not stored yet (`WINDLASS_FAILPOINTS=placement.after-deploy`
//! pauses the process there, the test then sends SIGKILL). Killed once during the first deploy
//! and once during a rolling update to a revision that never stays up: after each restart the
//! swarm has exactly one service of the org (no duplicate, no orphan), the runner stores its
//! placement, `windlass ps` shows the replicas with target and node, and after the update
//! Swarm has rolled back by itself, which the runner reports (`placement-rolled-back`).
//!
//! Needs the harness up (`scripts/test.sh` and `.ci/run` bring it up); without it the test
//! fails with that instruction.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

mod process;

use std::time::{Duration, Instant};

use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use process::{Runner, swarm_config};
use serde_json::{Value, json};
use windlass::FAILPOINTS_ENV;
use windlass::plugins::PluginHost;

const ORG: &str = "crashplace";
const POINT: &str = "placement.after-deploy";

fn service(command: &[&str]) -> Value {
    json!({
        "name": "web",
        "image": common::docker::BUSYBOX,
        "command": command,
        "replicas": 3,
        "cpu": "100m",
        "memory": "32Mi",
        "target": "swarm",
        "update": { "min_healthy_ms": 4000 },
    })
}

/// Declares `body` while the failpoint is armed, waits for the runner to pause after the
/// adapter's deploy, kills it there and starts it again unarmed.
async fn kill_after_deploy(runner: &mut Runner, body: &Value) -> anyhow::Result<()> {
    runner.set_env(FAILPOINTS_ENV, Some(POINT));
    runner.kill_and_restart()?;
    let api = Api::new(runner.url.trim_start_matches("http://").parse()?);
    let put = format!("/v1/orgs/{ORG}/stacks/shop/services/web");
    let answer = api
        .call("put", &put, Some(&runner.token), Some(body))
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    runner.wait_stderr(
        &format!("failpoint {POINT} reached"),
        Duration::from_secs(60),
    )?;
    runner.set_env(FAILPOINTS_ENV, None);
    runner.kill_and_restart()?;
    Ok(())
}

/// `windlass ps` once three replicas of the org run (a swarm takes its time: up to 180 s).
async fn three_running(runner: &Runner) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let listed = runner.json(&["ps", "--org", ORG, "--status", "running"]);
        let listed = listed.as_array().unwrap();
        if listed.len() == 3 {
            return listed.clone();
        }
        assert!(Instant::now() < deadline, "not 3 running: {listed:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The org's services on the swarm, by their names.
async fn on_swarm(adapter: &windlass::plugins::CloudAdapter) -> Vec<String> {
    adapter
        .list_deployments(&[("dev.windlass.org".into(), ORG.into())])
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect()
}

async fn scenario(
    runner: &mut Runner,
    adapter: &windlass::plugins::CloudAdapter,
) -> anyhow::Result<()> {
    let httpd = ["httpd", "-f", "-p", "8080", "-h", "/"];
    kill_after_deploy(runner, &service(&httpd)).await?;
    // The restarted runner deploys again by name: one service, 3 replicas on the swarm.
    let listed = three_running(runner).await;
    assert!(
        listed
            .iter()
            .all(|c| c["target"] == "swarm" && c["node"].is_string() && c["service"] == "web"),
        "{listed:#?}"
    );
    assert_eq!(on_swarm(adapter).await, ["crashplace-shop-web"]);
    let table = runner.ok(&["stacks"]);
    assert!(
        table.contains("TARGET") && table.contains("swarm"),
        "{table}"
    );

    // Killed again right after deploying revision 2, which exits a second after it starts.
    let started = Instant::now();
    kill_after_deploy(runner, &service(&["sh", "-c", "sleep 1; exit 3"])).await?;
    let deadline = Instant::now() + Duration::from_secs(240);
    while runner.events_of("placement-rolled-back").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no rollback reported: {:#?}",
            runner.json(&["ps", "--org", ORG])
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!(
        "rolled back by the swarm {:?} after the update",
        started.elapsed()
    );
    assert_eq!(on_swarm(adapter).await, ["crashplace-shop-web"]);
    let listed = three_running(runner).await;
    assert!(listed.iter().all(|c| c["revision"] == 1), "{listed:#?}");
    let rolled = &runner.events_of("placement-rolled-back")[0];
    assert_eq!(
        rolled["payload"]["update_state"], "rollback_completed",
        "{rolled:#}"
    );

    // Removing the service removes it from the swarm.
    let api = Api::new(runner.url.trim_start_matches("http://").parse()?);
    let answer = api
        .call(
            "delete",
            &format!("/v1/orgs/{ORG}/stacks/shop/services/web"),
            Some(&runner.token),
            None,
        )
        .await?;
    assert!(answer.status.is_success(), "{answer:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !on_swarm(adapter).await.is_empty() {
        assert!(Instant::now() < deadline, "still on the swarm");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_runner_killed_after_a_swarm_deploy_adopts_it_and_reports_the_rollback()
-> anyhow::Result<()> {
    let manager = common::swarm::manager()?;
    let host = PluginHost::builder().build()?;
    let adapter = common::swarm::adapter(&host).await?;
    common::swarm::remove_org(&adapter, ORG).await?;
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let mut runner =
        Runner::start_with_config(&scope, dir.path(), None, &swarm_config(&manager)?).await?;
    let outcome = scenario(&mut runner, &adapter).await;
    runner.kill()?;
    common::swarm::remove_org(&adapter, ORG).await?;
    outcome
}
