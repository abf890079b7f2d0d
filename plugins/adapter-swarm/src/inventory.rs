//! The inventory on a swarm: a group is one of the engine's services (all in one page: the
//! manager answers `GET /services` whole), its containers the current run of each of the
//! service's slots (one per node for a global service), with the earlier runs Swarm keeps per
//! slot (its task history, 5 by default) as that container's restarts.

use serde_json::Value;
use windlass_plugin_sdk::types::{AdapterError, ContainerInfo, Group, GroupPage, RestartInfo};

use crate::client::Swarm;
use crate::docker::{Transport, at, enc, labels_of, ms_of, str_at, u64_at};
use crate::status::container_info;

impl<T: Transport> Swarm<T> {
    /// The engine's services in `scope` (a stack; none: every stack).
    pub fn list_groups(&self, scope: Option<&str>) -> Result<GroupPage, AdapterError> {
        let labels: Vec<(String, String)> = scope
            .map(|s| vec![("dev.windlass.stack".to_owned(), s.to_owned())])
            .unwrap_or_default();
        let mut groups: Vec<Group> = self
            .services_labelled(&labels)?
            .iter()
            .map(group_of)
            .collect();
        groups.sort_by(|a, b| (&a.scope, &a.name).cmp(&(&b.scope, &b.name)));
        Ok(GroupPage {
            groups,
            next_cursor: None,
        })
    }

    /// The current run of each slot of the group's service.
    pub fn list_group_containers(&self, group: &Group) -> Result<Vec<ContainerInfo>, AdapterError> {
        let service = self.d().get(&format!("/services/{}", enc(&group.id)))?;
        let tasks = self.tasks(&group.id)?;
        Ok(slot_containers(&service, &tasks))
    }
}

/// A service as a group: its id and name, its stack, `replicated` or `global`, suspended when
/// scaled to zero.
pub(crate) fn group_of(service: &Value) -> Group {
    let labels = labels_of(at(service, &["Spec", "Labels"]));
    let stack = labels
        .iter()
        .find(|(k, _)| k == "dev.windlass.stack")
        .map(|(_, v)| v.clone());
    let replicated = at(service, &["Spec", "Mode", "Replicated"]).is_some();
    Group {
        id: str_at(service, &["ID"]).unwrap_or_default().to_owned(),
        name: str_at(service, &["Spec", "Name"])
            .unwrap_or_default()
            .to_owned(),
        scope: stack.unwrap_or_default(),
        kind: if replicated { "replicated" } else { "global" }.to_owned(),
        suspended: replicated && u64_at(service, &["Spec", "Mode", "Replicated", "Replicas"]) == 0,
    }
}

/// Where a task runs: its slot (replicated), or its node (global).
fn slot_of(task: &Value) -> String {
    match u64_at(task, &["Slot"]) {
        0 => str_at(task, &["NodeID"]).unwrap_or_default().to_owned(),
        slot => slot.to_string(),
    }
}

fn updated_ms(task: &Value) -> u64 {
    ms_of(str_at(task, &["Status", "Timestamp"]))
}

/// One container per slot that Swarm still wants running: its newest task meant to run, with
/// the slot's older tasks as its restarts (newest first: the last one's time, exit code and
/// error). Slots left by a scale-down (no task meant to run) are not containers any more.
pub(crate) fn slot_containers(service: &Value, tasks: &[Value]) -> Vec<ContainerInfo> {
    let mut slots: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for task in tasks {
        slots.entry(slot_of(task)).or_default().push(task);
    }
    let mut out = Vec::new();
    for mut runs in slots.into_values() {
        runs.sort_by_key(|t| std::cmp::Reverse(updated_ms(t)));
        let Some(current) = runs
            .iter()
            .position(|t| str_at(t, &["DesiredState"]) == Some("running"))
        else {
            continue;
        };
        let task = runs.remove(current);
        let earlier: Vec<&Value> = runs
            .into_iter()
            .filter(|t| updated_ms(t) <= updated_ms(task))
            .collect();
        let mut c = container_info(service, task);
        c.restarts = Some(match earlier.first() {
            None => RestartInfo {
                count: 0,
                last_ms: None,
                exit_code: None,
                reason: None,
            },
            Some(last) => RestartInfo {
                count: u32::try_from(earlier.len()).unwrap_or(u32::MAX),
                last_ms: Some(updated_ms(task)).filter(|ms| *ms > 0),
                exit_code: at(last, &["Status", "ContainerStatus", "ExitCode"])
                    .and_then(Value::as_i64)
                    .and_then(|c| i32::try_from(c).ok()),
                reason: str_at(last, &["Status", "Err"])
                    .filter(|e| !e.is_empty())
                    .or_else(|| str_at(last, &["Status", "State"]))
                    .map(str::to_owned),
            },
        });
        out.push(c);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(id: &str, slot: u64, desired: &str, state: &str, at: &str, exit: i64) -> Value {
        json!({
            "ID": id, "NodeID": "n1", "Slot": slot, "DesiredState": desired,
            "CreatedAt": at, "Spec": {"ContainerSpec": {"Image": "img"}},
            "Status": {"State": state, "Timestamp": at,
                       "Err": if exit == 0 { "" } else { "task: non-zero exit (1)" },
                       "ContainerStatus": {"ContainerID": format!("c-{id}"), "ExitCode": exit}},
        })
    }

    fn service(replicas: u64) -> Value {
        json!({"ID": "s1", "Spec": {"Name": "acme-shop-web",
            "Labels": {"dev.windlass.org": "acme", "dev.windlass.stack": "shop"},
            "Mode": {"Replicated": {"Replicas": replicas}}}})
    }

    #[test]
    fn services_are_groups() {
        let g = group_of(&service(2));
        assert_eq!(
            (
                g.id.as_str(),
                g.name.as_str(),
                g.scope.as_str(),
                g.kind.as_str()
            ),
            ("s1", "acme-shop-web", "shop", "replicated")
        );
        assert!(!g.suspended);
        assert!(group_of(&service(0)).suspended);
        let global = json!({"ID": "s2", "Spec": {"Name": "agent", "Mode": {"Global": {}}}});
        assert_eq!(group_of(&global).kind, "global");
        assert!(!group_of(&global).suspended);
    }

    #[test]
    fn one_container_per_slot_with_its_history_as_restarts() {
        let tasks = [
            // Slot 1 failed twice before its current run.
            task("a", 1, "shutdown", "failed", "2026-01-01T00:00:01Z", 1),
            task("b", 1, "shutdown", "failed", "2026-01-01T00:00:02Z", 137),
            task("c", 1, "running", "running", "2026-01-01T00:00:03Z", 0),
            // Slot 2 runs its first task.
            task("d", 2, "running", "running", "2026-01-01T00:00:01Z", 0),
            // Slot 3 was scaled away.
            task("e", 3, "shutdown", "shutdown", "2026-01-01T00:00:01Z", 0),
        ];
        let found = slot_containers(&service(2), &tasks);
        let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["acme-shop-web.1", "acme-shop-web.2"]);
        assert_eq!(found[0].id, "c-c");
        let restarts = found[0].restarts.clone().unwrap();
        assert_eq!(restarts.count, 2);
        assert_eq!(restarts.exit_code, Some(137));
        assert_eq!(restarts.reason.as_deref(), Some("task: non-zero exit (1)"));
        assert_eq!(restarts.last_ms, Some(1_767_225_603_000));
        assert_eq!(found[1].restarts.clone().unwrap().count, 0);
        assert_eq!(found[1].ready, Some(true));
    }
}
