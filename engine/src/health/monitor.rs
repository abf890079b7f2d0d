//! Runs each service's health checks against its running containers and acts on them.
//!
//! Every tick the monitor looks at the running containers of services with checks, runs the
//! probes that are due (many at a time), counts consecutive failures and successes against the
//! thresholds, and announces every transition as a `health-changed` event. A failing liveness
//! (or startup) check stops the container: its exit then goes through the restart policy like
//! any other death, so backoff and giving up apply. Readiness is only reported.
//!
//! What the monitor knows lives in memory: after a restart of the engine every check starts
//! again from `unknown`, which is the honest state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::{CheckKind, HealthCheck, ProbeOutcome};
use crate::engine::Ctx;
use crate::lifecycle::ContainerState;
use crate::runtime::ContainerInfo;
use crate::store::Scope;
use crate::{EngineError, NewEvent, ServiceSpec};

/// How often the monitor looks for due probes.
pub(crate) const TICK: Duration = Duration::from_millis(200);

/// The state of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Not decided yet (too few probes, or within the start period).
    Unknown,
    /// Passing.
    Passing,
    /// Failing.
    Failing,
}

/// One check of one container, as last judged.
#[derive(Debug, Clone, Serialize)]
pub struct CheckState {
    /// Which kind of check.
    pub kind: CheckKind,
    /// Its status.
    pub status: CheckStatus,
    /// The last probe's outcome.
    pub last: Option<ProbeOutcome>,
    #[serde(skip)]
    failures: u32,
    #[serde(skip)]
    successes: u32,
    #[serde(skip)]
    next_due: Instant,
}

/// The health of one managed container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerHealth {
    /// The container's name.
    pub container: String,
    /// Its checks, in declaration order.
    pub checks: Vec<CheckState>,
    #[serde(skip)]
    container_id: String,
    #[serde(skip)]
    started: Instant,
    #[serde(skip)]
    info: Option<ContainerInfo>,
}

impl ContainerHealth {
    /// Whether the container is ready: every readiness check passes (`None` while undecided;
    /// a container without readiness checks is ready once its startup checks pass).
    pub fn ready(&self) -> Option<bool> {
        let mut ready = Some(true);
        for check in &self.checks {
            if matches!(check.kind, CheckKind::Readiness | CheckKind::Startup) {
                match check.status {
                    CheckStatus::Failing => return Some(false),
                    CheckStatus::Unknown => ready = None,
                    CheckStatus::Passing => {}
                }
            }
        }
        ready
    }

    fn startup_passed(&self) -> bool {
        self.checks
            .iter()
            .filter(|c| c.kind == CheckKind::Startup)
            .all(|c| c.status == CheckStatus::Passing)
    }
}

/// A probe to run now, with everything it needs (owned, so probes run concurrently).
struct Due {
    target: Arc<Target>,
    index: usize,
    check: HealthCheck,
    info: Option<ContainerInfo>,
}

struct Target {
    name: String,
    id: String,
    org: String,
    stack: String,
    service: String,
    checks: Vec<HealthCheck>,
}

/// The health monitor of one engine.
pub(crate) struct Monitor {
    ctx: Arc<Ctx>,
    states: Mutex<HashMap<String, ContainerHealth>>,
}

impl Monitor {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self {
            ctx,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// The health of a container, if it has checks and runs.
    pub(crate) async fn health(&self, name: &str) -> Option<ContainerHealth> {
        self.states.lock().await.get(name).cloned()
    }

    /// Readiness of every monitored container, by name.
    pub(crate) async fn readiness(&self) -> HashMap<String, Option<bool>> {
        let states = self.states.lock().await;
        states
            .iter()
            .map(|(name, h)| (name.clone(), h.ready()))
            .collect()
    }

    /// Runs the probes that are due and acts on the results.
    pub(crate) async fn tick(&self) -> Result<(), EngineError> {
        let targets = self.targets().await?;
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut states = self.states.lock().await;
            states.retain(|name, h| {
                targets
                    .iter()
                    .any(|t| &t.name == name && t.id == h.container_id)
            });
            for target in &targets {
                let health = states
                    .entry(target.name.clone())
                    .or_insert_with(|| ContainerHealth {
                        container: target.name.clone(),
                        checks: target
                            .checks
                            .iter()
                            .map(|c| CheckState {
                                kind: c.kind,
                                status: CheckStatus::Unknown,
                                last: None,
                                failures: 0,
                                successes: 0,
                                next_due: now,
                            })
                            .collect(),
                        container_id: target.id.clone(),
                        started: now,
                        info: None,
                    });
                let startup_passed = health.startup_passed();
                for (index, check) in target.checks.iter().enumerate() {
                    let gated = check.kind != CheckKind::Startup && !startup_passed;
                    if let Some(state) = health.checks.get_mut(index)
                        && !gated
                        && state.next_due <= now
                    {
                        state.next_due = now + Duration::from_millis(check.interval_ms.max(50));
                        due.push(Due {
                            target: target.clone(),
                            index,
                            check: check.clone(),
                            info: health.info.clone(),
                        });
                    }
                }
            }
        }

        let ctx = &self.ctx;
        let results: Vec<_> = futures::stream::iter(due)
            .map(|mut due| async move {
                let info = match due.info.take() {
                    Some(info) => info,
                    None => match ctx.runtime.inspect_container(&due.target.id).await {
                        Ok(info) => info,
                        // Gone meanwhile: the next tick drops it.
                        Err(_) => return None,
                    },
                };
                let timeout = Duration::from_millis(due.check.timeout_ms);
                let outcome = due.check.probe.run(&ctx.runtime, &info, timeout).await;
                due.info = Some(info);
                Some((due, outcome))
            })
            .buffer_unordered(32)
            .collect()
            .await;

        for (due, outcome) in results.into_iter().flatten() {
            self.judge(&due.target, due.index, &due.check, due.info, outcome)
                .await;
        }
        Ok(())
    }

    /// Counts one probe's outcome and acts on a transition.
    async fn judge(
        &self,
        target: &Target,
        index: usize,
        check: &HealthCheck,
        info: Option<ContainerInfo>,
        outcome: ProbeOutcome,
    ) {
        let transition = {
            let mut states = self.states.lock().await;
            let Some(health) = states.get_mut(&target.name) else {
                return;
            };
            if health.info.is_none() {
                health.info = info;
            }
            let in_start_period =
                health.started.elapsed() < Duration::from_millis(check.start_period_ms);
            let Some(state) = health.checks.get_mut(index) else {
                return;
            };
            if outcome.healthy {
                state.successes += 1;
                state.failures = 0;
            } else if !in_start_period {
                state.failures += 1;
                state.successes = 0;
            }
            let next = if state.failures >= check.failure_threshold.max(1) {
                CheckStatus::Failing
            } else if state.successes >= check.success_threshold.max(1) {
                CheckStatus::Passing
            } else {
                state.status
            };
            let previous = state.status;
            state.status = next;
            state.last = Some(outcome.clone());
            (previous != next).then_some((previous, next))
        };
        let Some((from, to)) = transition else { return };
        let event = |kind: &str| {
            NewEvent::new(kind)
                .with_org(&target.org)
                .with_stack(&target.stack)
                .with_service(&target.service)
                .with_container(&target.name)
        };
        self.ctx
            .emit(event("health-changed").with_payload(json!({
                "check": check.kind.as_str(),
                "from": from,
                "to": to,
                "detail": outcome.detail,
            })))
            .await;
        if to == CheckStatus::Failing
            && matches!(check.kind, CheckKind::Liveness | CheckKind::Startup)
        {
            self.ctx
                .emit(event("container-unhealthy").with_payload(json!({
                    "check": check.kind.as_str(),
                    "detail": outcome.detail,
                    "action": "stop; the restart policy decides what follows",
                })))
                .await;
            // The exit is a death like any other: the reconciler's restart policy handles it.
            if let Err(error) = self
                .ctx
                .runtime
                .stop_container(&target.id, self.ctx.settings.stop_timeout)
                .await
            {
                tracing::warn!(container = %target.name, %error, "could not stop an unhealthy container");
            }
            self.states.lock().await.remove(&target.name);
        }
    }

    /// Running containers of services with health checks.
    async fn targets(&self) -> Result<Vec<Arc<Target>>, EngineError> {
        let ctx = &self.ctx;
        let desired = ctx.store.list_desired_services(Scope::All).await?;
        let mut wanted = HashMap::new();
        for service in desired {
            let Ok(spec) = serde_json::from_value::<ServiceSpec>(service.spec) else {
                continue;
            };
            if !spec.health_checks.is_empty() {
                wanted.insert(
                    (service.org, service.stack, service.service),
                    spec.health_checks,
                );
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let records = ctx.records_by_name().await?;
        Ok(records
            .into_values()
            .filter(|r| r.state == ContainerState::Running.as_str())
            .filter_map(|r| {
                let checks = wanted
                    .get(&(r.org.clone(), r.stack.clone(), r.service.clone()))?
                    .clone();
                Some(Arc::new(Target {
                    id: r.container_id?,
                    name: r.container_name,
                    org: r.org,
                    stack: r.stack,
                    service: r.service,
                    checks,
                }))
            })
            .collect())
    }
}
