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
        self.inner.reconciler.lock().await.pass().await
    }

    /// Keeps the containers matching the declarations until `shutdown` resolves: reconciles at
    /// once (this is crash recovery), then on every declaration, every Docker event about the
    /// engine's containers, every due backoff or grace period, and every resync interval. On
    /// shutdown it flushes the event log; containers keep running.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let ctx = self.inner.ctx.clone();
        tracing::info!(engine = %ctx.engine_id, "engine running");
        let watcher = tokio::spawn(watch_docker(ctx.clone(), self.inner.clone()));
        let monitor = tokio::spawn(monitor_health(self.inner.clone()));
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
        watcher.abort();
        monitor.abort();
        ctx.events.flush().await?;
        tracing::info!(engine = %ctx.engine_id, "engine stopped");
        result
    }
}

/// Runs the health checks that are due, every monitor tick.
async fn monitor_health(inner: Arc<Inner>) {
    loop {
        if let Err(error) = inner.monitor.tick().await {
            tracing::warn!(%error, "health monitor tick failed");
        }
        tokio::time::sleep(crate::health::monitor::TICK).await;
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
