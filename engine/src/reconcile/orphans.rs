//! Containers this engine owns but no longer wants: replicas scaled away, services removed, or
//! leftovers found after a crash.
//!
//! A container this process managed is removed at once (the desired state says so). One it has
//! never managed — found after a restart — is removed only after the grace period, in case the
//! desired state that explains it is still being written.

use std::time::Instant;

use serde_json::json;

use super::{Learned, ReconcileReport};
use crate::engine::Ctx;
use crate::runtime::ContainerSummary;
use crate::runtime::labels::{LABEL_ORG, LABEL_SERVICE, LABEL_STACK};
use crate::store::ContainerRecord;
use crate::{EngineError, NewEvent};

pub(crate) struct OrphanWork {
    container: ContainerSummary,
    record: Option<ContainerRecord>,
    known: bool,
    first_seen: Instant,
}

impl OrphanWork {
    pub(crate) fn new(
        container: ContainerSummary,
        record: Option<ContainerRecord>,
        known: bool,
        first_seen: Instant,
    ) -> Self {
        Self {
            container,
            record,
            known,
            first_seen,
        }
    }

    pub(crate) async fn run(self, ctx: &Ctx) -> (ReconcileReport, Vec<Learned>) {
        let mut report = ReconcileReport::default();
        let mut learned = Vec::new();
        let waited = self.first_seen.elapsed();
        if !self.known && waited < ctx.settings.orphan_grace {
            report.wake_in(Some(ctx.settings.orphan_grace - waited));
            return (report, learned);
        }
        match self.remove(ctx).await {
            Ok(()) => {
                report.removed += 1;
                learned.push(Learned::Gone {
                    name: self.container.name.clone(),
                });
            }
            Err(error) => report
                .errors
                .push(format!("{}: {error}", self.container.name)),
        }
        (report, learned)
    }

    async fn remove(&self, ctx: &Ctx) -> Result<(), EngineError> {
        let c = &self.container;
        if c.status.is_alive() {
            ctx.runtime
                .stop_container(&c.id, ctx.settings.stop_timeout)
                .await
                .ok();
        }
        ctx.runtime.remove_container(&c.id, true).await?;
        if self.record.is_some() {
            ctx.store.delete_container_record(&c.name).await?;
        }
        let label = |key: &str| c.labels.get(key).cloned().unwrap_or_default();
        let kind = if self.known {
            "container-removed"
        } else {
            "orphan-removed"
        };
        ctx.emit(
            NewEvent::new(kind)
                .with_org(label(LABEL_ORG))
                .with_stack(label(LABEL_STACK))
                .with_service(label(LABEL_SERVICE))
                .with_container(&c.name)
                .with_payload(json!({ "container_id": c.id, "status": c.status.as_str() })),
        )
        .await;
        Ok(())
    }
}
