//! `/v1/stacks` and `/v1/orgs/{org}/stacks/{stack}`: whole stacks — list with status, deploy,
//! status, remove — and scaling one service.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use axum::body::Bytes;

use super::extract;
use super::{ApiError, ApiState, Caller, EVERY_ORG, Role};
use windlass::stacks::StackSpec;
use windlass::{DesiredService, ServiceStatus, StackDeployment, StackStatus};

/// The body of `PUT /v1/orgs/{org}/stacks/{stack}`: a `spec`, or a `template` to render.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeployBody {
    /// The stack, as in TOML (`services`, `volumes`).
    #[serde(default)]
    spec: Option<StackSpec>,
    /// The name of a loaded stack template that renders the stack from `params`.
    #[serde(default)]
    template: Option<String>,
    /// The template's parameters, and values for `${VAR}` in env and `provides`.
    #[serde(default)]
    params: BTreeMap<String, String>,
}

/// The body of `POST …/services/{service}/scale`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScaleBody {
    replicas: u32,
}

/// One stack's status, as `GET /v1/orgs/{org}/stacks/{stack}` answers.
#[derive(Debug, Serialize)]
pub(super) struct StatusBody {
    org: String,
    stack: String,
    /// Every service runs all its replicas and they are ready.
    ready: bool,
    services: Vec<ServiceStatus>,
}

impl From<StackStatus> for StatusBody {
    fn from(status: StackStatus) -> Self {
        Self {
            ready: status.is_ready(),
            org: status.org,
            stack: status.stack,
            services: status.services,
        }
    }
}

/// Every stack the token may see (its org's; every org's for a `*` token), with status.
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<StatusBody>>, ApiError> {
    let org = (caller.org != EVERY_ORG).then_some(caller.org.as_str());
    let stacks = state.engine.stacks(org).await?;
    Ok(Json(stacks.into_iter().map(StatusBody::from).collect()))
}

pub(super) async fn status(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack)): Path<(String, String)>,
) -> Result<Json<StatusBody>, ApiError> {
    caller.require_org(&org)?;
    let services = state.engine.stack_status(&org, &stack).await?;
    if services.is_empty() {
        return Err(ApiError::not_found(format!("stack {org}/{stack}")));
    }
    let ready = services.iter().all(ServiceStatus::is_ready);
    Ok(Json(StatusBody {
        org,
        stack,
        ready,
        services,
    }))
}

/// Deploys a whole stack (`Engine::deploy_stack`): everything is validated first and nothing
/// is stored when anything is wrong (400, the first error's field; the message lists all).
pub(super) async fn deploy(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<StackDeployment>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body: DeployBody = extract::json(&body)?;
    let spec = match (body.spec, &body.template) {
        (Some(spec), None) => spec,
        (None, Some(template)) => super::templates::render(&state, template, &body.params).await?,
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "template",
                "give either a `spec` or a `template` with its `params`, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::validation(
                "spec",
                "give the stack's `spec`, or a `template` and its `params`",
            ));
        }
    };
    if spec.services.is_empty() {
        return Err(ApiError::validation(
            if body.template.is_some() {
                "template"
            } else {
                "spec.services"
            },
            "a stack needs at least one service (DELETE removes a stack)",
        ));
    }
    let deployment = state
        .engine
        .deploy_stack(&org, &stack, &spec, &body.params)
        .await
        .map_err(|e| {
            // The stack's own paths (`services[1].memory`) are inside the body's `spec`.
            let mut error = ApiError::from(e);
            if let Some(field) = &mut error.field
                && (field.starts_with("services") || field.starts_with("volumes"))
            {
                *field = format!("spec.{field}");
            }
            error
        })?;
    match &body.template {
        Some(template) => state
            .templated()
            .remember(&org, &stack, template, body.params),
        None => state.templated().forget(&org, &stack),
    }
    Ok(Json(deployment))
}

/// Removes every service of the stack; 404 when it has none.
pub(super) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let removed = state.engine.remove_stack(&org, &stack).await?;
    state.templated().forget(&org, &stack);
    if removed.is_empty() {
        return Err(ApiError::not_found(format!("stack {org}/{stack}")));
    }
    Ok(Json(
        serde_json::json!({ "org": org, "stack": stack, "removed": removed }),
    ))
}

/// Re-applies the stored spec with a new replica count; the revision stays.
pub(super) async fn scale(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack, service)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<DesiredService>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body: ScaleBody = extract::json(&body)?;
    Ok(Json(
        state
            .engine
            .scale(&org, &stack, &service, body.replicas)
            .await?,
    ))
}

/// The body of a rollback: the kept revision to go back to (default: the one before).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    revision: Option<u64>,
}

/// A service's kept revisions (newest first) and its current or last rolling update.
#[derive(Debug, Serialize)]
pub(super) struct Revisions {
    current: u64,
    revisions: Vec<windlass::ServiceRevision>,
    rollout: Option<windlass::Rollout>,
}

pub(super) async fn revisions(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack, service)): Path<(String, String, String)>,
) -> Result<Json<Revisions>, ApiError> {
    caller.require_org(&org)?;
    let current = state
        .engine
        .services(windlass::Scope::Service {
            org: &org,
            stack: &stack,
            service: &service,
        })
        .await?
        .first()
        .map(|s| s.revision)
        .ok_or_else(|| ApiError::not_found(format!("service {org}/{stack}/{service}")))?;
    Ok(Json(Revisions {
        current,
        revisions: state.engine.revisions(&org, &stack, &service).await?,
        rollout: state.engine.rollout(&org, &stack, &service).await?,
    }))
}

/// Rolls a service back to a kept revision; the replicas are replaced like in any update.
pub(super) async fn rollback(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack, service)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<DesiredService>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body: RollbackBody = if body.is_empty() {
        RollbackBody::default()
    } else {
        extract::json(&body)?
    };
    Ok(Json(
        state
            .engine
            .rollback(&org, &stack, &service, body.revision)
            .await?,
    ))
}
