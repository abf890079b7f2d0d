//! Where the engine's containers on a target run, and the `container-migrated` event when the
//! platform's scheduler moves one to another worker (a drained or failed worker's tasks).
//!
//! A container here is a replica slot as the adapter's inventory reports it (`list-groups`,
//! then `list-group-containers`: one container per slot, the slot's current task): the same
//! name with a new container on another worker is a move. A new container on the same worker
//! is a restart (the inventory's concern), and a slot not placed yet keeps its last worker until
//! it is. A slot that is missing while its group is still there keeps its last worker too: in
//! a drain, Swarm shuts the old task down before it creates the slot's new one, so for a poll
//! or two the slot has no task meant to run. A group that is gone (the service removed) is
//! forgotten with its slots, without an event.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use crate::NewEvent;

/// One replica slot as seen now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotSeen {
    /// The group (the platform's service) it belongs to.
    pub group: String,
    /// The slot's name (`service.slot` on Swarm).
    pub name: String,
    /// The container (or task) now in the slot.
    pub container_id: String,
    /// The worker it runs on; none while the platform has not placed it.
    pub worker: Option<String>,
    /// The org, stack and service it belongs to (the engine's labels).
    pub org: Option<String>,
    pub stack: Option<String>,
    pub service: Option<String>,
}

#[derive(Debug, Clone)]
struct Placed {
    group: String,
    container_id: String,
    worker: String,
}

/// Every target's slots, where they last ran.
#[derive(Debug, Default)]
pub(crate) struct Placements {
    slots: HashMap<(String, String), Placed>,
    looked: HashSet<String>,
}

impl Placements {
    /// Takes in `target`'s slots and returns a `container-migrated` event per slot whose new
    /// container runs on another worker than its last one. `groups` are the target's groups
    /// now, `hostnames` names the workers.
    pub(crate) fn observe(
        &mut self,
        target: &str,
        groups: &HashSet<String>,
        seen: &[SlotSeen],
        hostnames: &HashMap<String, String>,
    ) -> Vec<NewEvent> {
        self.looked.insert(target.to_owned());
        let mut events = Vec::new();
        for slot in seen {
            let key = (target.to_owned(), slot.name.clone());
            let Some(worker) = &slot.worker else {
                continue;
            };
            if let Some(before) = self.slots.get(&key)
                && &before.worker != worker
                && before.container_id != slot.container_id
            {
                let mut event = NewEvent::new("container-migrated")
                    .with_container(slot.name.clone())
                    .with_payload(json!({
                        "target": target,
                        "from_worker": before.worker,
                        "from_hostname": hostnames.get(&before.worker),
                        "to_worker": worker,
                        "to_hostname": hostnames.get(worker),
                        "from_container": before.container_id,
                        "to_container": slot.container_id,
                    }));
                if let Some(org) = &slot.org {
                    event = event.with_org(org.clone());
                }
                if let Some(stack) = &slot.stack {
                    event = event.with_stack(stack.clone());
                }
                if let Some(service) = &slot.service {
                    event = event.with_service(service.clone());
                }
                events.push(event);
            }
            self.slots.insert(
                key,
                Placed {
                    group: slot.group.clone(),
                    container_id: slot.container_id.clone(),
                    worker: worker.clone(),
                },
            );
        }
        self.slots
            .retain(|(t, _), placed| t != target || groups.contains(&placed.group));
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(name: &str, container: &str, worker: Option<&str>) -> SlotSeen {
        SlotSeen {
            group: "web".into(),
            name: name.into(),
            container_id: container.into(),
            worker: worker.map(str::to_owned),
            org: Some("acme".into()),
            stack: Some("shop".into()),
            service: Some("web".into()),
        }
    }

    #[test]
    fn a_slot_whose_new_container_runs_elsewhere_migrated() {
        let hosts: HashMap<String, String> = [("n1", "a"), ("n2", "b"), ("n3", "c")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut p = Placements::default();
        let web: HashSet<String> = HashSet::from(["web".to_owned()]);
        let first = [
            slot("web.1", "c1", Some("n1")),
            slot("web.2", "c2", Some("n2")),
        ];
        assert!(p.observe("swarm", &web, &first, &hosts).is_empty());
        // A restart in place is no move; a slot not placed yet waits; so does a slot missing
        // for a while (a drain shuts its old task down before it creates the new one).
        let later = [slot("web.1", "c1b", Some("n1")), slot("web.2", "c2b", None)];
        assert!(p.observe("swarm", &web, &later, &hosts).is_empty());
        assert!(p.observe("swarm", &web, &later[..1], &hosts).is_empty());
        // Placed on another worker: one event, with both ends.
        let moved = [
            slot("web.1", "c1b", Some("n1")),
            slot("web.2", "c2b", Some("n3")),
        ];
        let events = p.observe("swarm", &web, &moved, &hosts);
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(
            (
                e.kind.as_str(),
                e.container.as_deref(),
                e.service.as_deref()
            ),
            ("container-migrated", Some("web.2"), Some("web"))
        );
        assert_eq!(e.payload["from_worker"], "n2");
        assert_eq!(e.payload["to_worker"], "n3");
        assert_eq!(e.payload["to_hostname"], "c");
        assert_eq!(e.payload["from_container"], "c2");
        assert_eq!(e.payload["to_container"], "c2b");
        // Reported once.
        assert!(p.observe("swarm", &web, &moved, &hosts).is_empty());
        // A group that is gone is forgotten: deployed again elsewhere, it is new, not a move.
        assert!(p.observe("swarm", &HashSet::new(), &[], &hosts).is_empty());
        let again = [slot("web.2", "c2c", Some("n1"))];
        assert!(p.observe("swarm", &web, &again, &hosts).is_empty());
        // Another target's slots of the same name are apart.
        let other = [slot("web.2", "x", Some("n9"))];
        assert!(p.observe("other", &web, &other, &hosts).is_empty());
        assert!(p.observe("swarm", &web, &again, &hosts).is_empty());
    }
}
