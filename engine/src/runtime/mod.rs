//! The Docker runtime: containers, images, networks, volumes, stats, exec and the event stream
//! of one Docker daemon, through bollard.
//!
//! This module owns every call to Docker and the translation between engine-level types
//! ([`ContainerSpec`], [`ContainerInfo`], [`RuntimeEvent`]) and Docker's API. It must not
//! decide anything: no restarts (Docker's restart policy is always "no"), no retries, no
//! pulls from a registry (images must be on the host), no desired state and no persistence —
//! those belong to `lifecycle`, `reconcile` and `store`. It never touches objects it was not
//! asked about; ownership is expressed through the `dev.windlass.*` labels built in
//! [`labels`].
//!
//! One file per concern: `containers` (lifecycle operations), `info` (inspect/list results),
//! `networks`, `volumes`, `images`, `events`, `stats`, `logs`, `exec`, `labels`, `spec`,
//! `swarm` (the daemon's own swarm membership, for the embedded development swarm).

mod archive;
pub(crate) mod build;
mod containers;
pub(crate) mod disk;
mod error;
mod events;
mod exec;
mod images;
mod info;
pub mod labels;
mod logs;
mod networks;
mod spec;
mod stats;
mod swarm;
mod time;
mod volumes;

use std::sync::Arc;
use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use tracing::instrument;

pub(crate) use containers::CreateExtras;
pub use error::RuntimeError;
pub use events::{RuntimeAction, RuntimeEvent, RuntimeEventStream};
pub use exec::ExecOutput;
pub use info::{AssignedPort, ContainerInfo, ContainerStatus, ContainerSummary};
pub use labels::{ManagedLabels, config_hash};
pub use logs::{LogLine, LogOptions, LogSource};
pub use networks::{NetworkInfo, NetworkSpec};
pub use spec::{ContainerSpec, Hardening, PortSpec, Protocol, SecretMount, VolumeMount};
pub use stats::StatsSnapshot;
pub use swarm::SwarmMembership;
pub use volumes::{VolumeInfo, VolumeSpec};

use error::Op;

/// The endpoint used when none is configured and `DOCKER_HOST` is unset.
pub(crate) const DEFAULT_ENDPOINT: &str = "unix:///var/run/docker.sock";

/// The oldest Docker API the runtime supports (Docker 20.10).
const MIN_API: (usize, usize) = (1, 41);

/// How long an ordinary request may take before it fails with [`RuntimeError::Timeout`].
/// Operations that wait on purpose (stop, restart) extend it by their own timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to one Docker daemon. Cheap to clone (clones share the connection pool).
#[derive(Debug, Clone)]
pub struct DockerRuntime {
    docker: Docker,
    endpoint: String,
    api_version: String,
    /// Serialises `ensure_network` (see there).
    network_lock: Arc<tokio::sync::Mutex<()>>,
}

impl DockerRuntime {
    /// Connects to `endpoint` (`unix:///var/run/docker.sock`, `tcp://host:2375` or
    /// `http://host:2375`), negotiates the API version with the daemon (downgrading to what it
    /// speaks, at least API 1.41) and checks that it answers.
    #[instrument(name = "runtime.connect", skip_all, fields(endpoint = %endpoint))]
    pub async fn connect(endpoint: &str) -> Result<Self, RuntimeError> {
        let timeout = REQUEST_TIMEOUT.as_secs();
        let op = Op {
            endpoint,
            operation: "connect to",
            target: endpoint,
            timeout: REQUEST_TIMEOUT,
        };
        let docker = if endpoint.starts_with("unix://") {
            Docker::connect_with_unix(endpoint, timeout, API_DEFAULT_VERSION)
        } else if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
            Docker::connect_with_http(endpoint, timeout, API_DEFAULT_VERSION)
        } else {
            return Err(RuntimeError::InvalidEndpoint {
                endpoint: endpoint.to_owned(),
            });
        }
        .map_err(|e| op.error(e))?;
        let docker = docker.negotiate_version().await.map_err(|e| op.error(e))?;
        let version = docker.client_version();
        if (version.major_version, version.minor_version) < MIN_API {
            return Err(RuntimeError::UnsupportedApi {
                endpoint: endpoint.to_owned(),
                found: version.to_string(),
                required: format!("{}.{}", MIN_API.0, MIN_API.1),
            });
        }
        let runtime = DockerRuntime {
            docker,
            endpoint: endpoint.to_owned(),
            api_version: version.to_string(),
            network_lock: Arc::default(),
        };
        runtime.ping().await?;
        tracing::debug!(api_version = %runtime.api_version, "connected to docker");
        Ok(runtime)
    }

    /// Connects to `DOCKER_HOST` if set, else to `unix:///var/run/docker.sock`.
    pub async fn connect_default() -> Result<Self, RuntimeError> {
        let endpoint = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_owned());
        Self::connect(&endpoint).await
    }

    /// The endpoint this runtime talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The negotiated Docker API version, e.g. `"1.41"`.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// Checks that the daemon answers.
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map_err(|e| self.op("ping", &self.endpoint).error(e))?;
        Ok(())
    }

    /// The error context of one call.
    fn op<'a>(&'a self, operation: &'static str, target: &'a str) -> Op<'a> {
        Op {
            endpoint: &self.endpoint,
            operation,
            target,
            timeout: REQUEST_TIMEOUT,
        }
    }

    /// A client whose request deadline covers an operation that waits `wait` on purpose.
    fn waiting_client(&self, wait: Duration) -> (Docker, Duration) {
        let deadline = REQUEST_TIMEOUT.saturating_add(wait);
        (self.docker.clone().with_timeout(deadline), deadline)
    }
}

/// Docker's label filter syntax for `key=value` pairs (all must match).
fn label_filters(labels: &[(&str, &str)]) -> std::collections::HashMap<String, Vec<String>> {
    let values = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    std::collections::HashMap::from([("label".to_owned(), values)])
}
