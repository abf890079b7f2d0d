//! Follows Docker's stats stream of every running managed container and keeps the latest
//! judged [`ResourceSample`] of each.
//!
//! One task per running container consumes its stream (Docker sends a sample about every
//! second); a supervisor starts tasks for containers that started and ends those of containers
//! that went away. A status change that holds for [`SETTLE`] consecutive samples is announced as
//! a `resource-status-changed` event, so a container hovering at a threshold does not flood the
//! log. The sampler keeps no history: snapshots (`snapshot`) persist it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;
use tokio::task::{AbortHandle, JoinSet};

use super::{ResourceSample, ResourceStatus};
use crate::engine::Ctx;
use crate::lifecycle::ContainerState;
use crate::store::Scope;

/// How often the supervisor looks for containers that started or went away.
const REFRESH: Duration = Duration::from_secs(1);

/// How many consecutive samples a new status must hold before it is announced.
const SETTLE: u32 = 2;

#[derive(Debug)]
struct Tracked {
    latest: ResourceSample,
    /// The status last announced (the first sample's status is announced only if not healthy).
    announced: ResourceStatus,
    /// A different status seen in this many consecutive samples.
    pending: Option<(ResourceStatus, u32)>,
}

/// The resource sampler of one engine.
pub(crate) struct Sampler {
    ctx: Arc<Ctx>,
    latest: Arc<Mutex<HashMap<String, Tracked>>>,
}

impl Sampler {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self {
            ctx,
            latest: Arc::default(),
        }
    }

    /// The latest sample of a running container, if its stream has sent one.
    pub(crate) fn latest(&self, name: &str) -> Option<ResourceSample> {
        self.with_latest(|l| l.get(name).map(|t| t.latest.clone()))
    }

    fn with_latest<T>(&self, f: impl FnOnce(&mut HashMap<String, Tracked>) -> T) -> T {
        f(&mut self.latest.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Keeps one stream per running container until dropped (the streams end with it, and
    /// their readings are forgotten: they would only grow stale).
    pub(crate) async fn supervise(&self) {
        struct Forget<'a>(&'a Sampler);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.with_latest(HashMap::clear);
            }
        }
        let _forget = Forget(self);
        let mut tasks = JoinSet::new();
        let mut following: HashMap<String, (String, AbortHandle)> = HashMap::new();
        loop {
            // A finished task means its stream ended (the container stopped): forget it so
            // that a restart is followed again.
            while let Some(Ok(name)) = tasks.try_join_next() {
                following.remove(&name);
                self.with_latest(|l| l.remove(&name));
            }
            match self.ctx.store.list_container_records(Scope::All).await {
                Ok(records) => {
                    let running: HashMap<String, String> = records
                        .into_iter()
                        .filter(|r| r.state == ContainerState::Running.as_str())
                        .filter_map(|r| Some((r.container_name, r.container_id?)))
                        .collect();
                    following.retain(|name, (id, task)| {
                        let keep = running.get(name) == Some(id);
                        if !keep {
                            task.abort();
                            self.with_latest(|l| l.remove(name));
                        }
                        keep
                    });
                    for (name, id) in running {
                        if following.contains_key(&name) {
                            continue;
                        }
                        let task = tasks.spawn(follow(
                            self.ctx.clone(),
                            self.latest.clone(),
                            name.clone(),
                            id.clone(),
                        ));
                        following.insert(name, (id, task));
                    }
                }
                Err(error) => tracing::warn!(%error, "resource sampler could not list containers"),
            }
            tokio::time::sleep(REFRESH).await;
        }
    }
}

/// Follows one container's stats until its stream ends; returns the container's name.
async fn follow(
    ctx: Arc<Ctx>,
    latest: Arc<Mutex<HashMap<String, Tracked>>>,
    name: String,
    id: String,
) -> String {
    let Ok(info) = ctx.runtime.inspect_container(&id).await else {
        return name;
    };
    let mut stream = std::pin::pin!(ctx.runtime.stats_stream(&id));
    while let Some(item) = stream.next().await {
        let stats = match item {
            Ok(stats) => stats,
            Err(error) => {
                tracing::debug!(container = %name, %error, "stats stream ended");
                break;
            }
        };
        let sample = ResourceSample::judge(&info, &stats, ctx.settings.thresholds, ctx.now_ms());
        {
            use crate::runtime::labels::{LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
            let label = |key: &str| info.labels.get(key).map_or("", String::as_str);
            ctx.meter.record(
                &crate::billing::meter::SampledContainer {
                    name: &name,
                    org: label(LABEL_ORG),
                    stack: label(LABEL_STACK),
                    service: label(LABEL_SERVICE),
                    cpu_millis: info.cpu.map(crate::resources::CpuMillis::millis),
                    memory_bytes: info.memory.map(crate::resources::MemoryBytes::bytes),
                },
                &stats,
                ctx.now_ms(),
            );
        }
        let announce = {
            let mut latest = latest.lock().unwrap_or_else(|p| p.into_inner());
            let tracked = latest.entry(name.clone()).or_insert_with(|| Tracked {
                latest: sample.clone(),
                announced: ResourceStatus::Healthy,
                pending: None,
            });
            tracked.latest = sample.clone();
            settle(tracked, sample.status)
        };
        if let Some(from) = announce {
            let labels = &info.labels;
            let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
            use crate::runtime::labels::{LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
            ctx.emit(
                crate::NewEvent::new("resource-status-changed")
                    .with_org(label(LABEL_ORG))
                    .with_stack(label(LABEL_STACK))
                    .with_service(label(LABEL_SERVICE))
                    .with_container(&name)
                    .with_payload(json!({
                        "from": from,
                        "to": sample.status,
                        "cpu_percent": sample.cpu_percent,
                        "memory_percent": sample.memory_percent,
                    })),
            )
            .await;
        }
    }
    name
}

/// Counts a sample's status; returns the previously announced status when the new one has
/// held long enough to be announced.
fn settle(tracked: &mut Tracked, status: ResourceStatus) -> Option<ResourceStatus> {
    if status == tracked.announced {
        tracked.pending = None;
        return None;
    }
    let seen = match tracked.pending {
        Some((pending, count)) if pending == status => count + 1,
        _ => 1,
    };
    if seen >= SETTLE {
        tracked.pending = None;
        Some(std::mem::replace(&mut tracked.announced, status))
    } else {
        tracked.pending = Some((status, seen));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_announced_once_it_holds() {
        use ResourceStatus::*;
        let mut tracked = Tracked {
            latest: ResourceSample::stopped("c", 0),
            announced: Healthy,
            pending: None,
        };
        assert_eq!(settle(&mut tracked, Healthy), None);
        assert_eq!(
            settle(&mut tracked, Warning),
            None,
            "one sample is not enough"
        );
        assert_eq!(settle(&mut tracked, Healthy), None, "and a blip resets it");
        assert_eq!(settle(&mut tracked, Warning), None);
        assert_eq!(settle(&mut tracked, Warning), Some(Healthy));
        assert_eq!(settle(&mut tracked, Warning), None, "announced once");
        assert_eq!(settle(&mut tracked, Critical), None);
        assert_eq!(settle(&mut tracked, Critical), Some(Warning));
    }
}
