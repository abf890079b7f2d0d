//! Declaring desired state: applying and removing services.

use super::Engine;
use crate::NewEvent;
use crate::spec::validate_name;
use crate::store::{DesiredService, Scope};
use crate::{EngineError, ServiceSpec};

impl Engine {
    /// Declares a service of a stack (creating or updating it). The revision goes up when the
    /// spec changes. The reconciler acts on it at once when `run` is running.
    #[tracing::instrument(name = "engine.apply", skip(self, spec), fields(engine = %self.id(), service = %spec.name))]
    pub async fn apply(
        &self,
        org: &str,
        stack: &str,
        spec: ServiceSpec,
    ) -> Result<DesiredService, EngineError> {
        validate_name("org", org)?;
        validate_name("stack", stack)?;
        spec.validate()?;
        self.inner.ctx.settings.policy.check(org, &spec)?;
        crate::placement::check(&self.inner.targets, &spec)?;
        let change = crate::billing::quota::Change {
            stack: stack.to_owned(),
            service: spec.name.clone(),
            after: Some((crate::billing::meter::per_replica_of(&spec), spec.replicas)),
        };
        crate::billing::quota::check(&self.inner.ctx, &self.inner.billing, org, &[change]).await?;
        let mut spec = spec;
        self.bind_secrets(org, &mut spec).await?;
        self.store_service(org, stack, spec).await
    }

    /// [`Engine::apply`] after its checks (names, spec, policy, quota) with its secret
    /// references bound: a new revision when the spec changed, kept for rollbacks, announced,
    /// and the reconciler woken.
    pub(crate) async fn store_service(
        &self,
        org: &str,
        stack: &str,
        spec: ServiceSpec,
    ) -> Result<DesiredService, EngineError> {
        let ctx = &self.inner.ctx;
        let mut spec = spec;
        let previous = ctx
            .store
            .get_desired_service(org, stack, &spec.name)
            .await?;
        let previous_spec: Option<ServiceSpec> = previous
            .as_ref()
            .and_then(|p| serde_json::from_value(p.spec.clone()).ok());
        let needs_build = self.prepare_build(org, stack, &mut spec, previous_spec.as_ref());
        let value = serde_json::to_value(&spec).map_err(|e| EngineError::Config(e.to_string()))?;
        // Scaling is not a new revision: the replica count stays out of the hash.
        let config_hash = spec_hash(&ServiceSpec {
            replicas: 0,
            ..spec.clone()
        })?;
        // After a rollback the current revision is not the highest: a new one never reuses a
        // number.
        let revision = match &previous {
            Some(p) if p.config_hash == config_hash => p.revision,
            _ => ctx.store.highest_revision(org, stack, &spec.name).await? + 1,
        };
        let desired = DesiredService {
            org: org.to_owned(),
            stack: stack.to_owned(),
            service: spec.name.clone(),
            revision,
            replicas: spec.replicas,
            spec: value,
            config_hash,
            updated_ms: crate::reconcile::now_ms(),
        };
        ctx.store.upsert_desired_service(&desired).await?;
        ctx.ledger.declared(
            org,
            stack,
            &spec.name,
            crate::billing::meter::per_replica_of(&spec),
            spec.replicas,
        );
        if previous.as_ref().is_none_or(|p| p.revision != revision) {
            let kept = crate::store::ServiceRevision {
                revision,
                spec: desired.spec.clone(),
                config_hash: desired.config_hash.clone(),
                created_ms: desired.updated_ms,
            };
            ctx.store
                .keep_revision(org, stack, &spec.name, &kept)
                .await?;
        }
        ctx.emit(
            NewEvent::new("service-applied")
                .with_org(org)
                .with_stack(stack)
                .with_service(&spec.name)
                .with_payload(
                    serde_json::json!({ "revision": revision, "replicas": spec.replicas }),
                ),
        )
        .await;
        self.inner.wake.notify_one();
        self.inner.placement.wake.notify_one();
        if needs_build && let Some(source) = spec.build.clone() {
            self.enqueue_build(org, stack, &spec.name, source, None, "declared", None)
                .await?;
        }
        Ok(desired)
    }

    /// Removes a service; its containers are stopped and removed by the reconciler. Returns
    /// whether it existed.
    pub async fn remove_service(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<bool, EngineError> {
        let ctx = &self.inner.ctx;
        let existed = ctx
            .store
            .delete_desired_service(org, stack, service)
            .await?;
        ctx.ledger.removed(org, stack, service);
        if existed {
            ctx.emit(
                NewEvent::new("service-removed")
                    .with_org(org)
                    .with_stack(stack)
                    .with_service(service),
            )
            .await;
            self.inner.wake.notify_one();
            self.inner.placement.wake.notify_one();
        }
        Ok(existed)
    }

    /// The declared services in `scope`.
    pub async fn services(&self, scope: Scope<'_>) -> Result<Vec<DesiredService>, EngineError> {
        Ok(self.inner.ctx.store.list_desired_services(scope).await?)
    }
}

/// The hash of a declared spec, to tell whether an apply changed anything. The JSON form is
/// canonical: `env` is a sorted map and every other field keeps its declared order.
fn spec_hash(spec: &ServiceSpec) -> Result<String, EngineError> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(spec).map_err(|e| EngineError::Config(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(&json)))
}

impl Engine {
    /// The kept revisions of a service (the last ten), newest first.
    pub async fn revisions(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<Vec<crate::store::ServiceRevision>, EngineError> {
        Ok(self.inner.ctx.store.revisions(org, stack, service).await?)
    }

    /// A service's current or last rolling update.
    pub async fn rollout(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<Option<crate::store::Rollout>, EngineError> {
        Ok(self.inner.ctx.store.rollout(org, stack, service).await?)
    }

    /// Rolls a service back to a kept revision (default: the one before the current), keeping
    /// the current replica count. The replicas are replaced like in any update (start-first
    /// unless the service says otherwise). Returns the service as now desired.
    pub async fn rollback(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        to_revision: Option<u64>,
    ) -> Result<DesiredService, EngineError> {
        let ctx = &self.inner.ctx;
        let current = ctx
            .store
            .get_desired_service(org, stack, service)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("service {org}/{stack}/{service}"),
            })?;
        let target = match to_revision {
            Some(wanted) => wanted,
            None => ctx
                .store
                .revisions(org, stack, service)
                .await?
                .iter()
                .find(|r| r.revision < current.revision)
                .map(|r| r.revision)
                .ok_or_else(|| EngineError::NotFound {
                    what: format!(
                        "a kept revision of {org}/{stack}/{service} before {}",
                        current.revision
                    ),
                })?,
        };
        // A revision kept from before the operator tightened the policy is refused like a new
        // declaration would be.
        if let Some(kept) = ctx
            .store
            .revisions(org, stack, service)
            .await?
            .into_iter()
            .find(|r| r.revision == target)
            && let Ok(spec) = serde_json::from_value::<ServiceSpec>(kept.spec)
        {
            ctx.settings.policy.check(org, &spec)?;
        }
        let desired = crate::reconcile::rollout::desire_revision(ctx, &current, target).await?;
        ctx.emit(
            NewEvent::new("rollback-requested")
                .with_org(org)
                .with_stack(stack)
                .with_service(service)
                .with_payload(serde_json::json!({
                    "from_revision": current.revision,
                    "to_revision": target,
                })),
        )
        .await;
        self.inner.wake.notify_one();
        self.inner.placement.wake.notify_one();
        Ok(desired)
    }
}
