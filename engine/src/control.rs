//! Operator actions on one managed container: stop, start, restart.
//!
//! Each action takes the reconciler's lock (so no pass acts on the container meanwhile),
//! checks the lifecycle guard, acts on Docker, persists the new state, then emits the event.
//! A stopped container stays stopped: the reconciler leaves `stopped` slots alone until an
//! operator starts them or their configuration changes.

use serde_json::json;

use crate::engine::Engine;
use crate::lifecycle::ContainerState;
use crate::reconcile::now_ms;
use crate::store::ContainerRecord;
use crate::{EngineError, NewEvent};

impl Engine {
    /// Stops a managed container gracefully (its stop signal, then SIGKILL after the stop
    /// timeout) and keeps it stopped.
    #[tracing::instrument(name = "engine.stop", skip(self), fields(engine = %self.id()))]
    pub async fn stop(&self, name: &str) -> Result<(), EngineError> {
        let _pass = self.inner().reconciler.lock().await;
        let mut record = self.record(name).await?;
        let state = parse_state(&record);
        if !(state.can_stop() || state == ContainerState::BackingOff) {
            return Err(EngineError::Conflict {
                what: format!(
                    "container {name} is {state}; only a running or created container can be stopped"
                ),
            });
        }
        let ctx = &self.inner().ctx;
        ctx.runtime
            .stop_container(name, ctx.settings.stop_timeout)
            .await?;
        record.state = ContainerState::Stopped.as_str().to_owned();
        record.backoff_until_ms = None;
        self.persist_and_announce(record, "container-stopped", json!({}))
            .await
    }

    /// Starts a stopped, failed or exited managed container again, with a fresh restart count.
    #[tracing::instrument(name = "engine.start", skip(self), fields(engine = %self.id()))]
    pub async fn start(&self, name: &str) -> Result<(), EngineError> {
        let _pass = self.inner().reconciler.lock().await;
        let mut record = self.record(name).await?;
        let state = parse_state(&record);
        if !matches!(
            state,
            ContainerState::Stopped
                | ContainerState::Failed
                | ContainerState::Exited
                | ContainerState::BackingOff
        ) {
            return Err(EngineError::Conflict {
                what: format!("container {name} is {state}; it is not stopped"),
            });
        }
        let ctx = &self.inner().ctx;
        ctx.runtime.start_container(name).await?;
        record.state = ContainerState::Running.as_str().to_owned();
        record.restart_count = 0;
        record.backoff_until_ms = None;
        self.persist_and_announce(record, "container-started", json!({ "by": "operator" }))
            .await
    }

    /// Restarts a running managed container (stop with the stop timeout, then start).
    #[tracing::instrument(name = "engine.restart", skip(self), fields(engine = %self.id()))]
    pub async fn restart(&self, name: &str) -> Result<(), EngineError> {
        let _pass = self.inner().reconciler.lock().await;
        let record = self.record(name).await?;
        let state = parse_state(&record);
        if state != ContainerState::Running {
            return Err(EngineError::Conflict {
                what: format!(
                    "container {name} is {state}; only a running container can be restarted"
                ),
            });
        }
        let ctx = &self.inner().ctx;
        ctx.runtime
            .restart_container(name, ctx.settings.stop_timeout)
            .await?;
        self.persist_and_announce(record, "container-restarted", json!({ "by": "operator" }))
            .await
    }

    /// Persists the record's new state, then emits the event (in that order).
    async fn persist_and_announce(
        &self,
        mut record: ContainerRecord,
        kind: &str,
        payload: serde_json::Value,
    ) -> Result<(), EngineError> {
        let ctx = &self.inner().ctx;
        record.updated_ms = now_ms();
        ctx.store.upsert_container_record(&record).await?;
        ctx.emit(event(kind, &record).with_payload(payload)).await;
        Ok(())
    }

    async fn record(&self, name: &str) -> Result<ContainerRecord, EngineError> {
        self.inner()
            .ctx
            .store
            .get_container_record(name)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("managed container {name}"),
            })
    }
}

fn parse_state(record: &ContainerRecord) -> ContainerState {
    record.state.parse().unwrap_or(ContainerState::Pending)
}

fn event(kind: &str, record: &ContainerRecord) -> NewEvent {
    NewEvent::new(kind)
        .with_org(&record.org)
        .with_stack(&record.stack)
        .with_service(&record.service)
        .with_container(&record.container_name)
}
