//! `/v1/stacks` and `/v1/orgs/{org}/stacks/{stack}`: whole stacks — list with status, deploy,
//! status, remove — and scaling and rolling back one service.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{self, ApiPath};
use super::params::{ServicePath, StackPath};
use super::{ApiError, ApiState, Caller, EVERY_ORG, Role};
use windlass::stacks::StackSpec;
use windlass::{DesiredService, ServiceStatus, StackDeployment, StackStatus};

/// The body of `PUT /v1/orgs/{org}/stacks/{stack}`: a `spec`, or a `template` to render.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DeployBody {
    /// The stack, as in TOML (`services`, `volumes`); at least one service.
    #[serde(default)]
    pub(super) spec: Option<StackSpec>,
    /// The name of a loaded stack template that renders the stack from `params`.
    #[serde(default)]
    pub(super) template: Option<String>,
    /// The template's parameters, and values for `${VAR}` in env and `provides`: strings, or
    /// `{"secret": "NAME"}` binding a parameter the template marks secret to a secret of the
    /// org (the stored stack then holds a placeholder, the containers get the value).
    #[serde(default)]
    pub(super) params: BTreeMap<String, super::templates::ParamInput>,
}

/// The body of `POST …/services/{service}/scale`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ScaleBody {
    /// Replicas wanted from now on.
    #[serde(deserialize_with = "super::extract::whole_u32")]
    #[schema(minimum = 0, maximum = 4_294_967_295u64)]
    replicas: u32,
}

/// One stack's status, as `GET /v1/orgs/{org}/stacks/{stack}` answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Stack)]
pub(super) struct StatusBody {
    /// The org that owns it.
    org: String,
    /// The stack.
    stack: String,
    /// Every service runs all its replicas and they are ready.
    ready: bool,
    /// Each service's replicas wanted, running and ready.
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

/// Stacks the token may see, with each service's status.
///
/// Needs the `read` role: its org's stacks; every org's for a `*` token.
#[utoipa::path(
    get,
    path = "/v1/stacks",
    tag = "stacks",
    responses((status = 200, description = "The stacks", body = Vec<StatusBody>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<StatusBody>>, ApiError> {
    let org = (caller.org != EVERY_ORG).then_some(caller.org.as_str());
    let stacks = state.engine.stacks(org).await?;
    Ok(Json(stacks.into_iter().map(StatusBody::from).collect()))
}

/// A stack's status: replicas wanted, running and ready per service.
///
/// Needs the `read` role and the token's org (or `*`).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/stacks/{stack}",
    tag = "stacks",
    params(StackPath),
    responses((status = 200, description = "The stack's status", body = StatusBody)),
)]
pub(super) async fn status(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(StackPath { org, stack }): ApiPath<StackPath>,
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

/// Deploy a whole stack.
///
/// Needs the `deploy` role and the token's org (or `*`). Everything is validated first and
/// nothing is stored when anything is wrong (400, the first error's field; the message lists
/// all). Services of the previous declaration that the new one lacks are removed.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/stacks/{stack}",
    tag = "stacks",
    params(StackPath),
    request_body = DeployBody,
    responses((status = 200, description = "What was stored, and the start order", body = StackDeployment)),
)]
pub(super) async fn deploy(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(StackPath { org, stack }): ApiPath<StackPath>,
    body: Body,
) -> Result<Json<StackDeployment>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body: DeployBody = extract::read_json(body).await?;
    let (spec, params) = spec_of(&state, &body).await?;
    let deployment = state
        .engine
        .deploy_stack(&org, &stack, &spec, &params)
        .await
        .map_err(in_body)?;
    match &body.template {
        Some(template) => {
            state
                .templated()
                .remember(&org, &stack, template, &params)
                .await?
        }
        None => state.templated().forget(&org, &stack).await?,
    }
    Ok(Json(deployment))
}

/// The stack a deploy body declares (its `spec`, or its `template` rendered with its
/// `params`) and the parameters as strings; 400 when the body gives neither, both, or no
/// service.
pub(super) async fn spec_of(
    state: &ApiState,
    body: &DeployBody,
) -> Result<(StackSpec, BTreeMap<String, String>), ApiError> {
    let params = super::templates::param_strings(body.params.clone())?;
    let spec = match (&body.spec, &body.template) {
        (Some(spec), None) => spec.clone(),
        (None, Some(template)) => super::templates::render(state, template, &params).await?,
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
    Ok((spec, params))
}

/// An engine error about a deploy body's stack: the stack's own paths (`services[1].memory`)
/// are inside the body's `spec`.
pub(super) fn in_body(error: windlass::EngineError) -> ApiError {
    let mut error = ApiError::from(error);
    if let Some(field) = &mut error.field
        && (field.starts_with("services") || field.starts_with("volumes"))
    {
        *field = format!("spec.{field}");
    }
    error
}

/// What a stack removal removed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct StackRemoved {
    /// The org.
    org: String,
    /// The stack.
    stack: String,
    /// The services removed.
    removed: Vec<String>,
}

/// Remove every service of a stack.
///
/// Needs the `deploy` role and the token's org (or `*`); 404 when the stack has no service.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/stacks/{stack}",
    tag = "stacks",
    params(StackPath),
    responses((status = 200, description = "Removed", body = StackRemoved)),
)]
pub(super) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(StackPath { org, stack }): ApiPath<StackPath>,
) -> Result<Json<StackRemoved>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    // The engine forgets the stack's template with it.
    let removed = state.engine.remove_stack(&org, &stack).await?;
    if removed.is_empty() {
        return Err(ApiError::not_found(format!("stack {org}/{stack}")));
    }
    Ok(Json(StackRemoved {
        org,
        stack,
        removed,
    }))
}

/// Scale a service; its revision stays.
///
/// Needs the `deploy` role and the token's org (or `*`).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}/scale",
    tag = "services",
    params(ServicePath),
    request_body = ScaleBody,
    responses((status = 200, description = "The service as stored", body = DesiredService)),
)]
pub(super) async fn scale(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
    body: Body,
) -> Result<Json<DesiredService>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body: ScaleBody = extract::read_json(body).await?;
    Ok(Json(
        state
            .engine
            .scale(&org, &stack, &service, body.replicas)
            .await?,
    ))
}

/// The body of a rollback: the kept revision to go back to (default: the one before).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RollbackBody {
    /// The kept revision to go back to (default: the one before the current).
    #[serde(default, deserialize_with = "super::extract::opt_whole_u64")]
    revision: Option<u64>,
}

/// A service's kept revisions (newest first) and its current or last rolling update.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Revisions {
    /// The revision stored now.
    current: u64,
    /// The kept revisions, newest first.
    revisions: Vec<windlass::ServiceRevision>,
    /// The current or last rolling update, if there was one.
    rollout: Option<windlass::Rollout>,
}

/// A service's kept revisions and its current or last rolling update.
///
/// Needs the `read` role and the token's org (or `*`).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}/revisions",
    tag = "services",
    params(ServicePath),
    responses((status = 200, description = "The revisions", body = Revisions)),
)]
pub(super) async fn revisions(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
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

/// Roll a service back to a kept revision.
///
/// Needs the `deploy` role and the token's org (or `*`). The body may be empty (the revision
/// before the current one); the replicas are replaced as in any update.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}/rollback",
    tag = "services",
    params(ServicePath),
    request_body(content = Option<RollbackBody>, description = "Optional: `{}` or no body rolls back one revision"),
    responses((status = 200, description = "The service as stored", body = DesiredService)),
)]
pub(super) async fn rollback(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
    body: Body,
) -> Result<Json<DesiredService>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let body = extract::read(body).await?;
    let body: RollbackBody = if extract::no_body(&body) {
        RollbackBody::default()
    } else {
        extract::parse(&body)?
    };
    Ok(Json(
        state
            .engine
            .rollback(&org, &stack, &service, body.revision)
            .await?,
    ))
}
