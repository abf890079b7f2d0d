//! Deployments → containers: every container of every version in every location, and for cron
//! workloads every container of every job execution.

use windlass_plugin_sdk::types::{ContainerInfo, RestartInfo};

use crate::model::{ContainerStatus, Deployment};

/// Where the containers were read from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// The org.
    pub org: &'a str,
    /// The GVC.
    pub gvc: &'a str,
    /// The workload.
    pub workload: &'a str,
    /// Whether the workload is suspended.
    pub suspended: bool,
}

/// Milliseconds since the Unix epoch of an RFC 3339 time, if it parses.
pub fn epoch_ms(time: Option<&str>) -> Option<u64> {
    let ts: jiff::Timestamp = time?.parse().ok()?;
    u64::try_from(ts.as_millisecond()).ok()
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty()).cloned()
}

/// The containers of one workload's deployments.
pub fn containers(origin: &Origin<'_>, deployments: &[Deployment]) -> Vec<ContainerInfo> {
    let mut out = Vec::new();
    for deployment in deployments {
        let Some(status) = &deployment.status else {
            continue;
        };
        let location = deployment.name.as_str();
        let location_message = non_empty(status.message.as_ref());
        let location_down = status.ready == Some(false);
        let expected = status
            .expected_deployment_version
            .or(status.last_processed_version);
        for version in &status.versions {
            let current = match (version.workload, expected) {
                (Some(v), Some(e)) => Some(v == e),
                _ => None,
            };
            for (key, c) in &version.containers {
                let ready = c.ready.or(version.ready);
                // A location that is down says why (suspended, not ready) when the container
                // does not.
                let message = non_empty(c.message.as_ref())
                    .or_else(|| non_empty(version.message.as_ref()))
                    .or_else(|| location_down.then(|| location_message.clone()).flatten());
                let id = format!(
                    "{}/{}/{location}/{key}@{}",
                    origin.gvc,
                    origin.workload,
                    version.workload.unwrap_or(0)
                );
                out.push(container(
                    origin,
                    location,
                    key,
                    c,
                    Fields {
                        id,
                        ready,
                        message,
                        created_ms: epoch_ms(version.created.as_deref()).unwrap_or(0),
                        version: version.workload.map(|v| v.to_string()),
                        current_version: current,
                        job_status: None,
                    },
                ));
            }
        }
        for job in &status.job_executions {
            let execution = job.name.clone().unwrap_or_default();
            for (key, c) in &job.containers {
                let id = format!(
                    "{}/{}/{location}/{key}/{execution}",
                    origin.gvc, origin.workload
                );
                let current = match (job.workload_version, expected) {
                    (Some(v), Some(e)) => Some(v == e),
                    _ => None,
                };
                out.push(container(
                    origin,
                    location,
                    key,
                    c,
                    Fields {
                        id,
                        ready: c.ready,
                        message: non_empty(c.message.as_ref()),
                        created_ms: epoch_ms(job.start_time.as_deref()).unwrap_or(0),
                        version: job.workload_version.map(|v| v.to_string()),
                        current_version: current,
                        job_status: job.status.clone(),
                    },
                ));
            }
        }
    }
    out
}

/// What differs between a version's container and a job's.
struct Fields {
    id: String,
    ready: Option<bool>,
    message: Option<String>,
    created_ms: u64,
    version: Option<String>,
    current_version: Option<bool>,
    job_status: Option<String>,
}

fn container(
    origin: &Origin<'_>,
    location: &str,
    key: &str,
    c: &ContainerStatus,
    f: Fields,
) -> ContainerInfo {
    let resources = c.resources.as_ref();
    let suspended = origin.suspended
        || f.message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("suspend"));
    let state = match (&f.job_status, f.ready) {
        (Some(job), _) => job.clone(),
        (None, Some(true)) => "running".to_owned(),
        (None, _) if suspended => "suspended".to_owned(),
        (None, _) => "not-ready".to_owned(),
    };
    ContainerInfo {
        id: f.id,
        name: c.name.clone().unwrap_or_else(|| key.to_owned()),
        image: c.image.clone().unwrap_or_default(),
        state,
        labels: vec![
            ("cpln.io/workload".to_owned(), origin.workload.to_owned()),
            ("cpln.io/location".to_owned(), location.to_owned()),
        ],
        created_ms: f.created_ms,
        org: Some(origin.org.to_owned()),
        scope: Some(origin.gvc.to_owned()),
        group: Some(origin.workload.to_owned()),
        location: Some(location.to_owned()),
        ready: f.ready,
        message: f.message,
        replicas: resources.and_then(|r| r.replicas),
        replicas_ready: resources.and_then(|r| r.replicas_ready),
        cpu_millis: resources.and_then(|r| r.cpu),
        memory_bytes: resources
            .and_then(|r| r.memory)
            .map(|mib| mib.saturating_mul(1 << 20)),
        restarts: c.restarts.as_ref().map(|r| RestartInfo {
            count: r.count.unwrap_or(0),
            last_ms: epoch_ms(r.last_restart_time.as_deref()),
            exit_code: r.exit_code,
            reason: non_empty(r.reason.as_ref()),
        }),
        version: f.version,
        current_version: f.current_version,
        job_status: f.job_status,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::List;

    const ORIGIN: Origin<'static> = Origin {
        org: "acme",
        gvc: "prod",
        workload: "web",
        suspended: false,
    };

    fn parse(json: &str) -> Vec<Deployment> {
        serde_json::from_str::<List<Deployment>>(json)
            .unwrap()
            .items
    }

    #[test]
    fn a_rollout_has_both_versions_and_marks_the_current_one() {
        let d = parse(
            r#"{"kind":"list","items":[{"name":"aws-us-west-2","status":{
            "ready":true,"lastProcessedVersion":2,"expectedDeploymentVersion":3,
            "versions":[
              {"workload":3,"ready":false,"containers":{"main":{"name":"main","image":"nginx:2","ready":false,"message":"Waiting","resources":{"replicas":2,"replicasReady":0,"cpu":50,"memory":128}}}},
              {"workload":2,"created":"2026-08-20T09:00:00.000Z","ready":true,"containers":{"main":{"name":"main","image":"nginx:1","ready":true,"message":"","resources":{"replicas":2,"replicasReady":2,"cpu":50,"memory":128},"restarts":{"count":1,"lastRestartTime":"2026-08-26T16:20:00Z","exitCode":137,"reason":"OOMKilled"}}}}
            ]}}]}"#,
        );
        let c = containers(&ORIGIN, &d);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].current_version, Some(true));
        assert_eq!(c[0].state, "not-ready");
        assert_eq!(c[1].current_version, Some(false));
        assert_eq!(c[1].version.as_deref(), Some("2"));
        assert_eq!(c[1].memory_bytes, Some(128 << 20));
        assert_eq!(c[1].message, None);
        let restarts = c[1].restarts.clone().unwrap();
        assert_eq!((restarts.count, restarts.exit_code), (1, Some(137)));
        assert_eq!(restarts.last_ms, Some(1_787_761_200_000));
        assert_eq!(c[1].created_ms, 1_787_216_400_000);
    }

    #[test]
    fn suspended_without_replicas_ready_is_not_a_failure_shape() {
        let d = parse(
            r#"{"items":[{"name":"gcp-us-east1","status":{"ready":false,"message":"Workload is suspended",
            "versions":[{"workload":3,"ready":false,"containers":{"main":{"image":"nginx:1","ready":false,"resources":{"replicas":0,"cpu":50,"memory":128}}}}]}}]}"#,
        );
        let c = containers(
            &Origin {
                suspended: true,
                ..ORIGIN
            },
            &d,
        );
        assert_eq!(c[0].state, "suspended");
        assert_eq!(c[0].replicas_ready, None);
        assert_eq!(c[0].message.as_deref(), Some("Workload is suspended"));
        assert_eq!(c[0].name, "main");
    }

    #[test]
    fn cron_containers_come_from_job_executions() {
        let d = parse(
            r#"{"items":[{"name":"aws-us-west-2","status":{"expectedDeploymentVersion":3,"versions":[],
            "jobExecutions":[{"name":"n-1","workloadVersion":3,"status":"failed","startTime":"2026-08-26T16:25:00Z","containers":{"job":{"image":"busybox","ready":false}}}]}}]}"#,
        );
        let c = containers(&ORIGIN, &d);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].job_status.as_deref(), Some("failed"));
        assert_eq!(c[0].state, "failed");
        assert_eq!(c[0].id, "prod/web/aws-us-west-2/job/n-1");
    }
}
