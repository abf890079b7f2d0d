//! What the fixture serves: workloads in GVCs, their deployments per location, and the faults
//! chosen per workload. Shapes follow Control Plane's API (see `docs/inventory.md`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

/// The kind of a workload (`spec.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// Always-on replicas.
    Standard,
    /// A cron workload: containers live in `status.jobExecutions`.
    Cron,
}

/// One workload of the fixture.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Its name.
    pub name: String,
    /// Its GVC.
    pub gvc: String,
    /// Standard or cron.
    pub kind: WorkloadKind,
    /// `(name, image)` of each container.
    pub containers: Vec<(String, String)>,
    /// The locations its GVC spans (each has a deployment named after it).
    pub locations: Vec<String>,
    /// `spec.defaultOptions.suspend`: every location reports `ready: false`, "suspended",
    /// and no `replicasReady`.
    pub suspended: bool,
    /// Locations that are suspended (`ready: false` with a message saying so).
    pub suspended_locations: Vec<String>,
    /// A rollout under way: the new version is not ready yet, the old one still serves, and
    /// `lastProcessedVersion` < `expectedDeploymentVersion`.
    pub rollout: bool,
    /// A ready container still carries an old message (Control Plane keeps stale messages).
    pub stale_message: bool,
    /// A cron workload's last execution failed.
    pub job_failed: bool,
    /// Replicas per location.
    pub replicas: u32,
    /// The workload's version (`version` and the deployments' `expectedDeploymentVersion`).
    pub version: u64,
}

impl Workload {
    /// A standard workload with one container `main` of `image` in `aws-us-west-2`.
    pub fn standard(gvc: &str, name: &str, image: &str) -> Self {
        Self {
            name: name.to_owned(),
            gvc: gvc.to_owned(),
            kind: WorkloadKind::Standard,
            containers: vec![("main".to_owned(), image.to_owned())],
            locations: vec!["aws-us-west-2".to_owned()],
            suspended: false,
            suspended_locations: Vec::new(),
            rollout: false,
            stale_message: false,
            job_failed: false,
            replicas: 1,
            version: 3,
        }
    }

    /// A cron workload with one container `job`.
    pub fn cron(gvc: &str, name: &str, image: &str) -> Self {
        Self {
            kind: WorkloadKind::Cron,
            containers: vec![("job".to_owned(), image.to_owned())],
            ..Self::standard(gvc, name, image)
        }
    }

    /// In these locations.
    pub fn in_locations(mut self, locations: &[&str]) -> Self {
        self.locations = locations.iter().map(|l| (*l).to_owned()).collect();
        self
    }

    /// With one more container.
    pub fn with_container(mut self, name: &str, image: &str) -> Self {
        self.containers.push((name.to_owned(), image.to_owned()));
        self
    }

    /// Replicas per location.
    pub fn with_replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// Suspended (scaled to zero on purpose).
    pub fn suspended(mut self) -> Self {
        self.suspended = true;
        self
    }

    /// With this location suspended.
    pub fn with_suspended_location(mut self, location: &str) -> Self {
        self.suspended_locations.push(location.to_owned());
        self
    }

    /// In the middle of a rollout.
    pub fn rolling_out(mut self) -> Self {
        self.rollout = true;
        self
    }

    /// A ready container with a stale message.
    pub fn with_stale_message(mut self) -> Self {
        self.stale_message = true;
        self
    }

    /// A cron workload whose last execution failed.
    pub fn with_failed_job(mut self) -> Self {
        self.job_failed = true;
        self
    }

    /// The id Control Plane gives it (stable per GVC and name).
    pub fn id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.gvc.bytes().chain([b'/']).chain(self.name.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            h >> 32,
            (h >> 16) & 0xffff,
            h & 0xfff,
            (h >> 20) & 0xfff,
            h & 0xffff_ffff_ffff
        )
    }

    /// How many containers the engine should report for it: every container in every location
    /// (both versions during a rollout; one per job execution for cron).
    pub fn expected_containers(&self) -> usize {
        let per_location = match self.kind {
            WorkloadKind::Standard if self.rollout && !self.suspended => 2,
            WorkloadKind::Standard => 1,
            WorkloadKind::Cron => 2,
        };
        self.containers.len() * self.locations.len() * per_location
    }

    /// The workload as the listing shows it.
    pub(crate) fn item(&self, org: &str) -> Value {
        let base = format!("/org/{org}/gvc/{}/workload/{}", self.gvc, self.name);
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|(name, image)| json!({"name": name, "image": image, "cpu": "50m", "memory": "128Mi"}))
            .collect();
        let mut spec = json!({
            "type": match self.kind { WorkloadKind::Standard => "standard", WorkloadKind::Cron => "cron" },
            "containers": containers,
            "defaultOptions": {"suspend": self.suspended, "autoscaling": {"minScale": self.replicas, "maxScale": self.replicas}},
        });
        if self.kind == WorkloadKind::Cron {
            spec["job"] = json!({"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid"});
        }
        json!({
            "id": self.id(),
            "name": self.name,
            "kind": "workload",
            "version": self.version,
            "description": self.name,
            "tags": {},
            "created": "2026-08-01T10:00:00.000Z",
            "lastModified": "2026-08-26T16:28:02.412Z",
            "links": [
                {"rel": "self", "href": base},
                {"rel": "gvc", "href": format!("/org/{org}/gvc/{}", self.gvc)},
                {"rel": "deployment", "href": format!("{base}/deployment")},
            ],
            "spec": spec,
            "status": {"parentId": self.id(), "canonicalEndpoint": format!("https://{}.example.cpln.app", self.name)},
        })
    }

    fn container_status(
        &self,
        name: &str,
        image: &str,
        ready: bool,
        message: &str,
        replicas_ready: Option<u32>,
        replicas: u32,
    ) -> Value {
        let mut resources = json!({"replicas": replicas, "cpu": 50, "memory": 128});
        if let Some(r) = replicas_ready {
            resources["replicasReady"] = json!(r);
        }
        let mut status = json!({"name": name, "image": image, "ready": ready, "message": message, "resources": resources});
        if self.stale_message && ready {
            status["message"] = json!("Back-off restarting failed container");
            status["restarts"] = json!({"count": 3, "lastRestartTime": "2026-08-26T16:20:00.000Z", "exitCode": 137, "reason": "OOMKilled"});
        } else {
            status["restarts"] = json!({"count": 0});
        }
        status
    }

    /// The workload's deployments, one per location.
    pub(crate) fn deployments(&self, org: &str) -> Vec<Value> {
        self.locations
            .iter()
            .map(|location| {
                let suspended_here = self.suspended || self.suspended_locations.contains(location);
                let message = if self.suspended {
                    "Workload is suspended"
                } else if suspended_here {
                    "Location is suspended"
                } else {
                    ""
                };
                let v = self.version;
                let containers = |image_suffix: &str, ready: bool| -> Value {
                    let map: serde_json::Map<String, Value> = self
                        .containers
                        .iter()
                        .map(|(name, image)| {
                            let image = format!("{image}{image_suffix}");
                            let status = if suspended_here {
                                self.container_status(name, &image, false, message, None, 0)
                            } else {
                                let ready_replicas = if ready { self.replicas } else { 0 };
                                let msg = if ready { "" } else { "Waiting for replicas to be ready" };
                                self.container_status(name, &image, ready, msg, Some(ready_replicas), self.replicas)
                            };
                            (name.clone(), status)
                        })
                        .collect();
                    Value::Object(map)
                };
                let (versions, job_executions, last_processed) = match self.kind {
                    WorkloadKind::Cron => {
                        let execution = |n: u64, status: &str| {
                            json!({
                                "name": format!("{}-{n}", self.name),
                                "workloadVersion": v,
                                "status": status,
                                "startTime": "2026-08-26T16:25:00.000Z",
                                "completionTime": if status == "active" { Value::Null } else { json!("2026-08-26T16:25:30.000Z") },
                                "replica": format!("{}-{n}-abcde", self.name),
                                "containers": containers("", status != "failed"),
                            })
                        };
                        let last = if self.job_failed { "failed" } else { "successful" };
                        (json!([]), json!([execution(1, "successful"), execution(2, last)]), v)
                    }
                    WorkloadKind::Standard if self.rollout && !suspended_here => (
                        json!([
                            {"workload": v, "created": "2026-08-26T16:28:02.412Z", "ready": false, "message": "Rolling out", "containers": containers("-next", false)},
                            {"workload": v - 1, "created": "2026-08-20T09:00:00.000Z", "ready": true, "message": "", "containers": containers("", true)},
                        ]),
                        json!([]),
                        v - 1,
                    ),
                    WorkloadKind::Standard => (
                        json!([{"workload": v, "created": "2026-08-26T16:28:02.412Z", "ready": !suspended_here, "message": message, "containers": containers("", !suspended_here)}]),
                        json!([]),
                        v,
                    ),
                };
                json!({
                    "name": location,
                    "kind": "deployment",
                    "lastModified": "2026-08-26T16:29:19.450Z",
                    "links": [{"rel": "self", "href": format!("/org/{org}/gvc/{}/workload/{}/deployment/{location}", self.gvc, self.name)}],
                    "status": {
                        "endpoint": format!("https://{}-{location}.example.cpln.app/", self.name),
                        "remote": format!("https://remote.{location}.example.cpln.app"),
                        "ready": !suspended_here,
                        "deploying": self.rollout && !suspended_here,
                        "message": message,
                        "lastProcessedVersion": last_processed,
                        "expectedDeploymentVersion": v,
                        "versions": versions,
                        "jobExecutions": job_executions,
                        "internal": {},
                    },
                })
            })
            .collect()
    }
}

/// What a workload's deployment path answers instead of its deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The first `times` requests get 429 "slow down", with `Retry-After: <seconds>` when set.
    Throttle {
        /// How many requests are refused before one succeeds.
        times: u32,
        /// The `Retry-After` header, whole seconds.
        retry_after_s: Option<u32>,
    },
    /// 429 whose body says the quota is exceeded (every request).
    Quota,
    /// 403 (Control Plane's "not found or not allowed").
    Forbidden,
    /// 404.
    Missing,
    /// 500 / 503.
    ServerError(u16),
}

/// The fixture's configuration.
#[derive(Debug, Clone)]
pub struct FixtureSpec {
    /// The org served.
    pub org: String,
    /// The token clients must send (`Authorization: Bearer T` or the raw token).
    pub token: String,
    /// Workloads per listing page.
    pub page_size: usize,
    /// Latency added to every request.
    pub latency: Duration,
    /// The workloads, in listing order.
    pub workloads: Vec<Workload>,
    /// Faults per workload name.
    pub faults: BTreeMap<String, Fault>,
}

impl FixtureSpec {
    /// An org with no workloads, token `test-token`, pages of 100, no latency.
    pub fn new(org: &str) -> Self {
        Self {
            org: org.to_owned(),
            token: "test-token".to_owned(),
            page_size: 100,
            latency: Duration::ZERO,
            workloads: Vec::new(),
            faults: BTreeMap::new(),
        }
    }

    /// Adds a workload.
    pub fn with_workload(mut self, workload: Workload) -> Self {
        self.workloads.push(workload);
        self
    }

    /// Listing pages of this size.
    pub fn with_page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Latency per request.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// A fault on a workload's deployments.
    pub fn with_fault(mut self, workload: &str, fault: Fault) -> Self {
        self.faults.insert(workload.to_owned(), fault);
        self
    }

    /// `n` standard workloads `w0000`… in `gvc`, each with one container.
    pub fn with_many(mut self, gvc: &str, n: usize) -> Self {
        for i in 0..n {
            self.workloads
                .push(Workload::standard(gvc, &format!("w{i:04}"), "nginx:1.27"));
        }
        self
    }
}
