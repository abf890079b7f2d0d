//! Stack networks this engine owns and no longer wants.
//!
//! Every stack gets a bridge network (`wl_<engine>_<org>_<stack>`), ensured by the pass that
//! first creates one of its containers. Once a stack has no declared service, its network goes
//! too: Docker's default address pools hold about 31 bridge networks, so networks of removed
//! stacks would soon make every deploy fail. The rules are the containers' (see `orphans`): a
//! network this process ensured is removed at once; one it never saw in use — found after a
//! restart — only after the grace period, in case the declaration that explains it is still
//! being written. Networks without this engine's label are never listed, so never touched; a
//! network something else is still attached to stays until it is free. The network's probe
//! container (see `health::route`) is removed with it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{ReconcileReport, Reconciler};
use crate::NewEvent;
use crate::runtime::RuntimeError;
use crate::runtime::labels::{LABEL_ENGINE, LABEL_MANAGED, LABEL_ORG, LABEL_STACK};

/// How soon to look again at a network that still had endpoints (a container of this pass
/// being removed, or one Docker has not detached yet).
const BUSY_RETRY: Duration = Duration::from_secs(2);

impl Reconciler {
    /// Removes the engine's networks of stacks that have no declared service. `wanted` holds
    /// the (org, stack) pairs that do.
    pub(super) async fn prune_networks(
        &mut self,
        wanted: &HashSet<(String, String)>,
        report: &mut ReconcileReport,
    ) {
        let ctx = self.ctx.clone();
        let owned = match ctx
            .runtime
            .list_networks(&[(LABEL_MANAGED, "true"), (LABEL_ENGINE, &ctx.engine_id)])
            .await
        {
            Ok(owned) => owned,
            Err(error) => {
                report.errors.push(format!("listing networks: {error}"));
                return;
            }
        };
        let mut present = HashSet::new();
        for network in owned {
            present.insert(network.id.clone());
            let (Some(org), Some(stack)) = (
                network.labels.get(LABEL_ORG),
                network.labels.get(LABEL_STACK),
            ) else {
                continue;
            };
            if wanted.contains(&(org.clone(), stack.clone())) {
                self.networks_seen.remove(&network.id);
                continue;
            }
            let known = self.ensured.contains(&network.name);
            let first_seen = *self
                .networks_seen
                .entry(network.id.clone())
                .or_insert_with(Instant::now);
            let waited = first_seen.elapsed();
            if !known && waited < ctx.settings.orphan_grace {
                report.wake_in(Some(ctx.settings.orphan_grace - waited));
                continue;
            }
            // The network's probe container (in-network probes) goes first: it would keep
            // the network busy forever.
            let probe = crate::health::route::probe_container_name(&network.name);
            match ctx.runtime.remove_container(&probe, true).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => ctx.prober.forget(&network.name),
                Err(error) => {
                    report.errors.push(format!("{probe}: {error}"));
                    continue;
                }
            }
            match ctx.runtime.remove_network(&network.id).await {
                Ok(()) | Err(RuntimeError::NotFound { .. }) => {
                    self.ensured.remove(&network.name);
                    self.networks_seen.remove(&network.id);
                    report.networks_removed += 1;
                    ctx.emit(
                        NewEvent::new("network-removed")
                            .with_org(org)
                            .with_stack(stack)
                            .with_payload(serde_json::json!({ "network": network.name })),
                    )
                    .await;
                }
                Err(RuntimeError::Conflict { .. }) => {
                    tracing::debug!(network = %network.name, "network still in use; retrying later");
                    report.wake_in(Some(BUSY_RETRY));
                }
                Err(error) => report.errors.push(format!("{}: {error}", network.name)),
            }
        }
        self.networks_seen.retain(|id, _| present.contains(id));
    }
}
