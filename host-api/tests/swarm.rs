//! The `adapter-swarm` component on the real three-node swarm of `scripts/swarm-harness.sh`
//! (1 manager, 2 workers, each a dockerd in its own network namespace; docs/swarm.md). The
//! harness must be up: `scripts/test.sh` and `.ci/run` bring it up; a missing harness fails
//! these tests with that instruction, never skips them.
//!
//! The tests share one swarm, and drain or stop nodes, so they run one at a time (a lock).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use common::{component, host, load_spec};
use windlass_host_api::types::{
    AdapterError, ContainerFilter, DeployRequest, DeploymentPhase, DeploymentRef, DeploymentStatus,
    FailureAction, NodeAvailability, NodeInfo, NodeRole, Port, Protocol, Resources, RestartPolicy,
    ServiceSpec, UpdateOrder, UpdatePolicy,
};
use windlass_host_api::{CallError, CloudAdapter, Grants, Limits, PluginSpec};

static SWARM: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

const ENV_FILE: &str = "/run/windlass-swarm/env";

/// A variable of the harness: from the environment, else from the env file `up` writes.
fn harness_var(name: &str) -> String {
    if let Ok(v) = std::env::var(name) {
        return v;
    }
    let file = std::fs::read_to_string(ENV_FILE).unwrap_or_default();
    file.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
        .unwrap_or_else(|| {
            panic!(
                "the swarm harness is not up ({name} unset, no {ENV_FILE}): run \
                 `scripts/swarm-harness.sh up` (scripts/test.sh does)"
            )
        })
}

fn manager() -> String {
    harness_var("WINDLASS_TEST_SWARM_MANAGER")
}

/// The docker CLI against one harness node (`n1`..`n3`).
fn docker(node: &str, args: &[&str]) -> String {
    let sock = harness_var(&format!(
        "WINDLASS_TEST_SWARM_{}_SOCKET",
        node.to_uppercase()
    ));
    let out = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{sock}"))
        .args(args)
        .output()
        .expect("running the docker CLI");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn harness(args: &[&str]) {
    let script = harness_var("WINDLASS_TEST_SWARM_HARNESS");
    let status = Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "swarm-harness.sh {args:?} failed");
}

async fn adapter_with(endpoint: &str, granted: &str) -> CloudAdapter {
    let spec = PluginSpec::from_file("swarm", component("adapter-swarm"))
        .with_config("endpoint", format!("http://{endpoint}"))
        .with_config("endpoint_mode", "dnsrr")
        // No IPsec in this kernel (docs/swarm.md): plain overlays.
        .with_config("encrypt_networks", "false")
        .with_limits(Limits {
            timeout: Duration::from_secs(20),
            ..Limits::default()
        })
        .with_grants(Grants {
            outbound_hosts: vec![granted.to_string()],
            ..Grants::default()
        });
    load_spec(&host(), spec).await.cloud_adapter().unwrap()
}

async fn adapter() -> CloudAdapter {
    adapter_with(&manager(), &manager()).await
}

fn service(name: &str, replicas: u32, command: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        image: "windlass-test/busybox:1".into(),
        command: Some(command.iter().map(|s| s.to_string()).collect()),
        env: vec![("GREETING".into(), "hello".into())],
        provides: Vec::new(),
        ports: Vec::new(),
        volumes: Vec::new(),
        resources: Resources {
            cpu_millis: Some(100),
            memory_bytes: Some(32 << 20),
            disk_bytes: None,
        },
        replicas,
        depends_on: Vec::new(),
        health_checks: Vec::new(),
        restart: RestartPolicy::Always,
        labels: Vec::new(),
        build: None,
    }
}

fn request(org: &str, stack: &str, service: ServiceSpec, network: Option<String>) -> DeployRequest {
    let mut r = DeployRequest::new(org, stack, service)
        .with_label("dev.windlass.org", org)
        .with_label("dev.windlass.stack", stack)
        .with_label("dev.windlass.test", "swarm");
    r.network = network;
    r.update = UpdatePolicy {
        parallelism: 1,
        delay_ms: 0,
        order: UpdateOrder::StartFirst,
        failure_action: FailureAction::Rollback,
        monitor_ms: 4_000,
        max_failure_ratio_permille: 0,
    };
    r
}

/// Polls the deployment's status until `done` holds (panics after `timeout`).
async fn wait_status(
    adapter: &CloudAdapter,
    d: &DeploymentRef,
    timeout: Duration,
    what: &str,
    done: impl Fn(&DeploymentStatus) -> bool,
) -> DeploymentStatus {
    let deadline = Instant::now() + timeout;
    loop {
        let s = adapter.status(d).await.unwrap().expect("status");
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_nodes(
    adapter: &CloudAdapter,
    timeout: Duration,
    what: &str,
    done: impl Fn(&[NodeInfo]) -> bool,
) -> Vec<NodeInfo> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = adapter.nodes().await.unwrap().expect("nodes");
        if done(&n) {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {n:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn running_nodes(s: &DeploymentStatus) -> Vec<String> {
    s.tasks
        .iter()
        .filter(|t| t.state == "running" && t.desired_state == "running")
        .filter_map(|t| t.node_id.clone())
        .collect()
}

fn node_named(nodes: &[NodeInfo], harness_name: &str) -> NodeInfo {
    nodes
        .iter()
        .find(|n| {
            n.labels
                .iter()
                .any(|(k, v)| k == "windlass.harness" && v == harness_name)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no node labelled windlass.harness={harness_name}: {nodes:#?}"))
}

/// Removes what an earlier, interrupted run of the same test left.
async fn clean(adapter: &CloudAdapter, org: &str) {
    for d in adapter
        .list_deployments(&[("dev.windlass.org".into(), org.into())])
        .await
        .unwrap()
        .unwrap()
    {
        adapter.remove(&d).await.unwrap().unwrap();
    }
}

const HTTPD: &[&str] = &["httpd", "-f", "-p", "8080", "-h", "/"];

#[tokio::test]
async fn replicas_spread_over_the_three_nodes_and_a_redeploy_adopts() {
    let _lock = SWARM.lock().await;
    let adapter = adapter().await;
    let info = adapter.describe().await.unwrap();
    assert_eq!(info.platform, "docker-swarm");
    assert!(info.capabilities.rollback && info.capabilities.nodes && !info.capabilities.read_only);
    clean(&adapter, "spread").await;

    let network = adapter
        .ensure_network("spread")
        .await
        .unwrap()
        .expect("network");
    assert_eq!(network, "windlass-org-spread");
    assert_eq!(
        adapter.ensure_network("spread").await.unwrap().unwrap(),
        network,
        "idempotent"
    );
    let req = request(
        "spread",
        "shop",
        service("web", 3, HTTPD),
        Some(network.clone()),
    );
    let d = adapter.deploy(&req).await.unwrap().expect("deployed");
    assert_eq!(d.name, "spread-shop-web");
    let s = wait_status(&adapter, &d, Duration::from_secs(90), "3 running", |s| {
        s.phase == DeploymentPhase::Running && s.running_replicas == 3
    })
    .await;
    let nodes: BTreeSet<String> = running_nodes(&s).into_iter().collect();
    assert_eq!(nodes.len(), 3, "one task per node (spread): {s:#?}");

    // Deploying the same request again is the same service, untouched; listing by labels finds
    // exactly it (what the engine adopts after a restart).
    let again = adapter.deploy(&req).await.unwrap().unwrap();
    assert_eq!(again, d);
    let listed = adapter
        .list_deployments(&[("dev.windlass.org".into(), "spread".into())])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed, vec![d.clone()]);
    let containers = adapter
        .list_containers(&ContainerFilter {
            labels: vec![("dev.windlass.stack".into(), "shop".into())],
            name_prefix: Some("spread-".into()),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(containers.len(), 3, "{containers:#?}");
    assert!(
        containers
            .iter()
            .all(|c| c.location.is_some() && c.org.as_deref() == Some("spread"))
    );

    adapter.scale(&d, 1).await.unwrap().expect("scaled");
    wait_status(&adapter, &d, Duration::from_secs(60), "1 running", |s| {
        s.desired_replicas == 1 && s.running_replicas == 1 && s.tasks.len() == 1
    })
    .await;

    adapter.remove(&d).await.unwrap().expect("removed");
    adapter
        .remove(&d)
        .await
        .unwrap()
        .expect("removing twice is fine");
    let gone = adapter.status(&d).await.unwrap().unwrap_err();
    assert!(matches!(gone, AdapterError::NotFound(_)), "{gone:?}");
}

#[tokio::test]
async fn logs_come_back_from_the_tasks() {
    let _lock = SWARM.lock().await;
    let adapter = adapter().await;
    clean(&adapter, "logs").await;
    let svc = service(
        "talker",
        1,
        &["sh", "-c", "echo \"$GREETING from swarm\"; exec sleep 3600"],
    );
    let d = adapter
        .deploy(&request("logs", "s", svc, None))
        .await
        .unwrap()
        .unwrap();
    wait_status(&adapter, &d, Duration::from_secs(60), "running", |s| {
        s.running_replicas == 1
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines = adapter.logs(&d, 10).await.unwrap().expect("logs");
        if let Some(l) = lines.iter().find(|l| l.line == "hello from swarm") {
            assert_eq!(l.stream, "stdout");
            assert!(l.timestamp_ms > 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the task's line never came: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    adapter.remove(&d).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_failing_update_rolls_back_by_itself() {
    let _lock = SWARM.lock().await;
    let adapter = adapter().await;
    clean(&adapter, "rollback").await;
    let good = request("rollback", "s", service("api", 2, HTTPD), None);
    let d = adapter.deploy(&good).await.unwrap().unwrap();
    wait_status(&adapter, &d, Duration::from_secs(60), "2 running", |s| {
        s.phase == DeploymentPhase::Running && s.running_replicas == 2
    })
    .await;
    // The new revision fails a second after it starts: Swarm's monitor (4 s) sees a task that
    // was running fail, and rolls back. Running replicas are slots: on a loaded machine Swarm's
    // updater and restart supervisor once left two httpd tasks in one slot after the rollback
    // (moby/swarmkit#2242), which the adapter reports as a surplus task, not a third replica.
    let bad = request(
        "rollback",
        "s",
        service("api", 2, &["sh", "-c", "sleep 1; exit 3"]),
        None,
    );
    let started = Instant::now();
    assert_eq!(adapter.deploy(&bad).await.unwrap().unwrap(), d);
    let s = wait_status(
        &adapter,
        &d,
        Duration::from_secs(150),
        "rollback_completed",
        |s| s.update_state.as_deref() == Some("rollback_completed") && s.running_replicas == 2,
    )
    .await;
    eprintln!("rolled back by itself in {:?}", started.elapsed());
    assert_eq!(s.phase, DeploymentPhase::Running);
    let args = docker(
        "n1",
        &[
            "service",
            "inspect",
            "-f",
            "{{json .Spec.TaskTemplate.ContainerSpec.Args}}",
            &d.id,
        ],
    );
    assert!(args.contains("httpd"), "the old revision is back: {args}");
    adapter.remove(&d).await.unwrap().unwrap();
}

#[tokio::test]
async fn drain_moves_tasks_and_join_tokens_rotate() {
    let _lock = SWARM.lock().await;
    let adapter = adapter().await;
    clean(&adapter, "drain").await;
    let nodes = adapter.nodes().await.unwrap().expect("nodes");
    assert_eq!(nodes.len(), 3, "{nodes:#?}");
    assert_eq!(
        nodes.iter().filter(|n| n.role == NodeRole::Manager).count(),
        1
    );
    assert!(
        nodes
            .iter()
            .all(|n| n.status == "ready" && n.cpu_millis > 0 && n.memory_bytes > 0)
    );
    let n3 = node_named(&nodes, "n3");
    assert_eq!(n3.address.as_deref(), Some("10.210.0.13"));

    let d = adapter
        .deploy(&request("drain", "s", service("w", 3, HTTPD), None))
        .await
        .unwrap()
        .unwrap();
    wait_status(
        &adapter,
        &d,
        Duration::from_secs(60),
        "one task on n3",
        |s| s.running_replicas == 3 && running_nodes(s).contains(&n3.id),
    )
    .await;
    let started = Instant::now();
    adapter
        .set_availability(&n3.id, NodeAvailability::Drain)
        .await
        .unwrap()
        .expect("drained");
    let s = wait_status(
        &adapter,
        &d,
        Duration::from_secs(90),
        "n3 empty, 3 running",
        |s| s.running_replicas == 3 && !running_nodes(s).contains(&n3.id),
    )
    .await;
    eprintln!(
        "drain moved the task in {:?}: {:?}",
        started.elapsed(),
        running_nodes(&s)
    );
    let drained = node_named(&adapter.nodes().await.unwrap().unwrap(), "n3");
    assert_eq!(
        (drained.availability, drained.running_tasks),
        (NodeAvailability::Drain, 0)
    );
    adapter
        .set_availability(&n3.id, NodeAvailability::Active)
        .await
        .unwrap()
        .unwrap();

    let join = adapter
        .join_instructions(NodeRole::Worker)
        .await
        .unwrap()
        .expect("join");
    assert_eq!(join.manager_address, "10.210.0.11:2377");
    assert_eq!(
        join.command,
        format!("docker swarm join --token {} 10.210.0.11:2377", join.token)
    );
    adapter
        .rotate_join_token(NodeRole::Worker)
        .await
        .unwrap()
        .expect("rotated");
    let rotated = adapter
        .join_instructions(NodeRole::Worker)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(rotated.token, join.token);
    adapter.remove(&d).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_stopped_worker_goes_down_and_its_tasks_move() {
    let _lock = SWARM.lock().await;
    let adapter = adapter().await;
    clean(&adapter, "failover").await;
    let n2 = node_named(&adapter.nodes().await.unwrap().unwrap(), "n2");
    let d = adapter
        .deploy(&request("failover", "s", service("w", 3, HTTPD), None))
        .await
        .unwrap()
        .unwrap();
    wait_status(&adapter, &d, Duration::from_secs(60), "a task on n2", |s| {
        s.running_replicas == 3 && running_nodes(s).contains(&n2.id)
    })
    .await;

    let started = Instant::now();
    harness(&["stop-node", "n2"]);
    let result = async {
        wait_nodes(&adapter, Duration::from_secs(90), "n2 down", |n| {
            node_named(n, "n2").status == "down"
        })
        .await;
        eprintln!("the manager saw n2 down after {:?}", started.elapsed());
        let s = wait_status(
            &adapter,
            &d,
            Duration::from_secs(90),
            "3 running off n2",
            |s| s.running_replicas == 3 && !running_nodes(s).contains(&n2.id),
        )
        .await;
        eprintln!(
            "its task moved after {:?}: {:?}",
            started.elapsed(),
            running_nodes(&s)
        );
    };
    // Whatever happens, the node comes back for the other tests.
    let outcome = tokio::time::timeout(Duration::from_secs(200), result).await;
    harness(&["start-node", "n2"]);
    outcome.expect("n2's failure was handled in time");
    wait_nodes(&adapter, Duration::from_secs(60), "n2 ready again", |n| {
        node_named(n, "n2").status == "ready"
    })
    .await;
    adapter.remove(&d).await.unwrap().unwrap();
}

/// The overlay address of the first running task of a service, and the node it runs on.
fn task_address(service_id: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = docker(
            "n1",
            &[
                "service",
                "ps",
                "-q",
                "--filter",
                "desired-state=running",
                service_id,
            ],
        );
        if let Some(task) = out.lines().next() {
            let addr = docker(
                "n1",
                &[
                    "inspect",
                    "-f",
                    "{{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}|{{.NodeID}}",
                    task,
                ],
            );
            if let Some((addrs, node)) = addr.split_once('|')
                && let Some(a) = addrs.split_whitespace().find(|a| !a.starts_with("10.0."))
            {
                return (a.split('/').next().unwrap().to_string(), node.to_string());
            }
        }
        assert!(
            Instant::now() < deadline,
            "no address for a task of {service_id}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The harness node name (`n1`..) of a swarm node id.
fn harness_node(node_id: &str) -> String {
    docker(
        "n1",
        &[
            "node",
            "inspect",
            "-f",
            "{{index .Spec.Labels \"windlass.harness\"}}",
            node_id,
        ],
    )
}

/// Runs an HTTP GET from inside a running task of `service_id`; true when it got an answer.
fn reaches(service_id: &str, ip: &str) -> bool {
    let (_, node) = task_address(service_id);
    let node = harness_node(&node);
    let container = docker(
        &node,
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.id={service_id}"),
        ],
    );
    let container = container
        .lines()
        .next()
        .expect("a container of the client")
        .to_string();
    let out = docker(
        &node,
        &[
            "exec",
            &container,
            "sh",
            "-c",
            &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {ip} 8080 | head -1"),
        ],
    );
    out.starts_with("HTTP/1")
}

#[tokio::test]
async fn org_networks_isolate() {
    let _lock = SWARM.lock().await;
    let adapter = adapter().await;
    clean(&adapter, "alpha").await;
    clean(&adapter, "beta").await;
    let alpha = adapter.ensure_network("alpha").await.unwrap().unwrap();
    let beta = adapter.ensure_network("beta").await.unwrap().unwrap();
    let mut server = service("server", 1, HTTPD);
    server.ports = vec![Port {
        name: "http".into(),
        container_port: 8080,
        publish: false,
        host_port: None,
        protocol: Protocol::Tcp,
    }];
    let a_server = adapter
        .deploy(&request("alpha", "s", server.clone(), Some(alpha.clone())))
        .await
        .unwrap()
        .unwrap();
    let b_server = adapter
        .deploy(&request("beta", "s", server, Some(beta)))
        .await
        .unwrap()
        .unwrap();
    let client = adapter
        .deploy(&request(
            "alpha",
            "c",
            service("client", 1, &["sleep", "3600"]),
            Some(alpha),
        ))
        .await
        .unwrap()
        .unwrap();
    for d in [&a_server, &b_server, &client] {
        wait_status(&adapter, d, Duration::from_secs(60), "running", |s| {
            s.running_replicas == 1
        })
        .await;
    }
    let (a_ip, _) = task_address(&a_server.id);
    let (b_ip, _) = task_address(&b_server.id);
    assert!(
        reaches(&client.id, &a_ip),
        "a client reaches its own org's server at {a_ip}"
    );
    assert!(
        !reaches(&client.id, &b_ip),
        "a client must not reach another org's server at {b_ip}"
    );
    for d in [&a_server, &b_server, &client] {
        adapter.remove(d).await.unwrap().unwrap();
    }
    // The network goes once nothing uses it (Swarm frees it a moment after the tasks).
    let deadline = Instant::now() + Duration::from_secs(30);
    while adapter.remove_network("alpha").await.unwrap().is_err() {
        assert!(
            Instant::now() < deadline,
            "the alpha network could not be removed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    adapter
        .remove_network("alpha")
        .await
        .unwrap()
        .expect("removing twice is fine");
}

#[tokio::test]
async fn an_ungranted_manager_is_denied_and_a_dead_one_unavailable() {
    let _lock = SWARM.lock().await;
    // Granted another port only: the host refuses before any byte leaves.
    let denied = adapter_with(&manager(), "10.210.0.11:2999").await;
    match denied.nodes().await {
        Err(CallError::OutboundDenied { host, .. }) => assert_eq!(host, manager()),
        other => panic!("expected the host to refuse the ungranted request, got {other:?}"),
    }
    // Granted, but nothing listens there: unavailable (what the engine backs off on).
    let dead = adapter_with("10.210.0.11:2999", "10.210.0.11:2999").await;
    let err = dead
        .deploy(&request("dead", "s", service("x", 1, HTTPD), None))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, AdapterError::Unavailable(_)), "{err:?}");
}

/// `adapter-swarm` whose endpoint is `SCHEME://docker`, with `grants`.
async fn socket_adapter(scheme: &str, grants: Grants) -> CloudAdapter {
    let spec = PluginSpec::from_file("swarm", component("adapter-swarm"))
        .with_config("endpoint", format!("{scheme}://docker"))
        .with_limits(Limits {
            timeout: Duration::from_secs(20),
            ..Limits::default()
        })
        .with_grants(grants);
    load_spec(&host(), spec).await.cloud_adapter().unwrap()
}

#[tokio::test]
async fn a_granted_unix_socket_serves_a_name_and_nothing_else_reaches_it() {
    let _lock = SWARM.lock().await;
    let socket = std::path::PathBuf::from(harness_var("WINDLASS_TEST_SWARM_N1_SOCKET"));
    let granted = Grants {
        unix_sockets: vec![("docker".into(), socket.clone())],
        ..Grants::default()
    };
    // `http://docker` goes over n1's socket: the same three nodes its TCP API reports.
    let over_socket = socket_adapter("http", granted.clone()).await;
    let nodes = over_socket.nodes().await.unwrap().unwrap();
    let over_tcp = adapter().await.nodes().await.unwrap().unwrap();
    let ids = |nodes: &[NodeInfo]| nodes.iter().map(|n| n.id.clone()).collect::<BTreeSet<_>>();
    assert_eq!(nodes.len(), 3, "{nodes:#?}");
    assert_eq!(ids(&nodes), ids(&over_tcp));

    // The same name without the grant is an ordinary host, and not granted: refused before
    // any byte leaves (the socket is not reached because the plugin asks for it).
    let ungranted = socket_adapter("http", Grants::default()).await;
    match ungranted.nodes().await {
        Err(CallError::OutboundDenied { host, .. }) => assert_eq!(host, "docker:80"),
        other => panic!("expected the ungranted name to be refused, got {other:?}"),
    }
    // No TLS over a local socket: https to the granted name is denied with that reason.
    let tls = socket_adapter("https", granted).await;
    let err = tls.nodes().await.unwrap().unwrap_err();
    assert!(
        matches!(&err, AdapterError::Denied(m) if m.contains("TLS is not spoken")),
        "{err:?}"
    );
}
