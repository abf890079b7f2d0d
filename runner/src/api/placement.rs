//! `/v1/orgs/{org}/stacks/{stack}/services/{service}/placement`: where a service placed on an
//! adapter target runs, as its platform reports it now (docs/swarm.md, Placement).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use windlass::placement::phase_name;

use super::extract::ApiPath;
use super::params::ServicePath;
use super::{ApiError, ApiState, Caller};

/// A placed service on its target.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PlacementView {
    /// The adapter target it runs on.
    target: String,
    /// The platform's id for the deployment.
    deployment_id: String,
    /// The name the platform knows it by.
    deployment_name: String,
    /// The service revision deployed there.
    revision: u64,
    /// `pending`, `running`, `updating`, `rolling-back`, `degraded` or `failed`.
    phase: &'static str,
    /// The replicas asked for.
    desired_replicas: u32,
    /// The replicas running.
    running_replicas: u32,
    /// The platform's update state (Swarm's `updating`, `rollback_completed`…), if any.
    update_state: Option<String>,
    /// What the platform said, if anything.
    message: Option<String>,
}

/// Where a placed service runs, asked of its target now.
///
/// Needs the `read` role and the token's org (or `*`). 404 `not-found` for a service that is
/// not placed on an adapter target (local services are in `GET /v1/containers`); 503
/// `target-unavailable` when the platform does not answer.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}/placement",
    tag = "services",
    params(ServicePath),
    responses((status = 200, description = "The placement and its platform status", body = PlacementView)),
)]
pub(super) async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
) -> Result<Json<PlacementView>, ApiError> {
    caller.require_org(&org)?;
    let (placement, status) = state.engine.placement(&org, &stack, &service).await?;
    Ok(Json(PlacementView {
        target: placement.target,
        deployment_id: placement.deployment_id,
        deployment_name: placement.deployment_name,
        revision: placement.revision,
        phase: phase_name(status.phase),
        desired_replicas: status.desired_replicas,
        running_replicas: status.running_replicas,
        update_state: status.update_state,
        message: status.message,
    }))
}
