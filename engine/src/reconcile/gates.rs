//! Dependency gates: whether the services a service depends on have reached the condition it
//! waits for (`started`, `healthy`, `completed`).
//!
//! A gate only holds back the *first* start of a slot — creating a container that does not exist
//! yet. Running containers are never stopped because a dependency went down (Compose does the
//! same), and restarts by the restart policy are not gated: a crash loop waiting on a dependency
//! would only hide the crash. Independent services are never gated, so they start in parallel.

use std::collections::HashMap;

use crate::lifecycle::ContainerState;
use crate::naming::container_name;
use crate::runtime::{ContainerStatus, ContainerSummary};
use crate::stacks::Condition;
use crate::store::ContainerRecord;
use crate::{DesiredService, ServiceSpec};

/// `(org, stack, service)`.
type Key = (String, String, String);

/// What each service's replicas have reached.
#[derive(Debug, Clone, Copy, Default)]
struct Reached {
    started: bool,
    healthy: bool,
    completed: bool,
}

/// The unmet dependencies of every gated service, as `service (condition)` strings.
pub(crate) fn unmet(
    engine_id: &str,
    desired: &[(&DesiredService, &ServiceSpec)],
    containers: &HashMap<String, ContainerSummary>,
    records: &HashMap<String, ContainerRecord>,
    readiness: &HashMap<String, Option<bool>>,
) -> HashMap<Key, Vec<String>> {
    let reached: HashMap<Key, Reached> = desired
        .iter()
        .map(|(d, spec)| {
            let names: Vec<String> = (0..d.replicas)
                .map(|slot| container_name(engine_id, &d.org, &d.stack, &d.service, slot))
                .collect();
            let running = |name: &String| {
                containers
                    .get(name)
                    .is_some_and(|c| c.status == ContainerStatus::Running)
            };
            let started = names.iter().all(running);
            let gated_by_checks = spec.readiness_checked();
            let healthy = started
                && (!gated_by_checks
                    || names
                        .iter()
                        .all(|n| readiness.get(n).copied().flatten() == Some(true)));
            let completed = names.iter().all(|n| {
                let exited = containers
                    .get(n)
                    .is_some_and(|c| c.status == ContainerStatus::Exited);
                let record = records.get(n);
                exited
                    && record.is_some_and(|r| {
                        r.state == ContainerState::Exited.as_str() && r.last_exit_code == Some(0)
                    })
            });
            (
                (d.org.clone(), d.stack.clone(), d.service.clone()),
                Reached {
                    started,
                    healthy,
                    completed,
                },
            )
        })
        .collect();
    let mut blocked = HashMap::new();
    for (d, spec) in desired {
        let waiting: Vec<String> = spec
            .depends_on
            .iter()
            .filter(|dep| {
                let key = (d.org.clone(), d.stack.clone(), dep.service.clone());
                // A dependency nobody declared cannot be met (stack validation refuses it;
                // a service applied on its own may still name one).
                let reached = reached.get(&key).copied().unwrap_or_default();
                !match dep.condition {
                    Condition::Started => reached.started,
                    Condition::Healthy => reached.healthy,
                    Condition::Completed => reached.completed,
                }
            })
            .map(|dep| format!("{} ({})", dep.service, dep.condition.as_str()))
            .collect();
        if !waiting.is_empty() {
            blocked.insert((d.org.clone(), d.stack.clone(), d.service.clone()), waiting);
        }
    }
    blocked
}
