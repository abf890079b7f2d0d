//! Declaring whole stacks: validate, interpolate and inject once, then store every service with
//! its dependencies so the reconciler starts them in order (see `reconcile::gates`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::Engine;
use crate::stacks::{StackSpec, Variables};
use crate::store::{DesiredService, Scope};
use crate::{EngineError, NewEvent, ServiceSpec};

/// What [`Engine::deploy_stack`] stored.
#[derive(Debug, Clone, Serialize)]
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
    #[tracing::instrument(name = "engine.deploy_stack", skip(self, spec, params), fields(engine = %self.id()))]
    pub async fn deploy_stack(
        &self,
        org: &str,
        stack: &str,
        spec: &StackSpec,
        params: &BTreeMap<String, String>,
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
        let mut services = Vec::new();
        for service in resolved.into_services() {
            services.push(self.apply(org, stack, service).await?);
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
            .map(|s| {
                let spec: Option<ServiceSpec> = serde_json::from_value(s.spec.clone()).ok();
                let has_gate_checks = spec.is_some_and(|spec| {
                    spec.health_checks.iter().any(|c| {
                        matches!(
                            c.kind,
                            crate::health::CheckKind::Readiness | crate::health::CheckKind::Startup
                        )
                    })
                });
                let mine = containers.iter().filter(|c| {
                    c.service == s.service && c.status == crate::ContainerStatus::Running
                });
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
                }
            })
            .collect())
    }
}
