//! The three-node Docker Swarm of `scripts/swarm-harness.sh` (docs/swarm.md), for the engine's
//! tests: its variables, and the `adapter-swarm` component loaded against its manager. A
//! missing harness fails with the instruction to bring it up, never skips.
//! (`host-api/tests/swarm.rs` has its own copy of `harness_var`: that crate cannot depend on
//! this one, which depends on it.)

use std::time::Duration;

use anyhow::Context as _;
use windlass::plugins::types::{Resources, RestartPolicy, ServiceSpec};
use windlass::plugins::{CloudAdapter, Grants, Limits, PluginHost, PluginKind, PluginSpec};

const ENV_FILE: &str = "/run/windlass-swarm/env";

/// A variable of the harness: from the environment, else from the env file `up` writes.
pub fn harness_var(name: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(name) {
        return Ok(v);
    }
    let file = std::fs::read_to_string(ENV_FILE).unwrap_or_default();
    file.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .with_context(|| {
            format!(
                "the swarm harness is not up ({name} unset, no {ENV_FILE}): run \
                 `scripts/swarm-harness.sh up windlass-test/busybox:1` (scripts/test.sh does)"
            )
        })
}

/// The manager's Engine API address (`IP:PORT`).
pub fn manager() -> anyhow::Result<String> {
    harness_var("WINDLASS_TEST_SWARM_MANAGER")
}

/// `adapter-swarm` against the harness's manager, granted only that address.
pub async fn adapter(host: &PluginHost) -> anyhow::Result<CloudAdapter> {
    let manager = manager()?;
    let spec = PluginSpec::from_file("swarm", crate::plugins::component("adapter_swarm.wasm")?)
        .with_kind(PluginKind::CloudAdapter)
        .with_config("endpoint", format!("http://{manager}"))
        .with_config("endpoint_mode", "dnsrr")
        // No IPsec in the harness's kernel (docs/swarm.md): plain overlays.
        .with_config("encrypt_networks", "false")
        .with_limits(Limits {
            timeout: Duration::from_secs(20),
            ..Limits::default()
        })
        .with_grants(Grants {
            outbound_hosts: vec![manager],
            ..Grants::default()
        });
    host.load(spec)
        .await?
        .cloud_adapter()
        .context("adapter-swarm is a cloud adapter")
}

/// Runs `swarm-harness.sh ARGS` (e.g. `stop-node n2`), failing with its exit status. It runs
/// off the runtime's threads: it waits for a dockerd to stop or start, and an engine's
/// heartbeat must keep running meanwhile.
pub async fn harness(args: &'static [&'static str]) -> anyhow::Result<()> {
    let script = harness_var("WINDLASS_TEST_SWARM_HARNESS")?;
    tokio::task::spawn_blocking(move || {
        let status = std::process::Command::new("bash")
            .arg(&script)
            .args(args)
            .status()
            .with_context(|| format!("running {script}"))?;
        anyhow::ensure!(
            status.success(),
            "swarm-harness.sh {args:?} failed: {status}"
        );
        Ok(())
    })
    .await?
}

/// A busybox service of `replicas` running `command`, with small limits, for the swarm.
pub fn busybox_service(name: &str, replicas: u32, command: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        image: "windlass-test/busybox:1".into(),
        command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        env: Vec::new(),
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

/// Removes every deployment of `org` on the swarm (what an interrupted run left).
pub async fn remove_org(adapter: &CloudAdapter, org: &str) -> anyhow::Result<()> {
    for d in adapter
        .list_deployments(&[("dev.windlass.org".into(), org.into())])
        .await??
    {
        adapter.remove(&d).await??;
    }
    Ok(())
}

/// An engine of `scope` with the harness as target `swarm` and the given workers heartbeat.
pub async fn engine_with_workers(
    scope: &crate::engine::EngineScope,
    host: &PluginHost,
    workers: windlass::workers::WorkersConfig,
) -> anyhow::Result<windlass::Engine> {
    Ok(scope
        .builder()
        .with_target(windlass::targets::Target::adapter(
            "swarm",
            "swarm",
            adapter(host).await?,
        ))
        .with_workers(workers)
        .build()
        .await?)
}
