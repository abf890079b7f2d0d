//! Probes that work wherever the engine runs: `windlass run` in a network namespace of its own
//! reaches dockerd only over a TCP port on the namespace pair's address and has no route to
//! Docker's bridges, yet the demo stack — `api` waits for `db` healthy, `web` for an `api`
//! whose readiness is an HTTP probe — comes up, because `probes = "auto"` picks in-network
//! probes for a remote endpoint.
//!
//! The test builds the namespace (`ip netns add`, a veth pair) and a TCP listener on the host
//! side of the pair that forwards to the shared dockerd's unix socket — the daemon itself is not
//! touched — and removes both when it ends. Needs root (for `ip netns`), Docker with the demo
//! and busybox test images, and the plugin components (`WINDLASS_PLUGINS_DIR`).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use windlass::labels::{LABEL_ENGINE, LABEL_SERVICE};

/// The shared dockerd's socket: the forwarder connects to it, nothing else changes.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

fn web_postgres() -> anyhow::Result<PathBuf> {
    common::plugins::component("stack_web_postgres.wasm")
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} {}", args.join(" ")))?;
    ensure!(
        output.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A network namespace joined to the host by a veth pair: `host` on the host side, `inside`
/// in the namespace, no default route inside. Deleted (with the pair) on drop.
struct Netns {
    name: String,
    host: Ipv4Addr,
    inside: Ipv4Addr,
}

impl Netns {
    fn create() -> anyhow::Result<Self> {
        ensure!(
            Command::new("id").arg("-u").output()?.stdout == b"0\n",
            "this test builds a network namespace (`ip netns add`) and needs root"
        );
        // Short names: interface names have at most 15 bytes.
        let tag: u32 = rand::random::<u32>() % 100_000;
        let name = format!("wlprobe{tag}");
        let (host_if, ns_if) = (format!("wlh{tag}"), format!("wln{tag}"));
        let used = run("ip", &["-o", "-4", "addr"])?;
        let third = (0..=255u8)
            .map(|_| rand::random::<u8>())
            .find(|n| !used.contains(&format!("10.250.{n}.")))
            .context("no free 10.250.x.0/30")?;
        let host = Ipv4Addr::new(10, 250, third, 1);
        let inside = Ipv4Addr::new(10, 250, third, 2);
        run("ip", &["netns", "add", &name])?;
        let netns = Self { name, host, inside };
        let ns = netns.name.as_str();
        run(
            "ip",
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
            ],
        )?;
        run("ip", &["link", "set", &ns_if, "netns", ns])?;
        run(
            "ip",
            &["addr", "add", &format!("{host}/30"), "dev", &host_if],
        )?;
        run("ip", &["link", "set", &host_if, "up"])?;
        for args in [
            vec!["addr", "add", &format!("{inside}/30"), "dev", &ns_if],
            vec!["link", "set", &ns_if, "up"],
            vec!["link", "set", "lo", "up"],
        ] {
            let mut full = vec!["netns", "exec", ns, "ip"];
            full.extend(args.iter().map(|s| &**s));
            run("ip", &full)?;
        }
        Ok(netns)
    }

    /// Whether `ip` is routable from inside the namespace.
    fn routes_to(&self, ip: &str) -> bool {
        run(
            "ip",
            &["netns", "exec", &self.name, "ip", "route", "get", ip],
        )
        .is_ok()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("cleanup: {e:#}");
        }
    }
}

/// A TCP listener on `address` that forwards every connection to the Docker socket: the
/// dockerd TCP endpoint of the namespace pair, without reconfiguring the shared daemon.
async fn docker_over_tcp(
    address: Ipv4Addr,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind((address, 0)).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(DOCKER_SOCKET).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    Ok((bound, task))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_cannot_reach_the_bridge_still_brings_the_demo_stack_up()
-> anyhow::Result<()> {
    let scope = EngineScope::new();
    let runtime = common::docker::connect_with_demo_images().await?;
    common::docker::connect_with_busybox().await?;
    let netns = Netns::create()?;
    let (docker, forwarder) = docker_over_tcp(netns.host).await?;
    let dir = tempfile::tempdir()?;
    let api_port = 7000 + rand::random::<u16>() % 2000;
    let config = dir.path().join("windlass.toml");
    std::fs::write(
        &config,
        format!(
            r#"[engine]
id = "{id}"
data_dir = "data"
probes = "auto"
probe_image = "{BUSYBOX}"

[runtime]
endpoint = "tcp://{docker}"

[api]
listen = "{inside}:{api_port}"

[[plugins]]
name = "web-postgres"
kind = "stack-template"
source = "{component}"
limits = {{ memory_mib = 32, timeout_ms = 2000 }}

[[stacks]]
name = "shop"
org = "acme"
template = "web-postgres"
params = {{ db_password = "pw" }}
"#,
            id = scope.id,
            inside = netns.inside,
            component = web_postgres()?.display(),
        ),
    )?;
    let log_path = dir.path().join("runner.log");
    let out_path = dir.path().join("runner.out");
    let child = Command::new("ip")
        .args(["netns", "exec", &netns.name])
        .arg(env!("CARGO_BIN_EXE_windlass"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "windlass=info,warn")
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_HOST")
        .stdout(Stdio::from(std::fs::File::create(&out_path)?))
        .stderr(Stdio::from(std::fs::File::create(&log_path)?))
        .spawn()?;
    let mut child = Killed(child);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let api = Api::new(SocketAddr::from((netns.inside, api_port)));
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.call("get", "/healthz", None, None).await.is_err() {
        if let Some(status) = child.0.try_wait()? {
            bail!("the runner exited early ({status}):\n{}", log());
        }
        ensure!(
            Instant::now() < deadline,
            "the API never answered:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = std::fs::read_to_string(&out_path)?
        .lines()
        .find_map(|l| l.strip_prefix("admin token (shown once, store it now): "))
        .map(str::to_owned)
        .context("the admin token")?;

    // The whole stack comes up: web starts only once api is healthy by its HTTP probe.
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        let status = api.get("/v1/orgs/acme/stacks/shop", &token).await?;
        if status.status == StatusCode::OK && status.body["ready"] == true {
            break status;
        }
        if let Some(exit) = child.0.try_wait()? {
            bail!("the runner exited ({exit}):\n{}", log());
        }
        if Instant::now() >= deadline {
            bail!("the stack did not come up: {status:?}\n{}", log());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let services: Vec<&str> = status.body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "db", "web"], "{status:?}");

    // It was in-network probing that did it: the engine had no route to the containers.
    let api_container = runtime
        .list_containers(&[(LABEL_ENGINE, scope.id.as_str()), (LABEL_SERVICE, "api")])
        .await?;
    let info = runtime.inspect_container(&api_container[0].id).await?;
    let ip = info
        .networks
        .values()
        .flatten()
        .next()
        .context("the api's address")?
        .to_string();
    assert!(
        !netns.routes_to(&ip),
        "the namespace can route to {ip}: the test proves nothing"
    );
    let log = log();
    assert!(log.contains("in_network=true"), "{log}");
    assert!(log.contains("probe container started"), "{log}");
    let probes = runtime
        .list_containers(&[
            (LABEL_ENGINE, scope.id.as_str()),
            (windlass::health::LABEL_PROBE, "true"),
        ])
        .await?;
    assert_eq!(probes.len(), 1, "one probe container for the stack network");

    // A clean stop.
    run("kill", &["-TERM", &child.0.id().to_string()])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(exit) = child.0.try_wait()? {
            assert!(exit.success(), "{exit}");
            break;
        }
        ensure!(Instant::now() < deadline, "the runner did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    forwarder.abort();
    Ok(())
}
