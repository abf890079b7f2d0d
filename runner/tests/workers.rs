//! Workers through a real `windlass run` process whose config has a Docker Swarm target (the
//! `adapter-swarm` component, built from plugins/) on the three-node swarm of
//! `scripts/swarm-harness.sh`, and `[workers]` settings: `windlass workers` (table and JSON),
//! `pause` / `activate` by an id prefix with their events, `join` (with `--rotate`), and the
//! API's answers to bad input — a token of one org (403), an unknown availability (400), an
//! unknown worker (404), a target without workers (409) — all JSON with stable codes. A
//! second runner whose manager does not answer says `503 target-unavailable` and records a
//! `target-unavailable` event.
//!
//! Needs the harness up (`scripts/test.sh` and `.ci/run` bring it up); without it the test
//! fails with that instruction.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

mod process;

use std::time::Duration;

use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use process::{Runner, free_port, swarm_config};
use serde_json::{Value, json};

fn api(runner: &Runner) -> Api {
    Api::new(runner.url.trim_start_matches("http://").parse().unwrap())
}

/// An error answer: its status, stable code and message.
async fn refused(
    api: &Api,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
    status: StatusCode,
    code: &str,
) -> anyhow::Result<String> {
    let answer = api.call(method, path, Some(token), body).await?;
    assert_eq!(answer.status, status, "{method} {path}: {:?}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{method} {path}");
    Ok(answer.body["error"]["message"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn workers_are_listed_paused_activated_and_joined_through_the_api_and_cli()
-> anyhow::Result<()> {
    let manager = common::swarm::manager()?;
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner =
        Runner::start_with_config(&scope, dir.path(), None, &swarm_config(&manager)?).await?;
    let api = api(&runner);
    let admin = runner.token.clone();

    // The three nodes, healthy once the heartbeat has seen them.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let workers = loop {
        let workers = runner.json(&["workers"]);
        let all = workers.as_array().unwrap().clone();
        if all.len() == 3 && all.iter().all(|w| w["health"] == "healthy") {
            break all;
        }
        assert!(std::time::Instant::now() < deadline, "{workers:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(workers.iter().filter(|w| w["role"] == "manager").count(), 1);
    let n3 = workers
        .iter()
        .find(|w| w["labels"]["windlass.harness"] == "n3")
        .unwrap();
    let n3_id = n3["id"].as_str().unwrap();
    let table = runner.ok(&["workers", "--target", "swarm"]);
    assert!(
        table.starts_with("TARGET") && table.contains("manager") && table.contains("healthy"),
        "{table}"
    );
    assert!(table.contains(&n3_id[..12]), "{table}");

    // Pause and activate by an id prefix; each change is an event.
    let paused = runner.ok(&["workers", "pause", &n3_id[..10]]);
    assert!(paused.contains("is now pause"), "{paused}");
    let listed = api.get("/v1/workers?target=swarm", &admin).await?;
    let n3_now = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == n3_id)
        .cloned();
    assert_eq!(n3_now.unwrap()["availability"], "pause");
    let active = runner.json(&["workers", "activate", n3_id]);
    assert_eq!(active["availability"], "active");
    let changes = runner.events_of("worker-availability-changed");
    let tos: Vec<&str> = changes
        .iter()
        .filter(|e| e["payload"]["worker"] == n3_id)
        .map(|e| e["payload"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(tos, ["pause", "active"], "{changes:#?}");

    // The join command, and a rotated one.
    let join = runner.ok(&["workers", "join"]);
    assert!(
        join.trim().starts_with("docker swarm join --token SWMTKN-"),
        "{join}"
    );
    let rotated = runner.json(&["workers", "join", "--rotate"]);
    assert_ne!(rotated["command"].as_str().unwrap(), join.trim());
    assert_eq!(rotated["role"], "worker");
    let manager_join = api
        .call(
            "post",
            "/v1/workers/join",
            Some(&admin),
            Some(&json!({"role": "manager"})),
        )
        .await?;
    assert_eq!(
        manager_join.status,
        StatusCode::OK,
        "{:?}",
        manager_join.body
    );
    assert_eq!(manager_join.body["role"], "manager");
    assert!(!runner.events_of("join-token-rotated").is_empty());

    // Bad input: clear JSON errors, nothing changed.
    let org_token = runner.json(&[
        "tokens",
        "create",
        "--org",
        "acme",
        "--role",
        "admin",
        "--name",
        "org-admin",
    ])["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    refused(
        &api,
        "get",
        "/v1/workers",
        &org_token,
        None,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    let drain = json!({"availability": "drain"});
    refused(
        &api,
        "post",
        &format!("/v1/workers/{n3_id}/availability"),
        &org_token,
        Some(&drain),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await?;
    refused(
        &api,
        "post",
        &format!("/v1/workers/{n3_id}/availability"),
        &admin,
        Some(&json!({"availability": "asleep"})),
        StatusCode::BAD_REQUEST,
        "validation",
    )
    .await?;
    refused(
        &api,
        "post",
        "/v1/workers/no-such-worker/availability",
        &admin,
        Some(&drain),
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await?;
    let local = refused(
        &api,
        "get",
        "/v1/workers?target=local",
        &admin,
        None,
        StatusCode::CONFLICT,
        "target-refused",
    )
    .await?;
    assert!(local.contains("`nodes`"), "{local}");
    let after = api.get("/v1/workers?target=swarm", &admin).await?;
    assert!(
        after
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["availability"] == "active"),
        "{:?}",
        after.body
    );
    Ok(())
}

#[tokio::test]
async fn a_manager_that_does_not_answer_is_target_unavailable() -> anyhow::Result<()> {
    // A granted port on loopback nobody listens on.
    let dead = format!("127.0.0.1:{}", free_port()?);
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start_with_config(&scope, dir.path(), None, &swarm_config(&dead)?).await?;
    let api = api(&runner);
    let message = refused(
        &api,
        "get",
        "/v1/workers",
        &runner.token,
        None,
        StatusCode::SERVICE_UNAVAILABLE,
        "target-unavailable",
    )
    .await?;
    assert!(
        message.contains("target `swarm` is unavailable"),
        "{message}"
    );
    let out = runner.cli(&["workers"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("target-unavailable"),
        "{out:?}"
    );
    // The heartbeat said so once, however many polls failed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = runner.events_of("target-unavailable");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["payload"]["target"], "swarm");
    Ok(())
}
