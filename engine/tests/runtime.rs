//! The Docker runtime against the real daemon, with the locally built busybox image.
//!
//! Needs Docker (`bash scripts/setup-docker.sh`) and `windlass-test/busybox:1`
//! (`bash scripts/build-test-images.sh busybox`); fails with those instructions otherwise.
//! Every test works in its own [`TestScope`] and removes what it created, also on failure.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt as _;
use windlass::labels::{LABEL_CONFIG_HASH, LABEL_REVISION};
use windlass::resources::{CpuMillis, MemoryBytes};
use windlass::{
    ContainerSpec, ContainerStatus, DockerRuntime, ManagedLabels, PortSpec, Protocol,
    RuntimeAction, RuntimeError, config_hash,
};

use common::docker::{
    BUSYBOX, TEST_RUN_LABEL, TestScope, connect_with_busybox, http_get, wait_exited,
};

/// A command that serves `body` at `/index.html` on `port` with busybox httpd.
fn httpd(port: u16, body: &str) -> [String; 3] {
    [
        "sh".into(),
        "-c".into(),
        format!(
            "mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p {port} -h /www"
        ),
    ]
}

const SLEEP: [&str; 2] = ["sleep", "600"];

async fn run(runtime: &DockerRuntime, spec: &ContainerSpec) -> anyhow::Result<String> {
    let id = runtime.create_container(spec).await?;
    runtime.start_container(&id).await?;
    Ok(id)
}

#[tokio::test]
async fn lifecycle_create_start_stop_with_timeout_remove() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("lifecycle");
    // sh as PID 1 ignoring SIGTERM: only the SIGKILL after the stop timeout ends it.
    let spec = scope.spec(
        "stubborn",
        ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"],
    );
    let id = runtime.create_container(&spec).await?;

    let created = runtime.inspect_container(&id).await?;
    assert_eq!(created.status, ContainerStatus::Created);
    assert_eq!(created.exit_code, None);
    assert_eq!(created.name, spec.name);
    assert_eq!(created.image, BUSYBOX);
    assert_eq!(created.labels.get(TEST_RUN_LABEL), Some(&scope.run));

    runtime.start_container(&id).await?;
    runtime
        .start_container(&id)
        .await
        .context("starting a running container is a no-op")?;
    let running = runtime.inspect_container(&spec.name).await?;
    assert_eq!(running.status, ContainerStatus::Running);
    assert_eq!(running.id, id);
    let started_at = running
        .started_at
        .context("a running container has started_at")?;
    assert_eq!(running.exit_code, None);

    let t0 = Instant::now();
    runtime.stop_container(&id, Duration::from_secs(2)).await?;
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "SIGTERM was ignored, so stop waits the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(15), "then kills: {took:?}");
    let stopped = runtime.inspect_container(&id).await?;
    assert_eq!(stopped.status, ContainerStatus::Exited);
    assert_eq!(stopped.exit_code, Some(137), "killed by SIGKILL");
    assert!(
        stopped.finished_at.is_some_and(|f| f >= started_at),
        "{stopped:?}"
    );
    runtime
        .stop_container(&id, Duration::from_secs(1))
        .await
        .context("stopping a stopped container is a no-op")?;

    runtime
        .restart_container(&id, Duration::from_secs(1))
        .await?;
    assert_eq!(
        runtime.inspect_container(&id).await?.status,
        ContainerStatus::Running
    );
    let refused = runtime
        .remove_container(&id, false)
        .await
        .expect_err("running: refused without force");
    assert!(refused.is_conflict(), "{refused}");
    runtime.kill_container(&id, None).await?;
    let killed = wait_exited(&runtime, &id).await?;
    assert_eq!(killed.exit_code, Some(137));

    runtime.remove_container(&id, false).await?;
    let gone = runtime.inspect_container(&id).await.expect_err("removed");
    assert!(gone.is_not_found(), "{gone}");
    assert!(
        gone.to_string().contains(&id),
        "the error names the container: {gone}"
    );
    let again = runtime
        .remove_container(&id, false)
        .await
        .expect_err("removed twice");
    assert!(matches!(again, RuntimeError::NotFound { .. }), "{again}");
    Ok(())
}

#[tokio::test]
async fn exit_codes_are_reported() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("exit-code");
    let id = run(&runtime, &scope.spec("three", ["sh", "-c", "exit 3"])).await?;
    let info = wait_exited(&runtime, &id).await?;
    assert_eq!(info.exit_code, Some(3));
    assert!(!info.oom_killed);
    Ok(())
}

#[tokio::test]
async fn auto_assigned_host_port_is_reported_and_reachable() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("auto-port");
    let spec = scope
        .spec("web", httpd(8080, "hello-auto"))
        .with_port(PortSpec::tcp(8080));
    let id = run(&runtime, &spec).await?;
    let info = runtime.inspect_container(&id).await?;
    let port = info
        .host_port(8080, Protocol::Tcp)
        .with_context(|| format!("no host port in {:?}", info.ports))?;
    assert_ne!(port, 0);
    let response = http_get(port, "/index.html", Duration::from_secs(10)).await?;
    assert!(response.contains("hello-auto"), "{response}");
    Ok(())
}

#[tokio::test]
async fn fixed_host_port_is_used() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("fixed-port");
    // A port that was free a moment ago (racy only against other processes grabbing it).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let spec = scope.spec("web", httpd(8080, "hello-fixed")).with_port(
        PortSpec::tcp(8080)
            .with_host_port(port)
            .with_host_ip(localhost),
    );
    let id = run(&runtime, &spec).await?;
    let info = runtime.inspect_container(&id).await?;
    assert_eq!(info.host_port(8080, Protocol::Tcp), Some(port));
    assert_eq!(
        info.ports.first().map(|p| p.host_ip.as_str()),
        Some("127.0.0.1")
    );
    let response = http_get(port, "/index.html", Duration::from_secs(10)).await?;
    assert!(response.contains("hello-fixed"), "{response}");
    Ok(())
}

#[tokio::test]
async fn env_and_command_reach_the_process() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("env");
    let exits = scope
        .spec("exits", ["sh", "-c", "exit $CODE"])
        .with_env("CODE", "7");
    let id = run(&runtime, &exits).await?;
    assert_eq!(wait_exited(&runtime, &id).await?.exit_code, Some(7));

    let sleeper = scope
        .spec("sleeper", SLEEP)
        .with_env("GREETING", "hi there")
        .with_env("EMPTY", "");
    let id = run(&runtime, &sleeper).await?;
    let out = runtime
        .exec(
            &id,
            &[
                "sh".into(),
                "-c".into(),
                "echo \"$GREETING|${EMPTY-unset}\"".into(),
            ],
            Duration::from_secs(10),
        )
        .await?;
    assert_eq!(out.stdout, "hi there|\n");
    Ok(())
}

#[tokio::test]
async fn list_by_label_filter_covers_all_states() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("labels");
    let a1 = runtime
        .create_container(&scope.spec("a1", SLEEP).with_label("tier", "a"))
        .await?;
    let a2 = run(
        &runtime,
        &scope.spec("a2", ["true"]).with_label("tier", "a"),
    )
    .await?;
    let b = run(&runtime, &scope.spec("b", SLEEP).with_label("tier", "b")).await?;
    wait_exited(&runtime, &a2).await?;

    let tier_a = runtime
        .list_containers(&[(TEST_RUN_LABEL, &scope.run), ("tier", "a")])
        .await?;
    let mut ids: Vec<_> = tier_a.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![a1.as_str(), a2.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "created and exited containers are listed");
    let a1_summary = tier_a.iter().find(|c| c.id == a1).context("a1 listed")?;
    assert_eq!(a1_summary.status, ContainerStatus::Created);
    assert_eq!(a1_summary.name, scope.name("a1"));
    assert_eq!(a1_summary.labels.get("tier").map(String::as_str), Some("a"));
    assert!(a1_summary.created.is_some());
    assert_eq!(
        tier_a.iter().find(|c| c.id == a2).map(|c| &c.status),
        Some(&ContainerStatus::Exited)
    );

    let all = runtime.list_containers(&scope.filter()).await?;
    assert_eq!(all.len(), 3);
    assert!(
        all.iter()
            .any(|c| c.id == b && c.status == ContainerStatus::Running)
    );
    assert!(
        runtime
            .list_containers(&[(TEST_RUN_LABEL, "no-such-run")])
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn networks_are_idempotent_and_resolve_aliases() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("network");
    let spec = scope.network("net");
    let first = runtime.ensure_network(&spec).await?;
    assert!(first.created);
    assert_eq!(first.driver, "bridge");
    assert!(!first.internal);
    assert_eq!(first.labels.get(TEST_RUN_LABEL), Some(&scope.run));
    let second = runtime.ensure_network(&spec).await?;
    assert!(!second.created);
    assert_eq!(second.id, first.id);
    let clash = runtime
        .ensure_network(&spec.clone().internal(true))
        .await
        .expect_err("internal differs");
    assert!(clash.is_conflict(), "{clash}");
    let internal = runtime
        .ensure_network(&scope.network("internal").internal(true))
        .await?;
    assert!(internal.internal);

    let web = scope
        .spec("web", httpd(8080, "from-web"))
        .with_network(&spec.name, ["web-alias"]);
    let web_id = run(&runtime, &web).await?;
    let info = runtime.inspect_container(&web_id).await?;
    assert!(
        matches!(info.networks.get(&spec.name), Some(Some(_))),
        "an IP on the network: {:?}",
        info.networks
    );

    // The client joins after starting, under an alias of its own.
    let client = run(&runtime, &scope.spec("client", SLEEP)).await?;
    runtime
        .connect_network(&spec.name, &client, &["client-alias".to_owned()])
        .await?;
    let fetch = "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://web-alias:8080/index.html && exit 0; sleep 1; done; exit 1";
    let out = runtime
        .exec(
            &client,
            &["sh".into(), "-c".into(), fetch.into()],
            Duration::from_secs(30),
        )
        .await?;
    assert_eq!(
        (out.exit_code, out.stdout.trim()),
        (0, "from-web"),
        "{out:?}"
    );
    let lookup = runtime
        .exec(
            &web_id,
            &["nslookup".into(), "client-alias".into()],
            Duration::from_secs(10),
        )
        .await?;
    assert_eq!(lookup.exit_code, 0, "{lookup:?}");

    let busy = runtime
        .remove_network(&spec.name)
        .await
        .expect_err("containers attached");
    assert!(busy.is_conflict(), "{busy}");
    runtime.remove_container(&web_id, true).await?;
    runtime.remove_container(&client, true).await?;
    runtime.remove_network(&spec.name).await?;
    assert!(
        runtime
            .inspect_network(&spec.name)
            .await
            .expect_err("removed")
            .is_not_found()
    );
    Ok(())
}

#[tokio::test]
async fn named_volume_survives_container_replacement() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("volume");
    let spec = scope.volume("data");
    let volume = runtime.ensure_volume(&spec).await?;
    assert!(volume.created);
    assert!(!runtime.ensure_volume(&spec).await?.created);
    let listed = runtime.list_volumes(&scope.filter()).await?;
    assert_eq!(
        listed.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
        [spec.name.as_str()]
    );

    let writer = scope
        .spec("writer", ["sh", "-c", "echo persisted > /data/file"])
        .with_volume(&spec.name, "/data", false);
    let first = run(&runtime, &writer).await?;
    assert_eq!(wait_exited(&runtime, &first).await?.exit_code, Some(0));
    runtime.remove_container(&first, false).await?;

    let reader = scope
        .spec("reader", SLEEP)
        .with_volume(&spec.name, "/data", true);
    let second = run(&runtime, &reader).await?;
    let cat = runtime
        .exec(
            &second,
            &["cat".into(), "/data/file".into()],
            Duration::from_secs(10),
        )
        .await?;
    assert_eq!((cat.exit_code, cat.stdout.as_str()), (0, "persisted\n"));
    let write = runtime
        .exec(
            &second,
            &["touch".into(), "/data/other".into()],
            Duration::from_secs(10),
        )
        .await?;
    assert_ne!(write.exit_code, 0, "read-only mount: {write:?}");

    let in_use = runtime
        .remove_volume(&spec.name, false)
        .await
        .expect_err("in use");
    assert!(in_use.is_conflict(), "{in_use}");
    runtime.remove_container(&second, true).await?;
    runtime.remove_volume(&spec.name, false).await?;
    assert!(
        runtime
            .inspect_volume(&spec.name)
            .await
            .expect_err("removed")
            .is_not_found()
    );
    Ok(())
}

#[tokio::test]
async fn limits_are_applied_and_stats_see_them() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("limits");
    let cpu: CpuMillis = "500m".parse()?;
    let memory: MemoryBytes = "64Mi".parse()?;
    let id = run(
        &runtime,
        &scope
            .spec("limited", SLEEP)
            .with_cpu(cpu)
            .with_memory(memory),
    )
    .await?;
    let info = runtime.inspect_container(&id).await?;
    assert_eq!(info.cpu, Some(cpu));
    assert_eq!(info.memory, Some(memory));

    let stats = runtime.stats(&id).await?;
    assert_eq!(stats.memory_limit_bytes, memory.bytes());
    assert!(
        stats.memory_usage_bytes > 0 && stats.memory_usage_bytes < memory.bytes(),
        "{stats:?}"
    );
    assert!(stats.online_cpus > 0, "{stats:?}");
    assert!(
        (0.0..=100.0 * f64::from(stats.online_cpus)).contains(&stats.cpu_percent),
        "{stats:?}"
    );
    Ok(())
}

#[tokio::test]
async fn events_show_start_and_die_with_exit_code() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("events");
    let since = SystemTime::now() - Duration::from_secs(1);
    let mut events = runtime.events(&scope.run, Some(since));
    let id = run(
        &runtime,
        &scope.spec("short", ["sh", "-c", "sleep 1; exit 5"]),
    )
    .await?;

    let mut seen = Vec::new();
    let die = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            let event = event?;
            ensure!(
                event.container_id == id,
                "only this engine's containers: {event:?}"
            );
            seen.push(event.action.clone());
            if event.action == RuntimeAction::Die {
                return Ok(event);
            }
        }
        bail!("the event stream ended early after {seen:?}")
    })
    .await
    .context("no die event within 30s")??;
    assert_eq!(die.exit_code, Some(5));
    assert_eq!(die.name, scope.name("short"));
    assert_eq!(die.image.as_deref(), Some(BUSYBOX));
    assert_eq!(die.labels.get(TEST_RUN_LABEL), Some(&scope.run));
    assert!(die.time >= since);
    let start = seen
        .iter()
        .position(|a| *a == RuntimeAction::Start)
        .context("start seen")?;
    let create = seen
        .iter()
        .position(|a| *a == RuntimeAction::Create)
        .context("create seen")?;
    assert!(create < start, "{seen:?}");
    Ok(())
}

#[tokio::test]
async fn exec_returns_output_and_exit_code() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("exec");
    let id = run(&runtime, &scope.spec("target", SLEEP)).await?;
    let cmd = |s: &str| ["sh".to_owned(), "-c".to_owned(), s.to_owned()];
    let out = runtime
        .exec(
            &id,
            &cmd("echo out; echo err >&2; exit 4"),
            Duration::from_secs(10),
        )
        .await?;
    assert_eq!(
        (out.exit_code, out.stdout.as_str(), out.stderr.as_str()),
        (4, "out\n", "err\n")
    );
    assert!(!out.truncated);
    let missing = runtime
        .exec(&id, &["no-such-binary".to_owned()], Duration::from_secs(10))
        .await?;
    assert!(matches!(missing.exit_code, 126 | 127), "{missing:?}");
    let slow = runtime
        .exec(
            &id,
            &["sleep".to_owned(), "5".to_owned()],
            Duration::from_millis(300),
        )
        .await;
    assert!(
        matches!(slow, Err(RuntimeError::Timeout { .. })),
        "{slow:?}"
    );

    runtime.stop_container(&id, Duration::from_secs(1)).await?;
    let stopped = runtime
        .exec(&id, &cmd("true"), Duration::from_secs(10))
        .await
        .expect_err("not running");
    assert!(stopped.is_conflict(), "{stopped}");
    Ok(())
}

#[tokio::test]
async fn conflicts_and_missing_images_are_typed() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let scope = TestScope::new("errors");
    let spec = scope.spec("dup", SLEEP);
    let id = runtime.create_container(&spec).await?;
    let dup = runtime
        .create_container(&spec)
        .await
        .expect_err("name taken");
    assert!(dup.is_conflict(), "{dup}");
    assert!(dup.to_string().contains(&spec.name), "{dup}");
    let kill = runtime
        .kill_container(&id, None)
        .await
        .expect_err("not running");
    assert!(kill.is_conflict(), "{kill}");

    let absent = "windlass-test/absent:0";
    assert!(runtime.image_exists(BUSYBOX).await?);
    assert!(!runtime.image_exists(absent).await?);
    let missing = runtime.require_image(absent).await.expect_err("absent");
    assert!(
        matches!(missing, RuntimeError::ImageMissing { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("locally"), "{missing}");
    let mut spec = scope.spec("no-image", SLEEP);
    spec.image = absent.to_owned();
    let create = runtime.create_container(&spec).await.expect_err("no image");
    assert!(
        matches!(create, RuntimeError::ImageMissing { .. }),
        "{create}"
    );
    Ok(())
}

#[tokio::test]
async fn unreachable_daemon_says_how_to_start_it() {
    let err = DockerRuntime::connect("unix:///nonexistent/docker.sock")
        .await
        .expect_err("no daemon");
    assert!(err.is_unreachable(), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/docker.sock") && msg.contains("start"),
        "{msg}"
    );
    let err = DockerRuntime::connect("tcp://127.0.0.1:1")
        .await
        .expect_err("nothing listens");
    assert!(err.is_unreachable(), "{err}");
    let err = DockerRuntime::connect("ftp://example")
        .await
        .expect_err("bad scheme");
    assert!(matches!(err, RuntimeError::InvalidEndpoint { .. }), "{err}");
}

#[tokio::test]
async fn runtime_reports_the_negotiated_api() -> anyhow::Result<()> {
    let runtime = connect_with_busybox().await?;
    let (major, minor) = runtime
        .api_version()
        .split_once('.')
        .context("major.minor")?;
    assert!(
        (major.parse::<u32>()?, minor.parse::<u32>()?) >= (1, 41),
        "{}",
        runtime.api_version()
    );
    runtime.ping().await?;
    Ok(())
}

#[test]
fn config_hash_tracks_the_definition_not_the_revision() {
    let base = ContainerSpec::new("web-1", BUSYBOX)
        .with_env("A", "1")
        .with_port(PortSpec::tcp(80));
    let labels = |revision| ManagedLabels {
        engine: "dev-1".into(),
        org: "acme".into(),
        stack: "shop".into(),
        service: "web".into(),
        revision,
        slot: 0,
    };
    let (mut r1, mut r2) = (base.clone(), base.clone());
    labels(1).apply(&mut r1);
    labels(2).apply(&mut r2);
    assert_ne!(r1.labels.get(LABEL_REVISION), r2.labels.get(LABEL_REVISION));
    assert_eq!(
        r1.labels.get(LABEL_CONFIG_HASH),
        r2.labels.get(LABEL_CONFIG_HASH)
    );
    assert_eq!(config_hash(&base), config_hash(&base.clone()), "stable");

    let mut other_image = base.clone();
    other_image.image = "windlass-test/busybox:2".into();
    assert_ne!(config_hash(&other_image), config_hash(&base));
    assert_ne!(
        config_hash(&base.clone().with_env("B", "2")),
        config_hash(&base)
    );
}
