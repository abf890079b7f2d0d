//! The heartbeat's judgement of workers, kept apart from the polling so that every transition
//! is tested with made-up times.
//!
//! For each worker the heartbeat remembers when it last saw it `ready` and whether it already
//! said it was unhealthy. A worker is unhealthy once it has not been seen ready for
//! `unhealthy_after` (counted from when the heartbeat first saw it, for one never seen ready):
//! `worker-unhealthy` fires once per outage, `worker-recovered` when it is ready again. New
//! and vanished workers are `worker-joined` and `worker-left` (not on the first look at a
//! target: that is the engine starting, not the cluster changing), and an availability that
//! changed outside the engine is `worker-availability-changed`. A target whose adapter cannot
//! reach the platform is `target-unavailable` once, then `target-available` when it answers.

use std::collections::HashMap;

use serde_json::json;

use super::{Availability, Worker, WorkerHealth};
use crate::NewEvent;

/// What the heartbeat remembers of one worker.
#[derive(Debug, Clone)]
struct Watch {
    hostname: String,
    ready: bool,
    availability: Availability,
    last_ready_ms: Option<i64>,
    watched_since_ms: i64,
    unhealthy: bool,
}

/// What the heartbeat remembers of one target.
#[derive(Debug, Default)]
struct TargetWatch {
    workers: HashMap<String, Watch>,
    looked: bool,
    unavailable_since_ms: Option<i64>,
}

/// Every target's workers as the heartbeat last saw them.
#[derive(Debug, Default)]
pub(crate) struct Heartbeat {
    targets: HashMap<String, TargetWatch>,
}

fn event(kind: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent::new(kind).with_payload(payload)
}

impl Heartbeat {
    /// Takes in what `target` reported at `now_ms` and returns the events it causes.
    pub(crate) fn observe(
        &mut self,
        target: &str,
        workers: &[Worker],
        now_ms: i64,
        unhealthy_after_ms: i64,
    ) -> Vec<NewEvent> {
        let watch = self.targets.entry(target.to_owned()).or_default();
        let mut events = Vec::new();
        if let Some(since) = watch.unavailable_since_ms.take() {
            events.push(event(
                "target-available",
                json!({"target": target, "unavailable_for_ms": now_ms - since}),
            ));
        }
        let first_look = !watch.looked;
        watch.looked = true;
        for worker in workers {
            let ready = worker.status == "ready";
            let known = watch.workers.get_mut(&worker.id);
            let w = match known {
                Some(w) => w,
                None => {
                    if !first_look {
                        events.push(event(
                            "worker-joined",
                            json!({"target": target, "worker": worker.id, "hostname": worker.hostname,
                                   "role": worker.role.as_str(), "status": worker.status}),
                        ));
                    }
                    watch.workers.entry(worker.id.clone()).or_insert(Watch {
                        hostname: worker.hostname.clone(),
                        ready,
                        availability: worker.availability,
                        last_ready_ms: None,
                        watched_since_ms: now_ms,
                        unhealthy: false,
                    })
                }
            };
            w.hostname.clone_from(&worker.hostname);
            w.ready = ready;
            if w.availability != worker.availability {
                events.push(event(
                    "worker-availability-changed",
                    json!({"target": target, "worker": worker.id, "hostname": worker.hostname,
                           "from": w.availability.as_str(), "to": worker.availability.as_str()}),
                ));
                w.availability = worker.availability;
            }
            if ready {
                if w.unhealthy {
                    let since = w.last_ready_ms.unwrap_or(w.watched_since_ms);
                    events.push(event(
                        "worker-recovered",
                        json!({"target": target, "worker": worker.id, "hostname": worker.hostname,
                               "not_ready_for_ms": now_ms - since}),
                    ));
                    w.unhealthy = false;
                }
                w.last_ready_ms = Some(now_ms);
            } else {
                let since = w.last_ready_ms.unwrap_or(w.watched_since_ms);
                if !w.unhealthy && now_ms - since >= unhealthy_after_ms {
                    w.unhealthy = true;
                    events.push(event(
                        "worker-unhealthy",
                        json!({"target": target, "worker": worker.id, "hostname": worker.hostname,
                               "status": worker.status, "last_ready_ms": w.last_ready_ms,
                               "not_ready_for_ms": now_ms - since,
                               "running_tasks": worker.running_tasks}),
                    ));
                }
            }
        }
        let gone: Vec<String> = watch
            .workers
            .keys()
            .filter(|id| !workers.iter().any(|w| &w.id == *id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(w) = watch.workers.remove(&id) {
                events.push(event(
                    "worker-left",
                    json!({"target": target, "worker": id, "hostname": w.hostname}),
                ));
            }
        }
        events
    }

    /// `target` could not be asked at `now_ms`: `target-unavailable` the first time in a row.
    pub(crate) fn unreachable(&mut self, target: &str, error: &str, now_ms: i64) -> Vec<NewEvent> {
        let watch = self.targets.entry(target.to_owned()).or_default();
        if watch.unavailable_since_ms.is_some() {
            return Vec::new();
        }
        watch.unavailable_since_ms = Some(now_ms);
        vec![event(
            "target-unavailable",
            json!({"target": target, "error": error}),
        )]
    }

    /// Fills in the heartbeat's verdict on `worker`.
    pub(crate) fn judge(&self, worker: &mut Worker) {
        let Some(w) = self
            .targets
            .get(&worker.target)
            .and_then(|t| t.workers.get(&worker.id))
        else {
            return;
        };
        worker.last_ready_ms = w.last_ready_ms;
        worker.health = if w.unhealthy {
            WorkerHealth::Unhealthy
        } else if w.ready {
            WorkerHealth::Healthy
        } else {
            WorkerHealth::Unknown
        };
    }

    /// The engine set a worker's availability itself (and said so): the next poll does not
    /// report it as a change.
    pub(crate) fn availability_set(&mut self, target: &str, id: &str, to: Availability) {
        if let Some(w) = self
            .targets
            .get_mut(target)
            .and_then(|t| t.workers.get_mut(id))
        {
            w.availability = to;
        }
    }

    /// The engine removed a worker itself (and said so): no `worker-left` follows.
    pub(crate) fn forget(&mut self, target: &str, id: &str) {
        if let Some(t) = self.targets.get_mut(target) {
            t.workers.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_host_api::types::{NodeAvailability, NodeInfo, NodeRole};

    const AFTER: i64 = 120_000;

    fn worker(id: &str, status: &str, availability: NodeAvailability) -> Worker {
        Worker::new(
            "swarm",
            NodeInfo {
                id: id.into(),
                hostname: "vm".into(),
                role: NodeRole::Worker,
                status: status.into(),
                availability,
                address: None,
                cpu_millis: 0,
                memory_bytes: 0,
                running_tasks: 1,
                labels: Vec::new(),
            },
        )
    }

    fn ready(id: &str) -> Worker {
        worker(id, "ready", NodeAvailability::Active)
    }

    fn down(id: &str) -> Worker {
        worker(id, "down", NodeAvailability::Active)
    }

    fn kinds(events: &[NewEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn judged(h: &Heartbeat, w: Worker) -> (WorkerHealth, Option<i64>) {
        let mut w = w;
        h.judge(&mut w);
        (w.health, w.last_ready_ms)
    }

    #[test]
    fn a_worker_not_ready_for_the_timeout_is_unhealthy_once_then_recovers() {
        let mut h = Heartbeat::default();
        assert!(h.observe("swarm", &[ready("a")], 0, AFTER).is_empty());
        assert_eq!(judged(&h, ready("a")), (WorkerHealth::Healthy, Some(0)));
        // Down, but not for long enough yet: no verdict.
        assert!(h.observe("swarm", &[down("a")], 30_000, AFTER).is_empty());
        assert_eq!(judged(&h, down("a")), (WorkerHealth::Unknown, Some(0)));
        assert!(h.observe("swarm", &[down("a")], 119_999, AFTER).is_empty());
        // 120 s since it was last seen ready: unhealthy, once.
        let events = h.observe("swarm", &[down("a")], 120_000, AFTER);
        assert_eq!(kinds(&events), ["worker-unhealthy"]);
        assert_eq!(events[0].payload["worker"], "a");
        assert_eq!(events[0].payload["last_ready_ms"], 0);
        assert_eq!(events[0].payload["not_ready_for_ms"], 120_000);
        assert!(h.observe("swarm", &[down("a")], 150_000, AFTER).is_empty());
        assert_eq!(judged(&h, down("a")).0, WorkerHealth::Unhealthy);
        // Ready again: recovered, once, and healthy.
        let events = h.observe("swarm", &[ready("a")], 180_000, AFTER);
        assert_eq!(kinds(&events), ["worker-recovered"]);
        assert_eq!(events[0].payload["not_ready_for_ms"], 180_000);
        assert!(h.observe("swarm", &[ready("a")], 210_000, AFTER).is_empty());
        assert_eq!(
            judged(&h, ready("a")),
            (WorkerHealth::Healthy, Some(210_000))
        );
        // A flap shorter than the timeout says nothing.
        assert!(h.observe("swarm", &[down("a")], 240_000, AFTER).is_empty());
        assert!(h.observe("swarm", &[ready("a")], 300_000, AFTER).is_empty());
    }

    #[test]
    fn a_worker_never_seen_ready_counts_from_when_it_was_first_seen() {
        let mut h = Heartbeat::default();
        assert!(h.observe("swarm", &[down("a")], 1_000, AFTER).is_empty());
        assert!(h.observe("swarm", &[down("a")], 120_999, AFTER).is_empty());
        let events = h.observe("swarm", &[down("a")], 121_000, AFTER);
        assert_eq!(kinds(&events), ["worker-unhealthy"]);
        assert!(events[0].payload["last_ready_ms"].is_null());
    }

    #[test]
    fn joins_leaves_and_availability_changes_are_events_after_the_first_look() {
        let mut h = Heartbeat::default();
        // The first look at a target only learns what is there.
        assert!(
            h.observe("swarm", &[ready("a"), ready("b")], 0, AFTER)
                .is_empty()
        );
        let drained = worker("b", "ready", NodeAvailability::Drain);
        let events = h.observe("swarm", &[ready("a"), drained, ready("c")], 1_000, AFTER);
        assert_eq!(
            kinds(&events),
            ["worker-availability-changed", "worker-joined"]
        );
        assert_eq!(
            (&events[0].payload["from"], &events[0].payload["to"]),
            (&json!("active"), &json!("drain"))
        );
        assert_eq!(events[1].payload["worker"], "c");
        let events = h.observe("swarm", &[ready("a")], 2_000, AFTER);
        let mut left: Vec<_> = events.iter().map(|e| &e.payload["worker"]).collect();
        left.sort_by_key(|v| v.to_string());
        assert_eq!(kinds(&events), ["worker-left", "worker-left"]);
        assert_eq!(left, [&json!("b"), &json!("c")]);
        // What the engine did itself is not reported again by the poll.
        h.availability_set("swarm", "a", Availability::Pause);
        let paused = worker("a", "ready", NodeAvailability::Pause);
        assert!(h.observe("swarm", &[paused], 3_000, AFTER).is_empty());
        h.forget("swarm", "a");
        assert!(h.observe("swarm", &[], 4_000, AFTER).is_empty());
    }

    #[test]
    fn an_unreachable_target_is_reported_once_and_its_return_with_the_outage() {
        let mut h = Heartbeat::default();
        let events = h.unreachable("swarm", "connection refused", 1_000);
        assert_eq!(kinds(&events), ["target-unavailable"]);
        assert_eq!(events[0].payload["error"], "connection refused");
        assert!(
            h.unreachable("swarm", "connection refused", 2_000)
                .is_empty()
        );
        let events = h.observe("swarm", &[ready("a")], 31_000, AFTER);
        assert_eq!(kinds(&events), ["target-available"]);
        assert_eq!(events[0].payload["unavailable_for_ms"], 30_000);
        // Down again later: reported again.
        assert_eq!(
            kinds(&h.unreachable("swarm", "timeout", 40_000)),
            ["target-unavailable"]
        );
    }
}
