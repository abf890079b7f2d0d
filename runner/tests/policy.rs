//! Hardened tenant containers and the operator's policy, against a real engine and Docker
//! behind the HTTP API: `docker inspect` shows the hardening, and a deploy outside the policy
//! is a 403 `policy-denied` naming the rule that creates nothing.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use bollard::Docker;
use hyper::StatusCode;
use serde_json::{Value, json};
use windlass::policy::{OrgPolicy, Policy};
use windlass_runner::api::{ApiState, Role};
use windlass_test_support::docker::BUSYBOX;
use windlass_test_support::engine::EngineScope;
use windlass_test_support::http::Api;

fn sleeper(name: &str) -> Value {
    json!({
        "name": name,
        "image": BUSYBOX,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    })
}

#[tokio::test]
async fn containers_are_hardened_and_deploys_outside_the_policy_are_refused() -> anyhow::Result<()>
{
    let scope = EngineScope::new();
    windlass_test_support::docker::connect_with_busybox().await?;
    let mut policy = Policy::default();
    policy.orgs.insert(
        "globex".into(),
        OrgPolicy::new(vec!["windlass-test/*".into()], false),
    );
    let engine = scope.builder().with_policy(policy).build().await?;
    let state = ApiState::new(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(windlass_runner::api::serve(
        listener,
        windlass_runner::api::router(state.clone()),
        async {
            stopped.await.ok();
        },
    ));
    let api = Api::new(address);
    let token = state
        .tokens
        .create("ci", "globex", Role::Deploy)
        .await?
        .secret;
    let put = |service: &str| format!("/v1/orgs/globex/stacks/shop/services/{service}");

    // Allowed: one service as is, one asking for a read-only root and fewer processes.
    let answer = api
        .call("put", &put("web"), Some(&token), Some(&sleeper("web")))
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let mut locked = sleeper("locked");
    locked["hardening"] = json!({ "read_only_root": true, "pids_limit": 64, "log_max_size": "1m" });
    let answer = api
        .call("put", &put("locked"), Some(&token), Some(&locked))
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");

    // Refused, each naming its rule, and nothing stored.
    let mut foreign = sleeper("foreign");
    foreign["image"] = json!("docker.io/library/alpine:3");
    let mut ported = sleeper("ported");
    ported["ports"] = json!([{ "container_port": 80, "host_port": 18080 }]);
    let mut privileged = sleeper("privileged");
    privileged["hardening"] = json!({ "no_new_privileges": false });
    let mut forking = sleeper("forking");
    forking["hardening"] = json!({ "pids_limit": 1_000_000 });
    for (body, rule) in [
        (&foreign, "policy.orgs.globex.images"),
        (&ported, "policy.orgs.globex.host_ports"),
        (&privileged, "policy.allow_new_privileges"),
        (&forking, "policy.max_pids_limit"),
    ] {
        let name = body["name"].as_str().unwrap();
        let answer = api
            .call("put", &put(name), Some(&token), Some(body))
            .await?;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{name}: {answer:?}");
        assert_eq!(answer.body["error"]["code"], "policy-denied", "{answer:?}");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("refused by {rule}: ")),
            "{message}"
        );
    }
    // A whole stack with one refused service stores none of them.
    let answer = api
        .call(
            "put",
            "/v1/orgs/globex/stacks/other",
            Some(&token),
            Some(&json!({ "spec": { "services": [sleeper("fine"), foreign] } })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    assert_eq!(answer.body["error"]["code"], "policy-denied");
    let other = api
        .get("/v1/orgs/globex/stacks/other/services", &token)
        .await?;
    assert_eq!(other.body, json!([]), "{other:?}");
    let declared = api
        .get("/v1/orgs/globex/stacks/shop/services", &token)
        .await?;
    let names: Vec<&str> = declared
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["locked", "web"], "{declared:?}");

    // What Docker was asked for.
    engine.reconcile().await?;
    let containers = engine
        .containers(&windlass::ContainerFilter::default())
        .await?;
    assert_eq!(
        containers.len(),
        2,
        "only the allowed services run: {containers:?}"
    );
    let docker = Docker::connect_with_local_defaults()?;
    for container in &containers {
        let inspected = docker.inspect_container(&container.name, None).await?;
        let host = inspected.host_config.unwrap();
        assert_eq!(
            host.security_opt.as_deref(),
            Some(&["no-new-privileges:true".to_owned()][..]),
            "{}",
            container.name
        );
        let log = host.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        let log = log.config.unwrap();
        assert_eq!(log.get("max-file").map(String::as_str), Some("3"));
        if container.service == "locked" {
            assert_eq!(host.pids_limit, Some(64));
            assert_eq!(host.readonly_rootfs, Some(true));
            assert_eq!(log.get("max-size").map(String::as_str), Some("1048576"));
        } else {
            assert_eq!(host.pids_limit, Some(512));
            assert_ne!(host.readonly_rootfs, Some(true));
            assert_eq!(log.get("max-size").map(String::as_str), Some("10485760"));
        }
    }
    // The read-only root is read-only for real.
    let locked = containers.iter().find(|c| c.service == "locked").unwrap();
    let write = engine_exec(
        &docker,
        &locked.name,
        &["sh", "-c", "touch /probe && echo wrote"],
    )
    .await?;
    assert!(!write.contains("wrote"), "{write}");
    Ok(())
}

/// Runs `command` in `container` and returns its combined output.
async fn engine_exec(docker: &Docker, container: &str, command: &[&str]) -> anyhow::Result<String> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    use futures::StreamExt as _;
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(command.iter().map(|s| (*s).to_owned()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await?;
    let mut text = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await?
    {
        while let Some(chunk) = output.next().await {
            text.push_str(&chunk?.to_string());
        }
    }
    Ok(text)
}

/// A rollback is a declaration too: a revision kept from before the operator tightened the
/// policy is refused, naming the rule, and the current revision stays.
#[tokio::test]
async fn a_rollback_to_a_revision_the_policy_now_refuses_is_refused() -> anyhow::Result<()> {
    use windlass::{EngineError, PortSpec, ServiceSpec};
    let scope = EngineScope::new();
    windlass_test_support::docker::connect_with_busybox().await?;
    {
        let open = scope.builder().build().await?;
        let web = ServiceSpec::new("web", BUSYBOX).with_command(["sleep", "3600"]);
        open.apply("globex", "shop", web.clone().with_port(PortSpec::tcp(80)))
            .await?;
        let second = open.apply("globex", "shop", web).await?;
        assert_eq!(second.revision, 2);
    }
    let mut strict = Policy::default();
    strict
        .orgs
        .insert("globex".into(), OrgPolicy::new(vec!["*".into()], false));
    let engine = scope.builder().with_policy(strict).build().await?;
    match engine.rollback("globex", "shop", "web", Some(1)).await {
        Err(EngineError::PolicyDenied(denied)) => {
            assert_eq!(denied.rule, "policy.orgs.globex.host_ports");
        }
        other => panic!("expected policy-denied, got {other:?}"),
    }
    let services = engine
        .services(windlass::Scope::Stack {
            org: "globex",
            stack: "shop",
        })
        .await?;
    assert_eq!(services[0].revision, 2, "{services:?}");
    Ok(())
}
