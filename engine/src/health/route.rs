//! Where HTTP and TCP probes run from: the engine itself (`direct`), or a small probe container
//! on the stack network (`in-network`) when the engine cannot reach container addresses — a
//! remote Docker endpoint, or an engine in a network namespace of its own.
//!
//! `auto` (the default) probes directly when Docker is reached over a local socket or
//! loopback, and in-network otherwise; a direct probe that finds the address unroutable
//! (network or host unreachable) switches the engine to in-network for good, and says so once.
//! Exec probes always run inside the probed container.
//!
//! One probe container per stack network (`<network>_probe`, labelled `dev.windlass.probe`),
//! created on the first in-network probe from the configured image (BusyBox: `sh`, `printf`,
//! `nc`), idle otherwise, with a read-only root, 16 MiB and 64 processes. It is not a service:
//! the reconciler leaves it alone, and the network pruning removes it with its network. This
//! module must not judge answers: `probe` does.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Probe, ProbeOutcome};
use crate::runtime::labels::{LABEL_ENGINE, LABEL_MANAGED, LABEL_ORG, LABEL_STACK};
use crate::runtime::{ContainerInfo, ContainerSpec, DockerRuntime, RuntimeError};

/// Marks a probe container (the value is `true`): not a service's, never an orphan.
pub const LABEL_PROBE: &str = "dev.windlass.probe";

/// The default image of probe containers.
pub const DEFAULT_PROBE_IMAGE: &str = "busybox:1.36";

/// Where the engine runs HTTP and TCP probes from (`[engine] probes` in the runner's file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProbeMode {
    /// Direct when Docker is local (a unix socket or loopback), in-network otherwise, and
    /// in-network from the first direct probe that finds container addresses unroutable.
    #[default]
    Auto,
    /// From the engine, to the container's address.
    Direct,
    /// From a probe container on the stack network, through Docker's exec.
    InNetwork,
}

impl ProbeMode {
    /// The name in the config file: `auto`, `direct` or `in-network`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Direct => "direct",
            Self::InNetwork => "in-network",
        }
    }

    /// The mode named `name` in the config file.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(Self::Auto),
            "direct" => Some(Self::Direct),
            "in-network" => Some(Self::InNetwork),
            _ => None,
        }
    }
}

/// Runs probes by the engine's [`ProbeMode`].
pub(crate) struct Prober {
    engine_id: String,
    mode: ProbeMode,
    image: String,
    /// Whether HTTP and TCP probes go through probe containers now.
    in_network: AtomicBool,
    /// Probe containers by network name: their ids.
    containers: Mutex<HashMap<String, String>>,
    /// Serialises creating probe containers, so parallel probes create one.
    creating: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober")
            .field("mode", &self.mode)
            .field("in_network", &self.in_network.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Prober {
    pub(crate) fn new(engine_id: &str, endpoint: &str, mode: ProbeMode, image: &str) -> Self {
        let in_network = match mode {
            ProbeMode::Direct => false,
            ProbeMode::InNetwork => true,
            ProbeMode::Auto => !is_local(endpoint),
        };
        tracing::info!(
            mode = mode.as_str(),
            endpoint,
            in_network,
            "probes: {}",
            if in_network {
                "HTTP and TCP probes run from a probe container on each stack network"
            } else {
                "HTTP and TCP probes run from the engine"
            }
        );
        Self {
            engine_id: engine_id.to_owned(),
            mode,
            image: image.to_owned(),
            in_network: AtomicBool::new(in_network),
            containers: Mutex::new(HashMap::new()),
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether HTTP and TCP probes run in-network now.
    pub(crate) fn in_network(&self) -> bool {
        self.in_network.load(Ordering::Relaxed)
    }

    /// Runs `probe` against `container` from where this engine's probes run. Never fails.
    pub(crate) async fn run(
        &self,
        runtime: &DockerRuntime,
        probe: &Probe,
        container: &ContainerInfo,
        timeout: Duration,
    ) -> ProbeOutcome {
        if matches!(probe, Probe::Exec { .. }) || !self.in_network() {
            let (outcome, unroutable) = probe.run_from(runtime, container, timeout, None).await;
            if !(unroutable && self.mode == ProbeMode::Auto) {
                return outcome;
            }
            if !self.in_network.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    container = %container.name,
                    detail = %outcome.detail,
                    "container addresses are not routable from the engine: HTTP and TCP probes \
                     run from a probe container on each stack network from now on"
                );
            }
        }
        let started = std::time::Instant::now();
        let via = match self.probe_container(runtime, container).await {
            Ok(via) => via,
            Err(reason) => {
                return ProbeOutcome {
                    healthy: false,
                    detail: reason,
                    took: started.elapsed(),
                };
            }
        };
        let (outcome, _) = probe
            .run_from(runtime, container, timeout, Some(&via))
            .await;
        if via.gone(&outcome) {
            self.forget(&via.network);
        }
        outcome
    }

    /// The probe container on `container`'s first network, created (or started) if needed.
    async fn probe_container(
        &self,
        runtime: &DockerRuntime,
        container: &ContainerInfo,
    ) -> Result<InNetwork, String> {
        let (network, _) = first_address(container)
            .ok_or_else(|| format!("container {} has no network address", container.name))?;
        if let Some(id) = lock(&self.containers).get(&network).cloned() {
            return Ok(InNetwork { id, network });
        }
        let _creating = self.creating.lock().await;
        if let Some(id) = lock(&self.containers).get(&network).cloned() {
            return Ok(InNetwork { id, network });
        }
        let name = probe_container_name(&network);
        let id = match runtime.inspect_container(&name).await {
            Ok(info) if info.status.is_alive() => info.id,
            Ok(info) => {
                runtime
                    .start_container(&info.id)
                    .await
                    .map_err(|e| format!("starting probe container {name}: {e}"))?;
                info.id
            }
            Err(RuntimeError::NotFound { .. }) => {
                let mut spec = ContainerSpec::new(&name, &self.image).with_command([
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; while true; do sleep 3600 & wait $!; done",
                ]);
                spec.network = Some(network.clone());
                spec.memory = crate::resources::MemoryBytes::new(16 << 20);
                // Hardened like a tenant's, and more: it writes nothing.
                spec.hardening.read_only_root = true;
                spec.hardening.pids_limit = Some(64);
                spec.labels
                    .insert(LABEL_MANAGED.to_owned(), "true".to_owned());
                spec.labels
                    .insert(LABEL_ENGINE.to_owned(), self.engine_id.clone());
                spec.labels
                    .insert(LABEL_PROBE.to_owned(), "true".to_owned());
                for key in [LABEL_ORG, LABEL_STACK] {
                    if let Some(value) = container.labels.get(key) {
                        spec.labels.insert(key.to_owned(), value.clone());
                    }
                }
                let id = runtime
                    .create_container(&spec)
                    .await
                    .map_err(|e| format!("creating probe container {name}: {e}"))?;
                runtime
                    .start_container(&id)
                    .await
                    .map_err(|e| format!("starting probe container {name}: {e}"))?;
                tracing::info!(network = %network, container = %name, image = %self.image, "probe container started");
                id
            }
            Err(e) => return Err(format!("inspecting probe container {name}: {e}")),
        };
        lock(&self.containers).insert(network.clone(), id.clone());
        Ok(InNetwork { id, network })
    }

    /// Forgets the probe container of `network` (removed, or found gone).
    pub(crate) fn forget(&self, network: &str) {
        lock(&self.containers).remove(network);
    }
}

/// The probe container of a stack network. Service containers end in `_<slot>`, so this name
/// never meets one.
pub(crate) fn probe_container_name(network: &str) -> String {
    format!("{network}_probe")
}

/// Whether Docker at `endpoint` runs on this machine (so its bridges are routable from here).
fn is_local(endpoint: &str) -> bool {
    if endpoint.starts_with("unix://") || endpoint.starts_with("npipe://") {
        return true;
    }
    let rest = endpoint
        .strip_prefix("tcp://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or(endpoint);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The container's first network with an address, and the address.
pub(crate) fn first_address(container: &ContainerInfo) -> Option<(String, IpAddr)> {
    container
        .networks
        .iter()
        .find_map(|(name, ip)| ip.map(|ip| (name.clone(), ip)))
}

/// A probe container to run a probe from.
pub(crate) struct InNetwork {
    id: String,
    network: String,
}

impl InNetwork {
    /// Connects to `address` from the probe container: healthy when the connection is
    /// accepted (BusyBox `nc … -e true` exits 0 once connected).
    pub(crate) async fn connect(
        &self,
        runtime: &DockerRuntime,
        address: SocketAddr,
        timeout: Duration,
    ) -> Result<(), String> {
        let command = [
            "nc".to_owned(),
            "-w".to_owned(),
            wait_secs(timeout),
            address.ip().to_string(),
            address.port().to_string(),
            "-e".to_owned(),
            "true".to_owned(),
        ];
        let output = runtime
            .exec(&self.id, &command, timeout)
            .await
            .map_err(|e| format!("probe container: {e}"))?;
        if output.exit_code == 0 {
            Ok(())
        } else {
            Err(nc_error(&output.stderr, output.exit_code))
        }
    }

    /// Sends `request` to `address` from the probe container and returns the raw answer.
    pub(crate) async fn exchange(
        &self,
        runtime: &DockerRuntime,
        address: SocketAddr,
        request: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        let command = [
            "sh".to_owned(),
            "-c".to_owned(),
            r#"printf '%s' "$0" | nc -w "$1" "$2" "$3""#.to_owned(),
            request.to_owned(),
            wait_secs(timeout),
            address.ip().to_string(),
            address.port().to_string(),
        ];
        let output = runtime
            .exec(&self.id, &command, timeout)
            .await
            .map_err(|e| format!("probe container: {e}"))?;
        if output.stdout.is_empty() && output.exit_code != 0 {
            return Err(nc_error(&output.stderr, output.exit_code));
        }
        Ok(output.stdout.into_bytes())
    }

    /// Whether `outcome` says the probe container itself is gone or stopped.
    fn gone(&self, outcome: &ProbeOutcome) -> bool {
        outcome.detail.starts_with("probe container:")
    }
}

/// `nc`'s `-w` (whole seconds, at least 1).
fn wait_secs(timeout: Duration) -> String {
    timeout.as_secs().max(1).to_string()
}

/// What `nc` said, without its `nc: ` prefix.
fn nc_error(stderr: &str, exit_code: i64) -> String {
    let line = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let line = line.trim().trim_start_matches("nc: ");
    if line.is_empty() {
        format!("nc exited with {exit_code}")
    } else {
        line.to_owned()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints_are_told_from_remote_ones() {
        for local in [
            "unix:///var/run/docker.sock",
            "tcp://127.0.0.1:2375",
            "http://localhost:2375",
            "tcp://[::1]:2375",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in [
            "tcp://10.200.0.1:2375",
            "http://docker.example:2375",
            "tcp://[fd00::1]:2375",
        ] {
            assert!(!is_local(remote), "{remote}");
        }
    }

    #[test]
    fn modes_have_their_file_names() {
        for mode in [ProbeMode::Auto, ProbeMode::Direct, ProbeMode::InNetwork] {
            assert_eq!(ProbeMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(ProbeMode::parse("remote"), None);
    }

    #[test]
    fn nc_errors_read_well() {
        assert_eq!(
            nc_error(
                "nc: can't connect to remote host (172.19.0.2): Connection refused\n",
                1
            ),
            "can't connect to remote host (172.19.0.2): Connection refused"
        );
        assert_eq!(nc_error("", 1), "nc exited with 1");
    }
}
