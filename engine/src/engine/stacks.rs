//! Declaring whole stacks: validate, interpolate and inject once, then store every service with
//! its dependencies so the reconciler starts them in order (see `reconcile::gates`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Engine, StackOrigin};
use crate::stacks::{StackSpec, Variables};
use crate::store::{DesiredService, Scope};
use crate::{EngineError, NewEvent, ServiceSpec};

/// What [`Engine::deploy_stack`] stored.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct StackDeployment {
    /// Every service of the stack as stored now (revision up where its spec changed).
    pub services: Vec<DesiredService>,
    /// Services of the stack's previous declaration that it no longer has (removed).
    pub removed: Vec<String>,
    /// The start order: services of one wave start in parallel once the earlier waves meet
    /// the conditions their dependents wait for.
    pub waves: Vec<Vec<String>>,
}

/// One service of a stack, as it runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct ServiceStatus {
    /// The service.
    pub service: String,
    /// Its stored revision.
    pub revision: u64,
    /// Replicas wanted.
    pub replicas: u32,
    /// Replicas running.
    pub running: u32,
    /// Running replicas whose readiness checks pass (all running ones without checks).
    pub ready: u32,
    /// Where it runs: `local`, or an adapter target.
    pub target: String,
}

/// A declared stack and how its services run now ([`Engine::stacks`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct StackStatus {
    /// The org that owns it.
    pub org: String,
    /// The stack's name.
    pub stack: String,
    /// Its services, by name.
    pub services: Vec<ServiceStatus>,
}

impl StackStatus {
    /// Whether every service of the stack is ready.
    pub fn is_ready(&self) -> bool {
        self.services.iter().all(ServiceStatus::is_ready)
    }
}

impl ServiceStatus {
    /// Whether every wanted replica runs and is ready.
    pub fn is_ready(&self) -> bool {
        self.ready == self.replicas && self.running == self.replicas
    }
}

impl Engine {
    /// Declares a whole stack: validates it (every problem at once, each with its field),
    /// interpolates `${VAR}` in env and `provides` with `params` and the engine's own
    /// `WINDLASS_ORG`/`WINDLASS_STACK`, injects each dependency's `provides` into its
    /// dependents, and stores every service. Services the stack no longer has are removed.
    /// Nothing is stored when anything is wrong. The reconciler then starts each service once
    /// its dependencies meet their conditions (`started`, `healthy`, `completed`).
    ///
    /// The stack's origin is recorded as [`StackOrigin::Api`]; see
    /// [`Engine::deploy_stack_from`].
    pub async fn deploy_stack(
        &self,
        org: &str,
        stack: &str,
        spec: &StackSpec,
        params: &BTreeMap<String, String>,
    ) -> Result<StackDeployment, EngineError> {
        self.deploy_stack_from(org, stack, spec, params, StackOrigin::Api)
            .await
    }

    /// [`Engine::deploy_stack`], recording `origin` as who declared the stack (the last
    /// declaration wins): the runner declares the stacks of its file with
    /// [`StackOrigin::File`], so that it can remove them once the file drops them
    /// ([`Engine::remove_stack_from`]) and leave the API's alone.
    #[tracing::instrument(name = "engine.deploy_stack", skip(self, spec, params), fields(engine = %self.id()))]
    pub async fn deploy_stack_from(
        &self,
        org: &str,
        stack: &str,
        spec: &StackSpec,
        params: &BTreeMap<String, String>,
        origin: StackOrigin,
    ) -> Result<StackDeployment, EngineError> {
        crate::spec::validate_name("org", org)?;
        crate::spec::validate_name("stack", stack)?;
        let mut vars = Variables::for_stack(org, stack);
        for (name, value) in params {
            vars.insert(&format!("params.{name}"), name, value)
                .map_err(|e| EngineError::InvalidStack(e.into()))?;
        }
        let resolved = spec.resolve(&vars).map_err(EngineError::InvalidStack)?;
        let waves = resolved.graph().waves().to_vec();
        let previous = self.services(Scope::Stack { org, stack }).await?;
        let resolved = resolved.into_services();
        // Every service is checked, its secret references bound, before anything is stored.
        let mut bound = Vec::with_capacity(resolved.len());
        for mut service in resolved {
            if service.target.is_none() {
                service.target.clone_from(&spec.target);
            }
            service.validate()?;
            self.inner.ctx.settings.policy.check(org, &service)?;
            crate::placement::check(&self.inner.targets, &service)?;
            self.bind_secrets(org, &mut service)
                .await
                .map_err(|e| match e {
                    EngineError::InvalidSpec(e) => EngineError::InvalidSpec(crate::SpecError {
                        field: format!("services.{}.{}", service.name, e.field),
                        message: e.message,
                    }),
                    other => other,
                })?;
            bound.push(service);
        }
        let resolved = bound;
        // One quota check for the whole stack, before anything is stored.
        let mut changes: Vec<_> = resolved
            .iter()
            .map(|s| crate::billing::quota::Change {
                stack: stack.to_owned(),
                service: s.name.clone(),
                after: Some((crate::billing::meter::per_replica_of(s), s.replicas)),
            })
            .collect();
        changes.extend(
            previous
                .iter()
                .filter(|old| !resolved.iter().any(|s| s.name == old.service))
                .map(|old| crate::billing::quota::Change {
                    stack: stack.to_owned(),
                    service: old.service.clone(),
                    after: None,
                }),
        );
        crate::billing::quota::check(&self.inner.ctx, &self.inner.billing, org, &changes).await?;
        // Before the services: a stack whose origin is recorded but none of whose services
        // are (a crash in between) is harmless to prune; the reverse would leak.
        self.inner
            .ctx
            .store
            .set_stack_origin(org, stack, origin)
            .await?;
        let mut services = Vec::new();
        for service in resolved {
            services.push(self.store_service(org, stack, service).await?);
        }
        let mut removed = Vec::new();
        for old in previous {
            if !services.iter().any(|s| s.service == old.service) {
                self.remove_service(org, stack, &old.service).await?;
                removed.push(old.service);
            }
        }
        self.inner
            .ctx
            .emit(
                NewEvent::new("stack-deployed")
                    .with_org(org)
                    .with_stack(stack)
                    .with_payload(serde_json::json!({
                        "services": services
                            .iter()
                            .map(|s| serde_json::json!({ "service": s.service, "revision": s.revision }))
                            .collect::<Vec<_>>(),
                        "removed": removed,
                        "waves": waves,
                        "origin": origin.as_str(),
                    })),
            )
            .await;
        Ok(StackDeployment {
            services,
            removed,
            waves,
        })
    }

    /// Every service of a stack with its running and ready replicas now.
    pub async fn stack_status(
        &self,
        org: &str,
        stack: &str,
    ) -> Result<Vec<ServiceStatus>, EngineError> {
        let services = self.services(Scope::Stack { org, stack }).await?;
        let containers = self
            .containers(&super::ContainerFilter {
                org: Some(org.to_owned()),
                stack: Some(stack.to_owned()),
                service: None,
            })
            .await?;
        Ok(services
            .into_iter()
            .map(|s| service_status(s, &containers))
            .collect())
    }

    /// Every declared stack (of `org`, or of every org), each with its services' status: one
    /// read of the store and one container listing for all of them.
    pub async fn stacks(&self, org: Option<&str>) -> Result<Vec<StackStatus>, EngineError> {
        let scope = org.map_or(Scope::All, Scope::Org);
        let services = self.services(scope).await?;
        let containers = self
            .containers(&super::ContainerFilter {
                org: org.map(str::to_owned),
                ..super::ContainerFilter::default()
            })
            .await?;
        let mut stacks: BTreeMap<(String, String), Vec<ServiceStatus>> = BTreeMap::new();
        for service in services {
            let key = (service.org.clone(), service.stack.clone());
            let mine: Vec<_> = containers
                .iter()
                .filter(|c| c.org == key.0 && c.stack == key.1)
                .cloned()
                .collect();
            stacks
                .entry(key)
                .or_default()
                .push(service_status(service, &mine));
        }
        Ok(stacks
            .into_iter()
            .map(|((org, stack), services)| StackStatus {
                org,
                stack,
                services,
            })
            .collect())
    }

    /// Removes every service of a stack (the reconciler then stops and removes their
    /// containers) and returns their names; empty when the stack has none.
    #[tracing::instrument(name = "engine.remove_stack", skip(self), fields(engine = %self.id()))]
    pub async fn remove_stack(&self, org: &str, stack: &str) -> Result<Vec<String>, EngineError> {
        let services = self.services(Scope::Stack { org, stack }).await?;
        let mut removed = Vec::new();
        for service in services {
            if self.remove_service(org, stack, &service.service).await? {
                removed.push(service.service);
            }
        }
        self.inner.ctx.store.delete_stack_origin(org, stack).await?;
        self.inner
            .ctx
            .store
            .delete_stack_template(org, stack)
            .await?;
        if !removed.is_empty() {
            self.inner
                .ctx
                .emit(
                    NewEvent::new("stack-removed")
                        .with_org(org)
                        .with_stack(stack)
                        .with_payload(serde_json::json!({ "services": removed })),
                )
                .await;
        }
        Ok(removed)
    }

    /// Removes the named volumes of a stack that has no declared service any more (after
    /// [`Engine::remove_stack`]), with the data they hold, and returns their Docker names.
    /// Volumes outlive their containers on purpose — they hold data — so this is a step of its
    /// own. A reconcile pass runs first so that the stack's containers are gone; a stack that
    /// still has services is refused with a conflict, and so is a volume something still uses.
    #[tracing::instrument(name = "engine.remove_stack_volumes", skip(self), fields(engine = %self.id()))]
    pub async fn remove_stack_volumes(
        &self,
        org: &str,
        stack: &str,
    ) -> Result<Vec<String>, EngineError> {
        let declared = self.services(Scope::Stack { org, stack }).await?;
        if !declared.is_empty() {
            let names: Vec<&str> = declared.iter().map(|s| s.service.as_str()).collect();
            return Err(EngineError::Conflict {
                what: format!(
                    "stack {org}/{stack} still has services ({}): remove the stack first",
                    names.join(", ")
                ),
            });
        }
        self.reconcile().await?;
        let ctx = &self.inner.ctx;
        let labels = ctx.stack_labels(org, stack);
        let filter: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut removed = Vec::new();
        for volume in ctx.runtime.list_volumes(&filter).await? {
            match ctx.runtime.remove_volume(&volume.name, false).await {
                Ok(()) | Err(crate::RuntimeError::NotFound { .. }) => {
                    ctx.emit(
                        NewEvent::new("volume-removed")
                            .with_org(org)
                            .with_stack(stack)
                            .with_payload(serde_json::json!({ "volume": volume.name })),
                    )
                    .await;
                    removed.push(volume.name);
                }
                Err(crate::RuntimeError::Conflict { message, .. }) => {
                    return Err(EngineError::Conflict {
                        what: format!("volume {} is still in use: {message}", volume.name),
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
        // A redeploy must create them again (with their labels), not trust an old "ensured".
        self.inner.reconciler.lock().await.forget_ensured(&removed);
        Ok(removed)
    }

    /// Re-applies a declared service's stored spec with `replicas` replicas. Scaling is not
    /// a change of configuration: the revision stays, and running replicas are not replaced.
    #[tracing::instrument(name = "engine.scale", skip(self), fields(engine = %self.id()))]
    pub async fn scale(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        replicas: u32,
    ) -> Result<DesiredService, EngineError> {
        let stored = self
            .inner
            .ctx
            .store
            .get_desired_service(org, stack, service)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                what: format!("service {org}/{stack}/{service}"),
            })?;
        let spec: ServiceSpec = serde_json::from_value(stored.spec).map_err(|e| {
            EngineError::Config(format!(
                "the stored spec of {org}/{stack}/{service} does not parse: {e}"
            ))
        })?;
        self.apply(org, stack, spec.with_replicas(replicas)).await
    }
}

/// A service's status from its declaration and the stack's containers.
fn service_status(s: DesiredService, containers: &[crate::ManagedContainer]) -> ServiceStatus {
    let spec: Option<ServiceSpec> = serde_json::from_value(s.spec.clone()).ok();
    let target = spec
        .as_ref()
        .and_then(ServiceSpec::adapter_target)
        .unwrap_or(crate::inventory::LOCAL_TARGET)
        .to_owned();
    let has_gate_checks = spec.is_some_and(|spec| spec.readiness_checked());
    let mine = containers
        .iter()
        .filter(|c| c.service == s.service && c.status == crate::ContainerStatus::Running);
    let running = mine.clone().count() as u32;
    let ready = mine
        .filter(|c| !has_gate_checks || c.ready == Some(true))
        .count() as u32;
    ServiceStatus {
        service: s.service,
        revision: s.revision,
        replicas: s.replicas,
        running,
        ready,
        target,
    }
}
