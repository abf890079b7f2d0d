//! Service and task JSON as a `deployment-status` and `container-info`s.

use serde_json::Value;
use windlass_plugin_sdk::types::{
    ContainerInfo, DeploymentPhase, DeploymentRef, DeploymentStatus, TaskInfo,
};

use crate::docker::{at, labels_of, ms_of, str_at, u64_at};

/// One task as the contract's `task-info`.
pub(crate) fn task_info(task: &Value) -> TaskInfo {
    let message = str_at(task, &["Status", "Err"])
        .filter(|s| !s.is_empty())
        .or_else(|| str_at(task, &["Status", "Message"]).filter(|s| !s.is_empty()))
        .map(str::to_string);
    TaskInfo {
        id: str_at(task, &["ID"]).unwrap_or_default().to_string(),
        node_id: str_at(task, &["NodeID"])
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        state: str_at(task, &["Status", "State"])
            .unwrap_or("unknown")
            .to_string(),
        desired_state: str_at(task, &["DesiredState"])
            .unwrap_or("unknown")
            .to_string(),
        message,
        container_id: str_at(task, &["Status", "ContainerStatus", "ContainerID"])
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        updated_ms: ms_of(str_at(task, &["Status", "Timestamp"])),
    }
}

/// The status of `service` (an Engine API service object) with its `tasks`.
pub(crate) fn deployment_status(
    deployment: DeploymentRef,
    service: &Value,
    tasks: &[Value],
) -> DeploymentStatus {
    let desired = u32::try_from(u64_at(service, &["Spec", "Mode", "Replicated", "Replicas"]))
        .unwrap_or(u32::MAX);
    // A replica is a slot with a running task. Under start-first updates with a restart
    // policy, Swarm's updater and its restart supervisor can both fill one slot and leave two
    // tasks running in it after the update (moby/swarmkit#2242, moby/moby#41804): that is one
    // replica and a surplus task, not one replica too many.
    let mut running_slots: Vec<(u64, &str)> = tasks
        .iter()
        .filter(|t| {
            str_at(t, &["Status", "State"]) == Some("running")
                && str_at(t, &["DesiredState"]) == Some("running")
        })
        .map(|t| {
            (
                u64_at(t, &["Slot"]),
                str_at(t, &["NodeID"]).unwrap_or_default(),
            )
        })
        .collect();
    let running_tasks = running_slots.len();
    running_slots.sort_unstable();
    // Replicated tasks are told apart by slot; a global service's (slot 0) by node.
    running_slots.dedup_by(|a, b| a.0 == b.0 && (a.0 != 0 || a.1 == b.1));
    let surplus = running_tasks - running_slots.len();
    let running = u32::try_from(running_slots.len()).unwrap_or(u32::MAX);
    let tasks: Vec<TaskInfo> = tasks.iter().map(task_info).collect();
    let update_state = str_at(service, &["UpdateStatus", "State"])
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let update_message = str_at(service, &["UpdateStatus", "Message"]).filter(|s| !s.is_empty());
    let phase = match update_state.as_deref() {
        Some("updating") => DeploymentPhase::Updating,
        Some("rollback_started") => DeploymentPhase::RollingBack,
        Some("paused" | "rollback_paused") => DeploymentPhase::Failed,
        _ if running >= desired => DeploymentPhase::Running,
        _ if running > 0 => DeploymentPhase::Degraded,
        _ => DeploymentPhase::Pending,
    };
    let surplus = (surplus > 0).then(|| {
        format!(
            "{surplus} surplus task(s) running in a slot that already has one \\
             (Swarm's updater and restart supervisor raced; the next update removes them)"
        )
    });
    let message = update_message.map(str::to_string).or_else(|| {
        // The newest task error explains a service that does not come up.
        tasks
            .iter()
            .filter(|t| t.desired_state == "running" && t.state != "running")
            .filter_map(|t| t.message.clone().map(|m| (t.updated_ms, m)))
            .max()
            .map(|(_, m)| m)
    });
    let message = match (message, surplus) {
        (Some(m), Some(s)) => Some(format!("{m}; {s}")),
        (m, s) => m.or(s),
    };
    DeploymentStatus {
        deployment,
        phase,
        desired_replicas: desired,
        running_replicas: running,
        message,
        update_state,
        tasks,
    }
}

/// A task of `service` as a container (what `list-containers` returns): id is the container's
/// (the task's while it has none), name `{service}.{slot}`, location its node id.
pub(crate) fn container_info(service: &Value, task: &Value) -> ContainerInfo {
    let name = str_at(service, &["Spec", "Name"]).unwrap_or_default();
    let slot = u64_at(task, &["Slot"]);
    let info = task_info(task);
    let labels = labels_of(at(service, &["Spec", "Labels"]));
    let label = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let desired = u32::try_from(u64_at(service, &["Spec", "Mode", "Replicated", "Replicas"])).ok();
    let cpu = u64_at(
        service,
        &["Spec", "TaskTemplate", "Resources", "Limits", "NanoCPUs"],
    ) / 1_000_000;
    let memory = u64_at(
        service,
        &["Spec", "TaskTemplate", "Resources", "Limits", "MemoryBytes"],
    );
    ContainerInfo {
        id: info.container_id.clone().unwrap_or_else(|| info.id.clone()),
        name: format!("{name}.{slot}"),
        image: str_at(task, &["Spec", "ContainerSpec", "Image"])
            .unwrap_or_default()
            .to_string(),
        state: info.state.clone(),
        labels: labels.clone(),
        created_ms: ms_of(str_at(task, &["CreatedAt"])),
        org: label("dev.windlass.org"),
        scope: label("dev.windlass.stack"),
        group: Some(name.to_string()),
        location: info.node_id.clone(),
        ready: Some(info.state == "running"),
        message: info.message.clone(),
        replicas: desired,
        replicas_ready: None,
        cpu_millis: (cpu > 0).then(|| u32::try_from(cpu).unwrap_or(u32::MAX)),
        memory_bytes: (memory > 0).then_some(memory),
        restarts: None,
        version: None,
        current_version: None,
        job_status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(state: &str, desired: &str, err: &str) -> Value {
        task_in(2, state, desired, err)
    }

    fn task_in(slot: u64, state: &str, desired: &str, err: &str) -> Value {
        json!({
            "ID": format!("t{slot}"), "NodeID": "n1", "Slot": slot, "DesiredState": desired,
            "CreatedAt": "2026-01-01T00:00:00Z",
            "Spec": {"ContainerSpec": {"Image": "img"}},
            "Status": {"State": state, "Err": err, "Timestamp": "2026-01-01T00:00:01Z",
                       "ContainerStatus": {"ContainerID": "c1"}},
        })
    }

    fn service(replicas: u64, update: Option<&str>) -> Value {
        let mut s = json!({"ID": "s1", "Spec": {"Name": "acme-shop-web",
            "Labels": {"dev.windlass.org": "acme", "dev.windlass.stack": "shop"},
            "Mode": {"Replicated": {"Replicas": replicas}}}});
        if let Some(u) = update {
            s["UpdateStatus"] = json!({"State": u, "Message": "update rolled back"});
        }
        s
    }

    fn r() -> DeploymentRef {
        DeploymentRef::new("s1", "acme-shop-web")
    }

    #[test]
    fn phases() {
        let running = task("running", "running", "");
        let failed = task("failed", "running", "task: non-zero exit (1)");
        let other = task_in(1, "running", "running", "");
        let s = deployment_status(r(), &service(2, None), &[running.clone(), other.clone()]);
        assert_eq!(
            (s.phase, s.running_replicas, s.desired_replicas),
            (DeploymentPhase::Running, 2, 2)
        );
        assert_eq!(s.message, None);
        // Two tasks running in slot 2 after a rollback: two replicas and a surplus task.
        let s = deployment_status(
            r(),
            &service(2, Some("rollback_completed")),
            &[running.clone(), other, running.clone()],
        );
        assert_eq!((s.running_replicas, s.tasks.len()), (2, 3));
        let m = s.message.unwrap();
        assert!(
            m.starts_with("update rolled back; 1 surplus task(s)"),
            "{m}"
        );
        let s = deployment_status(r(), &service(2, None), &[running.clone(), failed.clone()]);
        assert_eq!(s.phase, DeploymentPhase::Degraded);
        assert_eq!(s.message.as_deref(), Some("task: non-zero exit (1)"));
        let s = deployment_status(r(), &service(2, None), std::slice::from_ref(&failed));
        assert_eq!(s.phase, DeploymentPhase::Pending);
        let s = deployment_status(r(), &service(2, Some("rollback_started")), &[]);
        assert_eq!(s.phase, DeploymentPhase::RollingBack);
        let s = deployment_status(
            r(),
            &service(1, Some("rollback_completed")),
            std::slice::from_ref(&running),
        );
        assert_eq!(s.phase, DeploymentPhase::Running);
        assert_eq!(s.update_state.as_deref(), Some("rollback_completed"));
        let s = deployment_status(r(), &service(1, Some("updating")), &[running]);
        assert_eq!(s.phase, DeploymentPhase::Updating);
        assert_eq!(s.tasks[0].node_id.as_deref(), Some("n1"));
        assert_eq!(s.tasks[0].container_id.as_deref(), Some("c1"));
    }

    #[test]
    fn containers() {
        let c = container_info(&service(3, None), &task("running", "running", ""));
        assert_eq!(c.id, "c1");
        assert_eq!(c.name, "acme-shop-web.2");
        assert_eq!(c.location.as_deref(), Some("n1"));
        assert_eq!(c.org.as_deref(), Some("acme"));
        assert_eq!(c.scope.as_deref(), Some("shop"));
        assert_eq!(c.replicas, Some(3));
        assert_eq!(c.ready, Some(true));
    }
}
