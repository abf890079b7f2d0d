//! Runs each service's health checks against its running containers and acts on them.
//!
//! One task per monitored container keeps its own timer per check, so a probe starts when it is
//! due, not at the next tick of some shared loop (the scheduling lag of every probe is measured:
//! [`ProbeStats`]). The task counts consecutive failures and successes against the thresholds
//! and announces every transition as a `health-changed` event. A failing liveness (or startup)
//! check stops the container: its exit then goes through the restart policy like any other
//! death, so backoff and giving up apply; the task waits for the container to be started again
//! and judges it afresh. Readiness is only reported.
//!
//! A supervisor (`Monitor::supervise`) starts a task for every running container of a service
//! with checks and ends the tasks of containers that went away. What the monitor knows lives in
//! memory: after a restart of the engine every check starts again from `unknown`, which is the
//! honest state.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::json;
use tokio::task::{AbortHandle, JoinSet};

use super::{CheckKind, HealthCheck, ProbeOutcome};
use crate::engine::Ctx;
use crate::lifecycle::ContainerState;
use crate::runtime::ContainerInfo;
use crate::store::Scope;
use crate::{EngineError, NewEvent, ServiceSpec};

/// How often the supervisor looks for containers that appeared or went away.
const REFRESH: Duration = Duration::from_millis(500);

/// The shortest interval a check may ask for.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// How many recent scheduling lags [`ProbeStats`] summarises.
const LAG_WINDOW: usize = 16_384;

/// Upper bounds, in seconds, of the buckets of [`ProbeStats::lag_buckets`].
pub const LAG_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The state of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    /// Not decided yet (too few probes, or within the start period).
    Unknown,
    /// Passing.
    Passing,
    /// Failing.
    Failing,
}

impl CheckStatus {
    /// The status's name in events and snapshots.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Passing => "passing",
            Self::Failing => "failing",
        }
    }
}

/// One check of one container, as last judged.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
}

/// The checks of one managed container, as the monitor last judged them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerHealth {
    /// The container's name.
    pub container: String,
    /// Its checks, in declaration order.
    pub checks: Vec<CheckState>,
    #[serde(skip)]
    started: Instant,
}

impl ContainerHealth {
    fn new(container: &str, checks: &[HealthCheck]) -> Self {
        Self {
            container: container.to_owned(),
            checks: checks
                .iter()
                .map(|c| CheckState {
                    kind: c.kind,
                    status: CheckStatus::Unknown,
                    last: None,
                    failures: 0,
                    successes: 0,
                })
                .collect(),
            started: Instant::now(),
        }
    }

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

/// How well the monitor keeps its schedule, over the most recent probes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ProbeStats {
    /// Probes run since the engine was built (or the stats were reset).
    pub probes: u64,
    /// Of those, how many found the container unhealthy.
    pub unhealthy: u64,
    /// How many recent probes the lag figures cover.
    pub window: usize,
    /// Median delay between when a probe was due and when it started.
    pub lag_p50: Duration,
    /// 99th percentile of that delay.
    pub lag_p99: Duration,
    /// The largest delay in the window.
    pub lag_max: Duration,
    /// Every probe's delay since the engine was built, as a histogram: how many probes
    /// started at most [`LAG_BUCKETS`]`[i]` seconds late (cumulative, as Prometheus counts).
    /// Probes later than the last bound count only in `probes`.
    pub lag_buckets: [u64; LAG_BUCKETS.len()],
    /// The sum of every probe's delay, in seconds.
    pub lag_sum_seconds: f64,
}

#[derive(Debug, Default)]
struct LagRecorder {
    probes: u64,
    unhealthy: u64,
    /// Recent lags in microseconds, oldest first.
    lags: VecDeque<u32>,
    /// Probes per bucket of [`LAG_BUCKETS`], not cumulative.
    buckets: [u64; LAG_BUCKETS.len()],
    sum_seconds: f64,
}

impl LagRecorder {
    fn record(&mut self, lag: Duration, healthy: bool) {
        self.probes += 1;
        self.unhealthy += u64::from(!healthy);
        if self.lags.len() == LAG_WINDOW {
            self.lags.pop_front();
        }
        self.lags
            .push_back(u32::try_from(lag.as_micros()).unwrap_or(u32::MAX));
        let seconds = lag.as_secs_f64();
        self.sum_seconds += seconds;
        if let Some(bucket) = LAG_BUCKETS.iter().position(|le| seconds <= *le) {
            self.buckets[bucket] += 1;
        }
    }

    fn stats(&self) -> ProbeStats {
        let mut sorted: Vec<u32> = self.lags.iter().copied().collect();
        sorted.sort_unstable();
        let at = |q: f64| {
            let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1));
            Duration::from_micros(sorted.get(rank - 1).copied().unwrap_or(0).into())
        };
        ProbeStats {
            probes: self.probes,
            unhealthy: self.unhealthy,
            window: sorted.len(),
            lag_p50: at(0.50),
            lag_p99: at(0.99),
            lag_max: Duration::from_micros(sorted.last().copied().unwrap_or(0).into()),
            lag_buckets: {
                let mut cumulative = 0;
                self.buckets.map(|n| {
                    cumulative += n;
                    cumulative
                })
            },
            lag_sum_seconds: self.sum_seconds,
        }
    }
}

/// What the monitor's tasks share with the engine's readers.
#[derive(Debug, Default)]
struct Shared {
    states: Mutex<HashMap<String, ContainerHealth>>,
    lags: Mutex<LagRecorder>,
}

impl Shared {
    fn with_states<T>(&self, f: impl FnOnce(&mut HashMap<String, ContainerHealth>) -> T) -> T {
        f(&mut self.states.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn with_lags<T>(&self, f: impl FnOnce(&mut LagRecorder) -> T) -> T {
        f(&mut self.lags.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A running container of a service with checks.
#[derive(Debug, Clone)]
struct Target {
    name: String,
    id: String,
    org: String,
    stack: String,
    service: String,
    checks: Vec<HealthCheck>,
}

impl Target {
    fn event(&self, kind: &str) -> NewEvent {
        NewEvent::new(kind)
            .with_org(&self.org)
            .with_stack(&self.stack)
            .with_service(&self.service)
            .with_container(&self.name)
    }
}

/// The health monitor of one engine.
pub(crate) struct Monitor {
    ctx: Arc<Ctx>,
    shared: Arc<Shared>,
}

impl Monitor {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self {
            ctx,
            shared: Arc::default(),
        }
    }

    /// The checks of a container, if it has checks and is monitored.
    pub(crate) fn health(&self, name: &str) -> Option<ContainerHealth> {
        self.shared.with_states(|s| s.get(name).cloned())
    }

    /// Readiness of every monitored container, by name.
    pub(crate) fn readiness(&self) -> HashMap<String, Option<bool>> {
        self.shared.with_states(|states| {
            states
                .iter()
                .map(|(name, h)| (name.clone(), h.ready()))
                .collect()
        })
    }

    /// How well the probes keep their schedule.
    pub(crate) fn probe_stats(&self) -> ProbeStats {
        self.shared.with_lags(|l| l.stats())
    }

    /// Starts a fresh measurement window for [`ProbeStats`].
    pub(crate) fn reset_probe_stats(&self) {
        self.shared.with_lags(|l| *l = LagRecorder::default());
    }

    /// Keeps one task per monitored container until dropped (the tasks end with it, and what
    /// they judged is forgotten: nobody is watching any more).
    pub(crate) async fn supervise(&self) {
        let _forget = Forget(&self.shared);
        let mut tasks = JoinSet::new();
        let mut watching: HashMap<String, (String, AbortHandle)> = HashMap::new();
        loop {
            while tasks.try_join_next().is_some() {}
            match self.targets().await {
                Ok(targets) => {
                    let current: HashMap<&str, &Target> =
                        targets.iter().map(|t| (t.name.as_str(), t)).collect();
                    watching.retain(|name, (id, task)| {
                        let keep = current.get(name.as_str()).is_some_and(|t| &t.id == id);
                        if !keep {
                            task.abort();
                            self.shared.with_states(|s| s.remove(name));
                        }
                        keep
                    });
                    for target in targets {
                        if watching.contains_key(&target.name) {
                            continue;
                        }
                        let (name, id) = (target.name.clone(), target.id.clone());
                        let task =
                            tasks.spawn(watch(self.ctx.clone(), self.shared.clone(), target));
                        watching.insert(name, (id, task));
                    }
                }
                Err(error) => tracing::warn!(%error, "health monitor could not list its targets"),
            }
            tokio::time::sleep(REFRESH).await;
        }
    }

    /// Running containers of services with health checks.
    async fn targets(&self) -> Result<Vec<Target>, EngineError> {
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
        let records = ctx.store.list_container_records(Scope::All).await?;
        Ok(records
            .into_iter()
            .filter(|r| r.state == ContainerState::Running.as_str())
            .filter_map(|r| {
                let checks = wanted
                    .get(&(r.org.clone(), r.stack.clone(), r.service.clone()))?
                    .clone();
                Some(Target {
                    id: r.container_id?,
                    name: r.container_name,
                    org: r.org,
                    stack: r.stack,
                    service: r.service,
                    checks,
                })
            })
            .collect())
    }
}

/// Clears the monitor's judgements when the supervisor ends.
struct Forget<'a>(&'a Shared);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.with_states(HashMap::clear);
    }
}

/// What a judged probe asks of the container's task.
enum Verdict {
    Carry,
    /// A liveness or startup check failed: the container was told to stop.
    Stopped,
}

/// Runs the checks of one container on their own timers, until aborted or the container is
/// gone.
async fn watch(ctx: Arc<Ctx>, shared: Arc<Shared>, target: Target) {
    let Ok(mut info) = ctx.runtime.inspect_container(&target.id).await else {
        return; // gone meanwhile: the supervisor drops it
    };
    shared.with_states(|s| {
        s.insert(
            target.name.clone(),
            ContainerHealth::new(&target.name, &target.checks),
        )
    });
    let intervals: Vec<Duration> = target
        .checks
        .iter()
        .map(|c| Duration::from_millis(c.interval_ms).max(MIN_INTERVAL))
        .collect();
    let mut due: Vec<tokio::time::Instant> = vec![tokio::time::Instant::now(); intervals.len()];
    loop {
        let Some(&next) = due.iter().min() else {
            return;
        };
        tokio::time::sleep_until(next).await;
        let now = tokio::time::Instant::now();
        let startup_passed = shared.with_states(|s| {
            s.get(&target.name)
                .is_some_and(ContainerHealth::startup_passed)
        });
        let mut running = Vec::new();
        for (index, check) in target.checks.iter().enumerate() {
            if due[index] > now {
                continue;
            }
            let lag = now.saturating_duration_since(due[index]);
            // Keep the cadence; after a long stall, start counting again from now.
            due[index] += intervals[index];
            if due[index] <= now {
                due[index] = now + intervals[index];
            }
            if check.kind != CheckKind::Startup && !startup_passed {
                continue; // gated until the startup checks pass
            }
            running.push((index, check, lag));
        }
        let info_ref = &info;
        let ctx_ref = &ctx;
        let outcomes =
            futures::future::join_all(running.into_iter().map(|(index, check, lag)| async move {
                let timeout = Duration::from_millis(check.timeout_ms);
                let outcome = ctx_ref
                    .prober
                    .run(&ctx_ref.runtime, &check.probe, info_ref, timeout)
                    .await;
                (index, check, lag, outcome)
            }))
            .await;
        let mut stopped = false;
        for (index, check, lag, outcome) in outcomes {
            shared.with_lags(|l| l.record(lag, outcome.healthy));
            if let Verdict::Stopped = judge(&ctx, &shared, &target, index, check, outcome).await {
                stopped = true;
                break;
            }
        }
        if stopped {
            // Judge the next run afresh, once the restart policy has started it again.
            match wait_for_restart(&ctx, &target, &info).await {
                Some(restarted) => info = restarted,
                None => return,
            }
            shared.with_states(|s| {
                s.insert(
                    target.name.clone(),
                    ContainerHealth::new(&target.name, &target.checks),
                )
            });
            due.fill(tokio::time::Instant::now());
        }
    }
}

/// Waits until the container runs again with a later start time; `None` when it is gone.
async fn wait_for_restart(
    ctx: &Ctx,
    target: &Target,
    before: &ContainerInfo,
) -> Option<ContainerInfo> {
    let previous: Option<SystemTime> = before.started_at;
    loop {
        tokio::time::sleep(REFRESH).await;
        let info = ctx.runtime.inspect_container(&target.id).await.ok()?;
        if info.status.is_alive() && info.started_at != previous {
            return Some(info);
        }
    }
}

/// Counts one probe's outcome and acts on a transition.
async fn judge(
    ctx: &Ctx,
    shared: &Shared,
    target: &Target,
    index: usize,
    check: &HealthCheck,
    outcome: ProbeOutcome,
) -> Verdict {
    let transition = shared.with_states(|states| {
        let health = states.get_mut(&target.name)?;
        let in_start_period =
            health.started.elapsed() < Duration::from_millis(check.start_period_ms);
        let state = health.checks.get_mut(index)?;
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
    });
    let Some((from, to)) = transition else {
        return Verdict::Carry;
    };
    ctx.emit(target.event("health-changed").with_payload(json!({
        "check": check.kind.as_str(),
        "from": from,
        "to": to,
        "detail": outcome.detail,
    })))
    .await;
    if to != CheckStatus::Failing || !matches!(check.kind, CheckKind::Liveness | CheckKind::Startup)
    {
        return Verdict::Carry;
    }
    ctx.emit(target.event("container-unhealthy").with_payload(json!({
        "check": check.kind.as_str(),
        "detail": outcome.detail,
        "action": "stop; the restart policy decides what follows",
    })))
    .await;
    // The exit is a death like any other: the reconciler's restart policy handles it.
    if let Err(error) = ctx
        .runtime
        .stop_container(&target.id, ctx.settings.stop_timeout)
        .await
    {
        tracing::warn!(container = %target.name, %error, "could not stop an unhealthy container");
    }
    Verdict::Stopped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_quantiles_cover_the_recent_window() {
        let mut lags = LagRecorder::default();
        assert_eq!(lags.stats().lag_p99, Duration::ZERO);
        for ms in 1..=100 {
            lags.record(Duration::from_millis(ms), ms % 10 != 0);
        }
        let stats = lags.stats();
        assert_eq!(
            (stats.probes, stats.unhealthy, stats.window),
            (100, 10, 100)
        );
        assert_eq!(stats.lag_p50, Duration::from_millis(50));
        assert_eq!(stats.lag_p99, Duration::from_millis(99));
        assert_eq!(stats.lag_max, Duration::from_millis(100));
        for _ in 0..LAG_WINDOW {
            lags.record(Duration::ZERO, true);
        }
        assert_eq!(
            lags.stats().lag_max,
            Duration::ZERO,
            "old lags leave the window"
        );
    }
}
