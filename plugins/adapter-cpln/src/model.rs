//! Control Plane's JSON as the adapter reads it: the list envelope, workloads, deployments and
//! container statuses. Unknown fields are ignored; every field the adapter does not need to
//! identify an object may be missing.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `{"kind": "list", "itemKind": ..., "items": [...], "links": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
    /// `self`, `next`…
    #[serde(default)]
    pub links: Vec<Link>,
}

impl<T> List<T> {
    /// The `href` of the `next` link, if there is a next page.
    pub fn next(&self) -> Option<&str> {
        self.links
            .iter()
            .find(|l| l.rel == "next")
            .map(|l| l.href.as_str())
    }
}

/// A link.
#[derive(Debug, Deserialize)]
pub struct Link {
    /// Its relation.
    pub rel: String,
    /// The path (or URL) it points at.
    pub href: String,
}

/// A workload as listed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    /// Control Plane's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Its name.
    pub name: String,
    /// Its spec.
    #[serde(default)]
    pub spec: WorkloadSpec,
}

/// What the adapter reads of a workload's spec.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// `standard`, `cron`, `serverless`…
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Default options.
    #[serde(default)]
    pub default_options: Option<DefaultOptions>,
}

/// `spec.defaultOptions`.
#[derive(Debug, Default, Deserialize)]
pub struct DefaultOptions {
    /// Scaled to zero on purpose.
    #[serde(default)]
    pub suspend: bool,
}

/// One deployment: a workload in one location.
#[derive(Debug, Deserialize)]
pub struct Deployment {
    /// The location's name.
    pub name: String,
    /// What runs there.
    #[serde(default)]
    pub status: Option<DeploymentStatus>,
}

/// A deployment's status.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// Whether the location serves.
    #[serde(default)]
    pub ready: Option<bool>,
    /// Why not, or that it is suspended.
    #[serde(default)]
    pub message: Option<String>,
    /// The version the location processed last.
    #[serde(default)]
    pub last_processed_version: Option<u64>,
    /// The version it should run.
    #[serde(default)]
    pub expected_deployment_version: Option<u64>,
    /// The versions present (two during a rollout).
    #[serde(default)]
    pub versions: Vec<Version>,
    /// A cron workload's executions.
    #[serde(default)]
    pub job_executions: Vec<JobExecution>,
}

/// One version in a location.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    /// The workload version.
    #[serde(default)]
    pub workload: Option<u64>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub created: Option<String>,
    /// Whether it is ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// Its message.
    #[serde(default)]
    pub message: Option<String>,
    /// Its containers by name.
    #[serde(default)]
    pub containers: BTreeMap<String, ContainerStatus>,
}

/// One execution of a cron workload.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobExecution {
    /// The execution's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The workload version it ran.
    #[serde(default)]
    pub workload_version: Option<u64>,
    /// `successful`, `failed`, `active`, `pending`, `invalid`, `removed`.
    #[serde(default)]
    pub status: Option<String>,
    /// When it started.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Its containers by name.
    #[serde(default)]
    pub containers: BTreeMap<String, ContainerStatus>,
}

/// A container's status.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its image.
    #[serde(default)]
    pub image: Option<String>,
    /// Whether it is ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// The platform's message (may be stale).
    #[serde(default)]
    pub message: Option<String>,
    /// Replicas and resources.
    #[serde(default)]
    pub resources: Option<Resources>,
    /// Restarts.
    #[serde(default)]
    pub restarts: Option<Restarts>,
}

/// `resources`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// Replicas wanted.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Replicas ready (absent for suspended workloads).
    #[serde(default)]
    pub replicas_ready: Option<u32>,
    /// CPU, millicores.
    #[serde(default)]
    pub cpu: Option<u32>,
    /// Memory, MiB.
    #[serde(default)]
    pub memory: Option<u64>,
}

/// `restarts`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Restarts {
    /// How many.
    #[serde(default)]
    pub count: Option<u32>,
    /// When the last one was (RFC 3339).
    #[serde(default)]
    pub last_restart_time: Option<String>,
    /// The last exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}
