//! What an inventory returns: containers as every target reports them, the groups (workloads,
//! services) they belong to, and the health the engine derives from what the target said.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A group of containers on a target: a workload in a GVC on Control Plane, a service of a
/// stack locally. The inventory fetches containers one group at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// The platform's id of the group (unique within the target).
    pub id: String,
    /// The group's name (a workload, a service).
    pub name: String,
    /// The grouping above it: a GVC, a stack.
    pub scope: String,
    /// What the platform calls it: `standard`, `cron`, `serverless`, `service`, `system`…
    pub kind: String,
    /// The platform says it is suspended (scaled to zero on purpose).
    pub suspended: bool,
}

/// One page of groups, and where the next one starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPage {
    /// The groups of this page.
    pub groups: Vec<Group>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A container's restarts, as the platform counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Restarts {
    /// How many times it restarted.
    pub count: u32,
    /// When it last restarted, ms since the Unix epoch.
    pub last_ms: Option<u64>,
    /// The exit code of the last run.
    pub exit_code: Option<i32>,
    /// Why it last stopped (`Error`, `OOMKilled`…).
    pub reason: Option<String>,
}

/// What a source reports about one container; the engine adds the target and the health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceContainer {
    /// The platform's id (a Docker id; `workload/location/container[@version]` on Control Plane).
    pub id: String,
    /// The container's name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// The platform's state word (`running`, `exited`, `ready`, `not-ready`…).
    pub state: String,
    /// Labels (local containers; empty for platforms without them).
    pub labels: BTreeMap<String, String>,
    /// When it was created, ms since the Unix epoch (0 = unknown).
    pub created_ms: u64,
    /// The org it belongs to.
    pub org: Option<String>,
    /// The grouping above its group (GVC, stack).
    pub scope: Option<String>,
    /// Its group (workload, service).
    pub group: Option<String>,
    /// Where it runs (a location, a node).
    pub location: Option<String>,
    /// Whether the platform says it is ready.
    pub ready: Option<bool>,
    /// The platform's status message.
    pub message: Option<String>,
    /// Replicas wanted.
    pub replicas: Option<u32>,
    /// Replicas ready (absent for suspended workloads on Control Plane).
    pub replicas_ready: Option<u32>,
    /// CPU, thousandths of a core.
    pub cpu_millis: Option<u32>,
    /// Memory, bytes.
    pub memory_bytes: Option<u64>,
    /// Restarts.
    pub restarts: Option<Restarts>,
    /// The deployment version it belongs to.
    pub version: Option<String>,
    /// Whether that version is the current one (false for the old version during a rollout).
    pub current_version: Option<bool>,
    /// For a job (cron) container: the execution's status.
    pub job_status: Option<String>,
    /// An engine's own container that is not a service's (a probe container).
    pub system: bool,
}

/// How the engine judges a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Running and ready (or a job that succeeded or is still active).
    Healthy,
    /// Not ready, exited with an error, or a failed job.
    Unhealthy,
    /// Scaled to zero on purpose (a suspended workload or location): not a failure.
    Suspended,
}

impl Health {
    /// The word the API and the CLI use.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
            Health::Suspended => "suspended",
        }
    }

    /// Parses [`Health::as_str`].
    pub fn parse(s: &str) -> Option<Health> {
        match s {
            "healthy" => Some(Health::Healthy),
            "unhealthy" => Some(Health::Unhealthy),
            "suspended" => Some(Health::Suspended),
            _ => None,
        }
    }

    /// Judges what a source reported; `suspended` is the group's flag.
    pub(crate) fn judge(c: &SourceContainer, suspended: bool) -> Health {
        let says_suspended = c
            .message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("suspend"));
        if let Some(job) = c.job_status.as_deref() {
            return match job {
                "failed" | "invalid" => Health::Unhealthy,
                _ => Health::Healthy,
            };
        }
        match c.ready {
            Some(true) => Health::Healthy,
            Some(false) if suspended || says_suspended => Health::Suspended,
            Some(false) => Health::Unhealthy,
            None if c.state == "running" => Health::Healthy,
            None => Health::Unhealthy,
        }
    }
}

/// A container in an inventory: what its target reported, where it was found and how the
/// engine judges it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryContainer {
    /// The target it was found on (`local`, or a configured target's name).
    pub target: String,
    /// The platform's id.
    pub id: String,
    /// The container's name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// The platform's state word.
    pub state: String,
    /// The engine's judgement.
    pub health: Health,
    /// The org it belongs to.
    pub org: Option<String>,
    /// The GVC (Control Plane) or stack (local).
    pub scope: Option<String>,
    /// The workload (Control Plane) or service (local).
    pub group: Option<String>,
    /// The location (Control Plane) or node.
    pub location: Option<String>,
    /// Whether the platform says it is ready.
    pub ready: Option<bool>,
    /// The platform's status message.
    pub message: Option<String>,
    /// Replicas wanted.
    pub replicas: Option<u32>,
    /// Replicas ready.
    pub replicas_ready: Option<u32>,
    /// CPU, thousandths of a core.
    pub cpu_millis: Option<u32>,
    /// Memory, bytes.
    pub memory_bytes: Option<u64>,
    /// Restarts.
    pub restarts: Option<Restarts>,
    /// The deployment version.
    pub version: Option<String>,
    /// Whether the version is the current one.
    pub current_version: Option<bool>,
    /// A job container's execution status.
    pub job_status: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Created, ms since the Unix epoch (0 = unknown).
    pub created_ms: u64,
    /// An engine's own helper container (shown only with `include_system`).
    pub system: bool,
}

impl InventoryContainer {
    pub(crate) fn from_source(target: &str, group: &Group, c: SourceContainer) -> Self {
        let health = Health::judge(&c, group.suspended);
        InventoryContainer {
            target: target.to_owned(),
            id: c.id,
            name: c.name,
            image: c.image,
            state: c.state,
            health,
            org: c.org,
            scope: c.scope.or_else(|| Some(group.scope.clone())),
            group: c.group.or_else(|| Some(group.name.clone())),
            location: c.location,
            ready: c.ready,
            message: c.message,
            replicas: c.replicas,
            replicas_ready: c.replicas_ready,
            cpu_millis: c.cpu_millis,
            memory_bytes: c.memory_bytes,
            restarts: c.restarts,
            version: c.version,
            current_version: c.current_version,
            job_status: c.job_status,
            labels: c.labels,
            created_ms: c.created_ms,
            system: c.system,
        }
    }

    /// The order of an inventory, and what its cursor points after.
    pub(crate) fn sort_key(&self) -> String {
        let part = |s: &Option<String>| s.clone().unwrap_or_default();
        [
            self.target.clone(),
            part(&self.scope),
            part(&self.group),
            part(&self.location),
            self.name.clone(),
            self.id.clone(),
        ]
        .join("\u{1f}")
    }
}
