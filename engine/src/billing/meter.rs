//! Metering: what every managed container held and used, per interval of the engine's clock.
//!
//! The health sampler already follows Docker's stats stream of every running container; it
//! hands each sample to [`UsageMeter::record`], which integrates CPU and memory use over the
//! samples' real spacing and counts the bytes sent. [`close`] runs at least once a second: when
//! the engine's clock has passed an interval boundary, it writes one row per container and
//! closed interval (keyed by the interval's aligned start, so a replay changes nothing) and
//! resets the counters. When the engine starts, the span since its last recorded interval is
//! written as a gap with its length; nothing is invented for it.
//!
//! This module must not open streams of its own or price anything (`cycle` does).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{MeteringGap, UsageInterval};
use crate::engine::Ctx;
use crate::lifecycle::ContainerState;
use crate::runtime::StatsSnapshot;
use crate::store::Scope;
use crate::{EngineError, NewEvent, ServiceSpec};

/// The longest spacing between two samples credited as use: a stream that stalled or
/// reconnected does not invent use for the time it was silent.
const MAX_SAMPLE_GAP: Duration = Duration::from_secs(10);

/// What one container's samples added up to since the last close.
#[derive(Debug, Default)]
struct Accumulated {
    org: String,
    stack: String,
    service: String,
    cpu_millis: Option<u32>,
    memory_bytes: Option<u64>,
    /// Core-milliseconds of CPU used.
    cpu_core_ms: f64,
    /// Byte-milliseconds of memory used.
    memory_byte_ms: u128,
    egress_bytes: u64,
    last_tx: Option<u64>,
    last_at: Option<Instant>,
    /// The engine clock at the container's first sample.
    first_seen_ms: Option<i64>,
    /// The engine clock at its latest sample.
    last_seen_ms: i64,
    /// Whether a sample arrived since the last close.
    fresh: bool,
    /// Storage held (writable layer and volumes), bytes, as the latest health snapshot
    /// measured it; kept across closes until the next measurement.
    disk_bytes: Option<u64>,
}

/// The usage counters the sampler feeds. Cheap to clone; clones share the counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageMeter {
    inner: Arc<Mutex<HashMap<String, Accumulated>>>,
    work: Arc<WorkCounters>,
}

/// What metering has cost so far (see [`MeteringWork`]).
#[derive(Debug, Default)]
struct WorkCounters {
    samples: std::sync::atomic::AtomicU64,
    sample_ns: std::sync::atomic::AtomicU64,
    closes: std::sync::atomic::AtomicU64,
    close_ns: std::sync::atomic::AtomicU64,
}

/// What metering has cost this engine since it started: the samples counted and the CPU time
/// spent counting them (the thread's own clock), and the closes and the time they took (wall
/// time, store writes included: an upper bound of their CPU time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MeteringWork {
    /// Stats samples counted.
    pub samples: u64,
    /// CPU time spent counting them.
    pub sample_time: Duration,
    /// Closes that wrote intervals.
    pub closes: u64,
    /// Time those closes took.
    pub close_time: Duration,
}

impl MeteringWork {
    /// Both times together.
    pub fn total(&self) -> Duration {
        self.sample_time + self.close_time
    }
}

/// Where a sampled container belongs and what it was given (from its inspect data).
pub(crate) struct SampledContainer<'a> {
    pub name: &'a str,
    pub org: &'a str,
    pub stack: &'a str,
    pub service: &'a str,
    pub cpu_millis: Option<u32>,
    pub memory_bytes: Option<u64>,
}

/// CPU time of the calling thread. Counting a sample is synchronous (no await in between), so
/// the difference of two readings is the CPU it took, whatever else the machine does.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

impl WorkCounters {
    fn sample_done(&self, cpu: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let ns = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
        self.samples.fetch_add(1, Relaxed);
        self.sample_ns.fetch_add(ns, Relaxed);
    }
}

impl UsageMeter {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Accumulated>) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Counts one stats sample of a running container.
    pub(crate) fn record(
        &self,
        container: &SampledContainer<'_>,
        stats: &StatsSnapshot,
        now_ms: i64,
    ) {
        let cpu = thread_cpu();
        let now = Instant::now();
        self.with(|all| {
            // Once per container, not per sample: the name and labels are only copied when
            // they are new or changed (a sample a second per container adds up).
            if !all.contains_key(container.name) {
                all.insert(container.name.to_owned(), Accumulated::default());
            }
            let Some(acc) = all.get_mut(container.name) else {
                return;
            };
            for (have, want) in [
                (&mut acc.org, container.org),
                (&mut acc.stack, container.stack),
                (&mut acc.service, container.service),
            ] {
                if have != want {
                    want.clone_into(have);
                }
            }
            acc.cpu_millis = container.cpu_millis;
            acc.memory_bytes = container.memory_bytes;
            if let Some(last) = acc.last_at {
                let spacing = now.duration_since(last).min(MAX_SAMPLE_GAP);
                let ms = spacing.as_secs_f64() * 1000.0;
                acc.cpu_core_ms += (stats.cpu_percent / 100.0).max(0.0) * ms;
                acc.memory_byte_ms = acc
                    .memory_byte_ms
                    .saturating_add(u128::from(stats.memory_usage_bytes) * spacing.as_millis());
            }
            if let Some(previous) = acc.last_tx {
                // A counter that went down was reset (the container restarted): all of it is new.
                let sent = stats
                    .network_tx_bytes
                    .checked_sub(previous)
                    .unwrap_or(stats.network_tx_bytes);
                acc.egress_bytes = acc.egress_bytes.saturating_add(sent);
            }
            acc.last_tx = Some(stats.network_tx_bytes);
            acc.last_at = Some(now);
            acc.first_seen_ms.get_or_insert(now_ms);
            acc.last_seen_ms = now_ms;
            acc.fresh = true;
        });
        self.work.sample_done(thread_cpu().saturating_sub(cpu));
    }

    /// What metering has cost so far.
    pub(crate) fn work(&self) -> MeteringWork {
        use std::sync::atomic::Ordering::Relaxed;
        let w = &self.work;
        MeteringWork {
            samples: w.samples.load(Relaxed),
            sample_time: Duration::from_nanos(w.sample_ns.load(Relaxed)),
            closes: w.closes.load(Relaxed),
            close_time: Duration::from_nanos(w.close_ns.load(Relaxed)),
        }
    }

    fn close_done(&self, started: Instant) {
        use std::sync::atomic::Ordering::Relaxed;
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.work.closes.fetch_add(1, Relaxed);
        self.work.close_ns.fetch_add(ns, Relaxed);
    }

    /// The storage `container` holds (writable layer plus the volumes it is charged for), as
    /// a health snapshot measured it; a container without samples yet is not metered.
    pub(crate) fn set_disk(&self, container: &str, bytes: Option<u64>) {
        self.with(|all| {
            if let Some(acc) = all.get_mut(container) {
                acc.disk_bytes = bytes;
            }
        });
    }

    /// Takes the use counted since the last drain (keeping what the next samples need).
    fn drain(&self) -> HashMap<String, Drained> {
        self.with(|all| {
            // A container without samples since the last close is gone: forget it.
            all.retain(|_, acc| std::mem::take(&mut acc.fresh) || acc.cpu_core_ms > 0.0);
            all.iter_mut()
                .map(|(name, acc)| {
                    let drained = Drained {
                        org: acc.org.clone(),
                        stack: acc.stack.clone(),
                        service: acc.service.clone(),
                        cpu_millis: acc.cpu_millis,
                        memory_bytes: acc.memory_bytes,
                        cpu_core_ms: std::mem::take(&mut acc.cpu_core_ms).round() as u64,
                        memory_byte_s: u64::try_from(
                            std::mem::take(&mut acc.memory_byte_ms) / 1000,
                        )
                        .unwrap_or(u64::MAX),
                        egress_bytes: std::mem::take(&mut acc.egress_bytes),
                        disk_bytes: acc.disk_bytes,
                        first_seen_ms: acc.first_seen_ms,
                        last_seen_ms: acc.last_seen_ms,
                    };
                    (name.clone(), drained)
                })
                .collect()
        })
    }
}

/// One container's use since the last close.
#[derive(Debug, Clone)]
struct Drained {
    org: String,
    stack: String,
    service: String,
    cpu_millis: Option<u32>,
    memory_bytes: Option<u64>,
    cpu_core_ms: u64,
    memory_byte_s: u64,
    egress_bytes: u64,
    disk_bytes: Option<u64>,
    first_seen_ms: Option<i64>,
    last_seen_ms: i64,
}

/// The closer's memory: where the last closed interval ended.
#[derive(Debug, Default)]
pub(crate) struct MeterState {
    metered_until: Option<i64>,
    /// Containers running at the last close: metered from the interval's start, whenever
    /// their first stats sample arrives (a container new since then, from its first sample).
    known: std::collections::HashSet<String>,
}

/// The names of the running containers among `records`.
fn running_names(records: &[crate::ContainerRecord]) -> std::collections::HashSet<String> {
    records
        .iter()
        .filter(|r| r.state == ContainerState::Running.as_str() && r.container_id.is_some())
        .map(|r| r.container_name.clone())
        .collect()
}

/// What one [`close`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MeterReport {
    /// Intervals closed now.
    pub intervals: u32,
    /// Rows written that were not stored yet.
    pub rows: u64,
    /// The gap recorded at the start, if any.
    pub gap: Option<MeteringGap>,
    /// Where metering now stands (engine clock, ms).
    pub metered_until: i64,
}

/// Closes every interval the engine's clock has passed.
pub(crate) async fn close(ctx: &Ctx, state: &mut MeterState) -> Result<MeterReport, EngineError> {
    let interval = i64::try_from(ctx.settings.metering_interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let now = ctx.now_ms();
    let mut report = MeterReport::default();
    let Some(until) = state.metered_until else {
        // The first close of this run: what happened since the last run is a gap.
        let stored = ctx.store.metered_until(&ctx.engine_id).await?;
        if let Some(stored) = stored
            && stored < now
        {
            let gap = MeteringGap {
                engine: ctx.engine_id.clone(),
                start_ms: stored,
                end_ms: now,
            };
            ctx.store.insert_gap(&gap).await?;
            ctx.emit(
                NewEvent::new("metering-gap").with_payload(serde_json::json!({
                    "start_ms": gap.start_ms,
                    "end_ms": gap.end_ms,
                    "length_ms": gap.end_ms - gap.start_ms,
                })),
            )
            .await;
            report.gap = Some(gap);
        }
        let from = stored.map_or(now, |s| s.max(now));
        state.metered_until = Some(from);
        state.known = running_names(&ctx.store.list_container_records(Scope::All).await?);
        ctx.meter.drain();
        report.metered_until = from;
        return Ok(report);
    };
    let boundary = now - now.rem_euclid(interval);
    report.metered_until = until;
    if boundary <= until {
        return Ok(report);
    }
    let started = Instant::now();
    // The closed spans: [until, next aligned boundary), then whole intervals up to `boundary`.
    let mut spans = Vec::new();
    let mut start = until;
    while start < boundary {
        let aligned = start - start.rem_euclid(interval);
        let end = (aligned + interval).min(boundary);
        spans.push((aligned, start, end));
        start = end;
    }
    let running = ctx.store.list_container_records(Scope::All).await?;
    let allocation = allocations(&ctx.store.list_desired_services(Scope::All).await?);
    let mut drained = ctx.meter.drain();
    let mut rows = Vec::new();
    let mut add = |name: &str,
                   org: &str,
                   stack: &str,
                   service: &str,
                   used: Option<Drained>,
                   alive_until: i64| {
        let key = (org.to_owned(), stack.to_owned(), service.to_owned());
        let (cpu, memory) = allocation.get(&key).copied().unwrap_or_else(|| {
            used.as_ref()
                .map_or((None, None), |d| (d.cpu_millis, d.memory_bytes))
        });
        let first_seen = if state.known.contains(name) {
            i64::MIN
        } else {
            used.as_ref()
                .and_then(|d| d.first_seen_ms)
                .unwrap_or(i64::MIN)
        };

        let (cpu_used, memory_used, egress) = used.as_ref().map_or((0, 0, 0), |d| {
            (d.cpu_core_ms, d.memory_byte_s, d.egress_bytes)
        });
        let disk = used
            .as_ref()
            .and_then(|d| d.disk_bytes)
            .and_then(|b| i64::try_from(b).ok());
        // The spans this container was metered in: from its first sample, until it stopped.
        let effective: Vec<(i64, i64, i64)> = spans
            .iter()
            .filter_map(|&(aligned, span_start, span_end)| {
                let start_ms = span_start.max(first_seen);
                let end_ms = span_end.min(alive_until);
                (end_ms > start_ms).then_some((aligned, start_ms, end_ms))
            })
            .collect();
        let metered_ms: i64 = effective.iter().map(|(_, s, e)| e - s).sum();
        let mut given = (0u64, 0u64, 0u64);
        for (index, &(aligned, start_ms, end_ms)) in effective.iter().enumerate() {
            // Use is shared by the spans' lengths; the last takes the remainder.
            let last = index + 1 == effective.len();
            let share = |total: u64, given: &mut u64| {
                let part = if last {
                    total - *given
                } else {
                    let part = u128::from(total) * (end_ms - start_ms) as u128 / metered_ms as u128;
                    u64::try_from(part).unwrap_or(total)
                };
                *given += part;
                i64::try_from(part).unwrap_or(i64::MAX)
            };
            rows.push(UsageInterval {
                container: name.to_owned(),
                interval_start_ms: aligned,
                start_ms,
                end_ms,
                engine: ctx.engine_id.clone(),
                org: org.to_owned(),
                stack: stack.to_owned(),
                service: service.to_owned(),
                cpu_millis: cpu.map(i64::from),
                memory_bytes: memory.and_then(|m| i64::try_from(m).ok()),
                disk_bytes: disk,
                cpu_used_core_ms: share(cpu_used, &mut given.0),
                memory_used_byte_s: share(memory_used, &mut given.1),
                egress_bytes: share(egress, &mut given.2),
            });
        }
    };
    for record in running
        .iter()
        .filter(|r| r.state == ContainerState::Running.as_str() && r.container_id.is_some())
    {
        let used = drained.remove(&record.container_name);
        add(
            &record.container_name,
            &record.org,
            &record.stack,
            &record.service,
            used,
            i64::MAX,
        );
    }
    // Containers that sent samples but no longer run: metered until their last sample.
    for (name, used) in drained {
        let (org, stack, service, last) = (
            used.org.clone(),
            used.stack.clone(),
            used.service.clone(),
            used.last_seen_ms,
        );
        add(&name, &org, &stack, &service, Some(used), last);
    }
    report.intervals = u32::try_from(spans.len()).unwrap_or(u32::MAX);
    report.rows = ctx.store.insert_usage(&rows).await?;
    ctx.meter.close_done(started);
    state.metered_until = Some(boundary);
    state.known = running_names(&running);
    report.metered_until = boundary;
    Ok(report)
}

/// What one replica is given: CPU millis and memory bytes (`None`: no limit).
pub(crate) type PerReplica = (Option<u32>, Option<u64>);

/// Each declared service's allocation per replica, by (org, stack, service).
fn allocations(
    services: &[crate::DesiredService],
) -> BTreeMap<(String, String, String), PerReplica> {
    services
        .iter()
        .map(|s| {
            let key = (s.org.clone(), s.stack.clone(), s.service.clone());
            (key, per_replica(&s.spec))
        })
        .collect()
}

/// The CPU millis and memory bytes one replica of a stored spec is given.
pub(crate) fn per_replica(spec: &serde_json::Value) -> PerReplica {
    let Ok(spec) = serde_json::from_value::<ServiceSpec>(spec.clone()) else {
        return (None, None);
    };
    per_replica_of(&spec)
}

/// [`per_replica`] of a spec.
pub(crate) fn per_replica_of(spec: &ServiceSpec) -> PerReplica {
    let cpu = spec
        .cpu
        .as_deref()
        .and_then(|c| c.parse::<crate::resources::CpuMillis>().ok())
        .map(crate::resources::CpuMillis::millis);
    let memory = spec
        .memory
        .as_deref()
        .and_then(|m| m.parse::<crate::resources::MemoryBytes>().ok())
        .map(crate::resources::MemoryBytes::bytes);
    (cpu, memory)
}
