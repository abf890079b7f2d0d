//! Keeping the containers matching the declarations: the reconcile loop and what wakes it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Ctx, Engine, Inner, RECHECK_AFTER};

use futures::StreamExt;

use crate::EngineError;
use crate::reconcile::ReconcileReport;

impl Engine {
    /// Runs one reconcile pass now and returns what it did.
    pub async fn reconcile(&self) -> Result<ReconcileReport, EngineError> {
        let readiness = self.inner.monitor.readiness();
        self.inner.reconciler.lock().await.pass(&readiness).await
    }

    /// Keeps the containers matching the declarations until `shutdown` resolves: reconciles at
    /// once (this is crash recovery), then on every declaration, every Docker event about the
    /// engine's containers, every due backoff or grace period, and every resync interval.
    /// Meanwhile it runs the declared health checks, follows resource use and records health
    /// snapshots. On shutdown it flushes the event log; containers keep running.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let ctx = self.inner.ctx.clone();
        tracing::info!(engine = %ctx.engine_id, "engine running");
        // Aborted when `run` returns *or is dropped* (a host app may drop the future, or abort
        // the task running it): nothing of this engine keeps acting behind its back.
        let mut background = Background(Vec::new());
        let watcher = tokio::spawn(watch_docker(ctx.clone(), self.inner.clone()));
        let inner = self.inner.clone();
        let monitor = tokio::spawn(async move { inner.monitor.supervise().await });
        let inner = self.inner.clone();
        let sampler = tokio::spawn(async move {
            if inner.ctx.settings.sampling {
                inner.sampler.supervise().await;
            }
        });
        let snapshots = tokio::spawn(record_snapshots(self.inner.clone()));
        let billing = tokio::spawn(super::billing::meter_and_bill(self.inner.clone()));
        let workers = tokio::spawn(super::workers::watch_workers(self.inner.clone()));
        let placements = tokio::spawn(super::placement::watch_placements(self.inner.clone()));
        background.0.extend([
            watcher, monitor, sampler, snapshots, billing, workers, placements,
        ]);
        tokio::pin!(shutdown);
        let result = loop {
            let report = match self.reconcile().await {
                Ok(report) => report,
                Err(error) => {
                    tracing::error!(%error, "reconcile pass failed; retrying");
                    ReconcileReport {
                        next_wake: Some(Duration::from_secs(1)),
                        ..ReconcileReport::default()
                    }
                }
            };
            let mut wait = report
                .next_wake
                .map_or(ctx.settings.resync, |w| w.min(ctx.settings.resync));
            if self
                .inner
                .recheck
                .swap(false, std::sync::atomic::Ordering::AcqRel)
            {
                wait = wait.min(RECHECK_AFTER);
            }
            tokio::select! {
                () = &mut shutdown => break Ok(()),
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        };
        drop(background);
        ctx.events.flush().await?;
        tracing::info!(engine = %ctx.engine_id, "engine stopped");
        result
    }
}

/// The engine's background tasks while `run` runs.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Records every container's health at the snapshot interval (the first one interval after
/// the start, when the sampler has readings).
async fn record_snapshots(inner: Arc<Inner>) {
    let every = inner
        .ctx
        .settings
        .snapshot_interval
        .max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match inner.snapshot_health().await {
            Ok(report) => tracing::debug!(?report, "health snapshots recorded"),
            Err(error) => tracing::warn!(%error, "could not record health snapshots"),
        }
    }
}

/// Wakes the reconciler on every Docker event about the engine's containers, reconnecting
/// after a dropped stream.
async fn watch_docker(ctx: Arc<Ctx>, inner: Arc<Inner>) {
    loop {
        let mut stream = ctx
            .runtime
            .events(&ctx.engine_id, Some(std::time::SystemTime::now()));
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    tracing::debug!(container = %event.name, action = ?event.action, "docker event");
                    inner
                        .recheck
                        .store(true, std::sync::atomic::Ordering::Release);
                    inner.wake.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, "docker event stream failed");
                    break;
                }
            }
        }
        // Whatever happened meanwhile is caught by the pass this wake-up triggers.
        inner.wake.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
