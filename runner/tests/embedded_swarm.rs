//! `[swarm] embedded = true` through a real `windlass run` process: the runner's Docker engine
//! (the harness's fourth daemon, n4, which is in no swarm) is made a single-node swarm at
//! start, and the `adapter-swarm` component reaches that engine through its Unix socket,
//! granted as `grants.unix_sockets = { docker = … }`, not a TCP port. A stack placed on the
//! target runs its replicas there (the placement route shows them, `windlass logs` reads a
//! replica's output through the adapter); the heartbeat lists
//! the one node; a restart finds the swarm active, initialises nothing and keeps the service
//! it adopted.
//!
//! Needs the harness up (`scripts/test.sh` and `.ci/run` bring it up); without it the test
//! fails with that instruction.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

mod process;

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::LeaveSwarmOptions;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use process::{Runner, toml_string};
use serde_json::{Value, json};

const ORG: &str = "embedded";

/// The runner's config: its runtime is n4, and the swarm adapter reaches n4's socket as
/// `http://docker`.
fn config(socket: &str) -> anyhow::Result<String> {
    let component = common::plugins::component("adapter_swarm.wasm")?;
    Ok(format!(
        r#"[runtime]
endpoint = {endpoint}

[[plugins]]
name = "swarm"
kind = "cloud-adapter"
source = {source}
limits = {{ timeout_ms = 20000 }}
grants = {{ unix_sockets = {{ docker = {socket} }} }}
config = {{ endpoint = "http://docker", endpoint_mode = "dnsrr", encrypt_networks = "false" }}

[[targets]]
name = "swarm"
plugin = "swarm"

[swarm]
embedded = true

[workers]
poll_interval = "1s"
"#,
        endpoint = toml_string(&format!("unix://{socket}")),
        source = toml_string(component.to_str().unwrap()),
        socket = toml_string(socket),
    ))
}

/// n4 as the harness left it or an earlier run of this test did: out of any swarm.
async fn leave_any_swarm(n4: &Docker) -> anyhow::Result<()> {
    let info = n4.info().await?;
    let state = info.swarm.and_then(|s| s.local_node_state);
    if state != Some(bollard::models::LocalNodeState::INACTIVE) {
        n4.leave_swarm(Some(LeaveSwarmOptions { force: true }))
            .await?;
    }
    Ok(())
}

/// `windlass ps` until `n` replicas of the org run.
async fn running(runner: &Runner, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed = runner.json(&["ps", "--org", ORG, "--status", "running"]);
        let listed = listed.as_array().unwrap();
        if listed.len() == n {
            return listed.clone();
        }
        assert!(Instant::now() < deadline, "not {n} running: {listed:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn an_embedded_swarm_is_made_on_the_local_engine_and_driven_through_its_socket()
-> anyhow::Result<()> {
    let socket = common::swarm::harness_var("WINDLASS_TEST_SWARM_N4_SOCKET")?;
    let n4 = Docker::connect_with_unix(&socket, 60, bollard::API_DEFAULT_VERSION)?;
    leave_any_swarm(&n4).await?;

    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let mut runner = Runner::start_with_config(&scope, dir.path(), None, &config(&socket)?).await?;

    // n4 manages a swarm of its own now, and the runner said so once.
    let swarm = n4.info().await?.swarm.unwrap();
    assert_eq!(
        swarm.local_node_state,
        Some(bollard::models::LocalNodeState::ACTIVE)
    );
    assert_eq!(swarm.control_available, Some(true));
    let node = swarm.node_id.unwrap();
    let made = runner.events_of("swarm-initialised");
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(made[0]["payload"]["node"], node.as_str());
    assert_eq!(made[0]["payload"]["advertise"], "127.0.0.1");

    // The heartbeat reads the node through the socket grant.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let workers = runner.json(&["workers"]);
        let all = workers.as_array().unwrap();
        if all.len() == 1 && all[0]["health"] == "healthy" {
            assert_eq!(all[0]["id"], node.as_str(), "{workers:#}");
            assert_eq!(all[0]["role"], "manager", "{workers:#}");
            break;
        }
        assert!(Instant::now() < deadline, "{workers:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A service placed on the target runs its replicas on that one node.
    let api = Api::new(runner.url.trim_start_matches("http://").parse()?);
    let put = format!("/v1/orgs/{ORG}/stacks/shop/services/web");
    let body = json!({
        "name": "web",
        "image": common::docker::BUSYBOX,
        "command": ["sh", "-c", "echo hello from the swarm; exec httpd -f -p 8080 -h /"],
        "replicas": 2,
        "cpu": "100m",
        "memory": "32Mi",
        "target": "swarm",
    });
    let answer = api
        .call("put", &put, Some(&runner.token), Some(&body))
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let listed = running(&runner, 2).await;
    assert!(
        listed
            .iter()
            .all(|c| c["target"] == "swarm" && c["node"] == node.as_str()),
        "{listed:#?}"
    );
    let services = n4.list_services(None).await?;
    assert_eq!(services.len(), 1, "{services:#?}");
    // The API shows the placement with the platform's status; a service not placed is 404.
    let placement = api
        .call(
            "get",
            &format!("{put}/placement"),
            Some(&runner.token),
            None,
        )
        .await?;
    assert_eq!(placement.status, StatusCode::OK, "{placement:?}");
    assert_eq!(placement.body["target"], "swarm");
    assert_eq!(placement.body["deployment_name"], "embedded-shop-web");
    assert_eq!(
        placement.body["deployment_id"],
        services[0].id.as_deref().unwrap()
    );
    assert_eq!(placement.body["running_replicas"], 2);
    assert_eq!(placement.body["desired_replicas"], 2);
    let missing = api
        .call(
            "get",
            &format!("/v1/orgs/{ORG}/stacks/shop/services/nope/placement"),
            Some(&runner.token),
            None,
        )
        .await?;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
    assert_eq!(missing.body["error"]["code"], "not-found");

    // `windlass logs` of a replica reads its task's output through the adapter; following is
    // refused with the reason (the contract returns the last lines only).
    let replica = listed[0]["name"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = runner.ok(&["logs", replica]);
        if out.contains("hello from the swarm") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no line in the logs of {replica}: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let follow = runner.cli(&["logs", replica, "-f"]);
    assert!(!follow.status.success());
    let said = String::from_utf8_lossy(&follow.stderr);
    assert!(said.contains("cannot follow"), "{said}");

    // A restart finds the swarm active: nothing initialised again, the service adopted.
    runner.restart()?;
    running(&runner, 2).await;
    assert_eq!(runner.events_of("swarm-initialised").len(), 1);
    assert_eq!(n4.list_services(None).await?.len(), 1);

    // Removing the stack removes the swarm service; n4 leaves its swarm for the next run.
    let answer = api
        .call(
            "delete",
            &format!("/v1/orgs/{ORG}/stacks/shop"),
            Some(&runner.token),
            None,
        )
        .await?;
    assert!(answer.status.is_success(), "{answer:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !n4.list_services(None).await?.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the swarm service was not removed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    runner.kill()?;
    leave_any_swarm(&n4).await?;
    Ok(())
}
