//! Swarm nodes as the contract's workers (`node-info`).

use serde_json::Value;
use windlass_plugin_sdk::types::{NodeAvailability, NodeInfo, NodeRole};

use crate::docker::{at, labels_of, str_at, u64_at};

pub(crate) fn availability_name(a: NodeAvailability) -> &'static str {
    match a {
        NodeAvailability::Active => "active",
        NodeAvailability::Pause => "pause",
        NodeAvailability::Drain => "drain",
    }
}

/// A node object (`GET /nodes`) with the number of tasks running on it.
pub(crate) fn node_info(node: &Value, running_tasks: u32) -> NodeInfo {
    let role = match str_at(node, &["Spec", "Role"]) {
        Some("manager") => NodeRole::Manager,
        _ => NodeRole::Worker,
    };
    let availability = match str_at(node, &["Spec", "Availability"]) {
        Some("drain") => NodeAvailability::Drain,
        Some("pause") => NodeAvailability::Pause,
        _ => NodeAvailability::Active,
    };
    let status = match str_at(node, &["Status", "State"]) {
        Some(s @ ("ready" | "down")) => s.to_string(),
        _ => "unknown".to_string(),
    };
    NodeInfo {
        id: str_at(node, &["ID"]).unwrap_or_default().to_string(),
        hostname: str_at(node, &["Description", "Hostname"])
            .unwrap_or_default()
            .to_string(),
        role,
        status,
        availability,
        address: str_at(node, &["Status", "Addr"])
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        cpu_millis: u64_at(node, &["Description", "Resources", "NanoCPUs"]) / 1_000_000,
        memory_bytes: u64_at(node, &["Description", "Resources", "MemoryBytes"]),
        running_tasks,
        labels: labels_of(at(node, &["Spec", "Labels"])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_a_node() {
        let n = json!({"ID": "abc", "Description": {"Hostname": "vm", "Resources": {"NanoCPUs": 2_000_000_000_u64, "MemoryBytes": 1024}},
            "Spec": {"Role": "manager", "Availability": "drain", "Labels": {"windlass.harness": "n1"}},
            "Status": {"State": "ready", "Addr": "10.210.0.11"}});
        let i = node_info(&n, 2);
        assert_eq!(i.role, NodeRole::Manager);
        assert_eq!(i.availability, NodeAvailability::Drain);
        assert_eq!(
            (
                i.status.as_str(),
                i.cpu_millis,
                i.memory_bytes,
                i.running_tasks
            ),
            ("ready", 2000, 1024, 2)
        );
        assert_eq!(i.address.as_deref(), Some("10.210.0.11"));
        assert_eq!(i.labels, vec![("windlass.harness".into(), "n1".into())]);
        let down = node_info(&json!({"Status": {"State": "disconnected"}}), 0);
        assert_eq!(
            (down.status.as_str(), down.role),
            ("unknown", NodeRole::Worker)
        );
    }
}
