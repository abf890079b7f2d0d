//! Placement benchmark: a 30-replica service deployed on the three-node swarm of
//! `scripts/swarm-harness.sh` through the engine (declaration, placement pass, the real
//! `adapter-swarm` component) against `docker service create` of the same service (image,
//! command, replicas, CPU and memory limits, the org's overlay network, DNS round robin), in
//! the same run.
//!
//! `cargo bench -p windlass --bench placement` (needs the harness up and the plugins built).
//! `WINDLASS_BENCH_ROUNDS=N` (default 2) rounds; `WINDLASS_BENCH_REPLICAS=R` (default 30).
//! Each round does both, in alternating order, and times each from the first call to all
//! replicas running (both polled the same way: the adapter's `status` every 250 ms). Target
//! (issue 16): the engine's median at most 1.10 × the direct one's. Exits non-zero if missed.

// A benchmark that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use windlass::plugins::types::DeploymentRef;
use windlass::plugins::{CloudAdapter, PluginHost};
use windlass::stacks::StackSpec;
use windlass::{Engine, ServiceSpec};
use windlass_test_support::engine::EngineScope;
use windlass_test_support::swarm::{engine_with_workers, manager, remove_org};

const ORG: &str = "benchplace";
const HTTPD: &[&str] = &["httpd", "-f", "-p", "8080", "-h", "/"];
const TARGET: f64 = 1.10;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Polls `deployment` until `replicas` run (the same poller for both ways of deploying).
async fn until_running(adapter: &CloudAdapter, deployment: &DeploymentRef, replicas: u32) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(Ok(s)) = adapter.status(deployment).await
            && s.running_replicas >= replicas
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{replicas} replicas not running after 300 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Removes what the round deployed and waits for the swarm to have no task of the org left.
async fn clean(adapter: &CloudAdapter) {
    remove_org(adapter, ORG).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = adapter
            .list_containers(&windlass::plugins::types::ContainerFilter {
                labels: vec![("dev.windlass.org".into(), ORG.into())],
                name_prefix: None,
            })
            .await;
        if matches!(left, Ok(Ok(ref l)) if l.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the org's tasks did not go: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Task containers stop on the nodes after the service is gone.
    tokio::time::sleep(Duration::from_secs(5)).await;
}

async fn through_engine(engine: &Engine, adapter: &CloudAdapter, replicas: u32) -> Duration {
    let mut web = ServiceSpec::new("web", windlass_test_support::docker::BUSYBOX)
        .with_command(HTTPD.iter().copied())
        .with_replicas(replicas);
    web.cpu = Some("100m".into());
    web.memory = Some("32Mi".into());
    let mut stack = StackSpec::new().with_service(web);
    stack.target = Some("swarm".into());
    let started = Instant::now();
    engine
        .deploy_stack(ORG, "engine", &stack, &Default::default())
        .await
        .unwrap();
    let report = engine.place_now().await.unwrap();
    assert_eq!(report.deployed, 1, "{report:?}");
    let placed = engine.placements().await.unwrap();
    let p = placed.iter().find(|p| p.stack == "engine").unwrap();
    let deployment = DeploymentRef {
        id: p.deployment_id.clone(),
        name: p.deployment_name.clone(),
    };
    until_running(adapter, &deployment, replicas).await;
    let took = started.elapsed();
    engine.remove_stack(ORG, "engine").await.unwrap();
    engine.place_now().await.unwrap();
    took
}

async fn direct(adapter: &CloudAdapter, network: &str, replicas: u32) -> Duration {
    let manager = format!("tcp://{}", manager().unwrap());
    let replicas_arg = replicas.to_string();
    let network = network.to_owned();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        let mut args = vec![
            "-H",
            &manager,
            "service",
            "create",
            "--detach",
            "--quiet",
            "--no-resolve-image",
            "--name",
            "benchplace-direct-web",
            "--label",
            "dev.windlass.org=benchplace",
            "--container-label",
            "dev.windlass.org=benchplace",
            "--replicas",
            &replicas_arg,
            "--limit-cpu",
            "0.1",
            "--limit-memory",
            "32m",
            "--network",
            &network,
            "--endpoint-mode",
            "dnsrr",
            windlass_test_support::docker::BUSYBOX,
        ];
        args.extend(HTTPD);
        std::process::Command::new("docker").args(&args).output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "docker service create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let deployment = DeploymentRef {
        id,
        name: "benchplace-direct-web".into(),
    };
    until_running(adapter, &deployment, replicas).await;
    let took = started.elapsed();
    // Not the adapter's (no managed label): `remove_org` would not find it.
    adapter.remove(&deployment).await.unwrap().unwrap();
    took
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn run() -> anyhow::Result<bool> {
    windlass_test_support::docker::connect_with_busybox().await?;
    let host = PluginHost::builder().build()?;
    let adapter = windlass_test_support::swarm::adapter(&host).await?;
    clean(&adapter).await;
    let scope = EngineScope::new();
    let engine = engine_with_workers(&scope, &host, Default::default()).await?;
    let network = adapter.ensure_network(ORG).await??;
    let (rounds, replicas) = (
        env_number("WINDLASS_BENCH_ROUNDS", 2),
        u32::try_from(env_number("WINDLASS_BENCH_REPLICAS", 30))?,
    );
    println!(
        "placement benchmark: {replicas} replicas on the 3-node swarm, {rounds} rounds \
         (target: engine <= {TARGET:.2} x docker service create)"
    );
    let (mut engine_times, mut direct_times) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for by_engine in order {
            let took = if by_engine {
                through_engine(&engine, &adapter, replicas).await
            } else {
                direct(&adapter, &network, replicas).await
            };
            clean(&adapter).await;
            println!(
                "  round {}: {:<22} {took:>8.2?}",
                i + 1,
                if by_engine {
                    "through the engine"
                } else {
                    "docker service create"
                }
            );
            if by_engine {
                engine_times.push(took);
            } else {
                direct_times.push(took);
            }
        }
    }
    let (e, d) = (median(&mut engine_times), median(&mut direct_times));
    let ratio = e.as_secs_f64() / d.as_secs_f64();
    let met = ratio <= TARGET;
    println!(
        "median: engine {e:.2?}, docker service create {d:.2?}: {ratio:.2}x ({})",
        if met { "met" } else { "MISSED" }
    );
    adapter.remove_network(ORG).await??;
    Ok(met)
}

fn main() -> anyhow::Result<()> {
    let ok = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())?;
    anyhow::ensure!(ok, "the engine missed the target");
    Ok(())
}
