//! `/v1/orgs/{org}/stacks/{stack}/services`: declare, list and remove services.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use axum::body::Bytes;

use super::extract;
use super::{ApiError, ApiState, Caller, Role};
use windlass::{DesiredService, Scope, ServiceSpec};

pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack)): Path<(String, String)>,
) -> Result<Json<Vec<DesiredService>>, ApiError> {
    caller.require_org(&org)?;
    let scope = Scope::Stack {
        org: &org,
        stack: &stack,
    };
    Ok(Json(state.engine.services(scope).await?))
}

/// Declares (or updates) a service; the body is a `ServiceSpec` whose `name` must match the
/// path. 200 with the stored revision; the reconciler creates the containers.
pub(super) async fn apply(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack, service)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Json<DesiredService>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let spec: ServiceSpec = extract::json(&body)?;
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

pub(super) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path((org, stack, service)): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    if state.engine.remove_service(&org, &stack, &service).await? {
        Ok((StatusCode::OK, Json(json!({ "removed": service }))))
    } else {
        Err(ApiError::not_found(format!(
            "service {org}/{stack}/{service}"
        )))
    }
}
