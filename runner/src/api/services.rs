//! `/v1/orgs/{org}/stacks/{stack}/services`: declare, list and remove services.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::{self, ApiPath};
use super::params::{ServicePath, StackPath};
use super::{ApiError, ApiState, Caller, Role};
use windlass::{DesiredService, Scope, ServiceSpec};

/// Declared services of a stack.
///
/// Needs the `read` role and the token's org (or `*`).
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/stacks/{stack}/services",
    tag = "services",
    params(StackPath),
    responses((status = 200, description = "The stack's declared services (empty when it has none)", body = Vec<DesiredService>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(StackPath { org, stack }): ApiPath<StackPath>,
) -> Result<Json<Vec<DesiredService>>, ApiError> {
    caller.require_org(&org)?;
    let scope = Scope::Stack {
        org: &org,
        stack: &stack,
    };
    Ok(Json(state.engine.services(scope).await?))
}

/// Declare or update a service.
///
/// Needs the `deploy` role and the token's org (or `*`). The body's `name` must match the
/// path. Answers with the stored revision; the reconciler creates the containers.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}",
    tag = "services",
    params(ServicePath),
    request_body = ServiceSpec,
    responses((status = 200, description = "The service as stored", body = DesiredService)),
)]
pub(super) async fn apply(
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
    let spec: ServiceSpec = extract::read_json(body).await?;
    if spec.name != service {
        return Err(ApiError::validation(
            "name",
            format!(
                "the body names service {:?}, the path {service:?}",
                spec.name
            ),
        ));
    }
    Ok(Json(state.engine.apply(&org, &stack, spec).await?))
}

/// What a service removal removed.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ServiceRemoved {
    /// The service.
    removed: String,
}

/// Remove a service.
///
/// Needs the `deploy` role and the token's org (or `*`). Its containers go; 404 when the
/// stack declares no such service.
#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}",
    tag = "services",
    params(ServicePath),
    responses((status = 200, description = "Removed", body = ServiceRemoved)),
)]
pub(super) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
) -> Result<Json<ServiceRemoved>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    if state.engine.remove_service(&org, &stack, &service).await? {
        Ok(Json(ServiceRemoved { removed: service }))
    } else {
        Err(ApiError::not_found(format!(
            "service {org}/{stack}/{service}"
        )))
    }
}
