//! Placement: services that run on an adapter target instead of the engine's own Docker.
//!
//! A service (or a whole stack) names a target: `local`, the default, is the reconciler's
//! (containers, slots, rolling updates by the engine), any other name is a `[[targets]]` entry
//! served by a cloud adapter plugin. For those the desired state is the same row in
//! `desired_services`, and a placement pass ([`crate::Engine::place_now`], every
//! [`PlacementConfig::poll_interval`] while the engine runs, and right after each declaration)
//! makes the platform match it through the adapter contract:
//!
//! | desired vs `placements` row | the pass calls | then |
//! | --- | --- | --- |
//! | no row, or another revision or target | `ensure-network(org)`, `deploy` | stores the row |
//! | same revision, other replicas | `scale` | stores the row |
//! | same revision and replicas | `status` | events when the phase changes |
//! | a row no service declares any more | `remove` | deletes the row |
//! | a deployment carrying this engine's label that no row and no service names | `remove` | |
//!
//! Adoption after a crash needs nothing more: the rows are in the store, and a deploy whose
//! row was never written (killed between the adapter's answer and the store) is deployed again
//! under the same name, which adapters treat as an update of the existing object (the Swarm
//! adapter does; the contract says deploy is by name). Rolling updates and their automatic
//! rollback are the platform's: the service's update policy becomes the request's
//! (start-first or stop-first, one replica at a time, rollback on failure), and the status's
//! `rollback_completed` is reported as a `placement-rolled-back` event.
//!
//! What the engine does for local services but cannot yet do on a platform is refused when the
//! stack is declared ([`check`]), never dropped: build sources (images built by the engine are
//! in its own Docker), secrets, dependency gates, HTTP and TCP probes (run by the engine
//! against local containers; an `exec` probe becomes the platform's health check).

mod request;

use std::time::Duration;

use windlass_host_api::types::DeploymentPhase;

use crate::targets::Target;
use crate::{EngineError, ServiceSpec, SpecError};

pub(crate) use request::deploy_request;

/// How often the placement pass looks at the platforms while the engine runs.
#[derive(Debug, Clone)]
pub struct PlacementConfig {
    /// Time between two passes (default 5 s); each declaration also triggers one.
    pub poll_interval: Duration,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(5),
        }
    }
}

/// Refuses a service the target cannot run: an unknown target, a read-only one, or a feature
/// not carried over to adapter targets. `local` services pass untouched.
pub(crate) fn check(
    targets: &crate::targets::Targets,
    service: &ServiceSpec,
) -> Result<(), EngineError> {
    let Some(name) = service.adapter_target() else {
        return Ok(());
    };
    let field = |f: &str| format!("services.{}.{f}", service.name);
    let target: &Target = targets.get(name).ok_or_else(|| {
        let known: Vec<&str> = targets.all().iter().map(|t| t.name.as_str()).collect();
        EngineError::InvalidSpec(SpecError {
            field: field("target"),
            message: format!("no target `{name}`; the targets are {}", known.join(", ")),
        })
    })?;
    target.check_writable()?;
    if target.cloud_adapter().is_none() || target.adapter_info().is_none() {
        return Err(EngineError::TargetUnavailable {
            target: name.to_owned(),
            message: "its adapter did not describe itself when the engine started".to_owned(),
        });
    }
    let refuse = |what: &str, why: &str| {
        Err(EngineError::InvalidSpec(SpecError {
            field: field(what),
            message: format!("not carried over to adapter target `{name}` yet: {why}"),
        }))
    };
    request::ports(service).map_err(EngineError::InvalidSpec)?;
    if service.build.is_some() {
        return refuse(
            "build",
            "the engine builds images into its own Docker, which the platform's nodes cannot read",
        );
    }
    if !service.secrets.is_empty() {
        return refuse(
            "secrets",
            "secret files and variables are injected by the local runtime",
        );
    }
    if !service.depends_on.is_empty() {
        return refuse(
            "depends_on",
            "dependency gates watch local containers; deploy the dependencies' stack first",
        );
    }
    if let Some(i) = service
        .health_checks
        .iter()
        .position(|c| !matches!(c.probe, crate::health::Probe::Exec { .. }))
    {
        return refuse(
            &format!("health_checks[{i}]"),
            "HTTP and TCP probes run from the engine against local containers; use an exec probe, \
             which becomes the platform's health check",
        );
    }
    Ok(())
}

/// What one placement pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlacementReport {
    /// Services deployed (first time, a new revision, or again after the platform lost them).
    pub deployed: u32,
    /// Services scaled.
    pub scaled: u32,
    /// Deployments removed (no longer declared, moved to another target, or orphans).
    pub removed: u32,
    /// Services whose status was read.
    pub checked: u32,
    /// What failed, per service or target (retried on the next pass).
    pub errors: Vec<String>,
}

/// A service's key: org, stack, service.
pub(crate) type Key = (String, String, String);

/// What the passes last saw of each placed service, to report changes once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The phase and update state of the last status read.
    pub status: Option<(String, Option<String>)>,
    /// The last error, reported once until it changes.
    pub error: Option<String>,
}

/// The engine's placement state: its settings, the wake-up declarations send, and what the
/// passes saw (behind the lock that keeps passes one at a time).
#[derive(Debug, Default)]
pub(crate) struct PlacementState {
    pub config: PlacementConfig,
    pub wake: tokio::sync::Notify,
    pub seen: tokio::sync::Mutex<std::collections::HashMap<Key, Seen>>,
}

impl PlacementState {
    pub(crate) fn new(config: PlacementConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }
}

/// A deployment phase as events and the API spell it.
pub fn phase_name(phase: DeploymentPhase) -> &'static str {
    match phase {
        DeploymentPhase::Pending => "pending",
        DeploymentPhase::Running => "running",
        DeploymentPhase::Updating => "updating",
        DeploymentPhase::RollingBack => "rolling-back",
        DeploymentPhase::Degraded => "degraded",
        DeploymentPhase::Failed => "failed",
    }
}
