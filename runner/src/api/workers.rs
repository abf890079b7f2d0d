//! `/v1/workers`: the machines of the targets that have some (a Docker Swarm's nodes), with
//! the engine's heartbeat verdict; drain, pause, activate and remove one; the command that
//! joins a new one, and the rotation of its token.
//!
//! Workers belong to the platform, not to an org: reading them needs a token of every org
//! (`*`), changing them an operator admin token. A target whose platform does not answer is
//! `503 target-unavailable`; a target without workers, or a refusal of the platform, is
//! `409 target-refused`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use windlass::workers::{Availability, JoinCommand, Worker, WorkerRole};

use super::extract::{self, ApiPath, ApiQuery};
use super::{ApiError, ApiState, Caller, EVERY_ORG};

/// `/v1/workers/{name}…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct WorkerPath {
    /// The worker's id, a unique prefix of it, or its hostname when no other worker has it.
    name: String,
}

/// `GET /v1/workers`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    /// Only this target's workers (default: every target that has some).
    target: Option<String>,
}

/// `DELETE /v1/workers/{name}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct RemoveParams {
    /// The worker's target (default: the only one with workers).
    target: Option<String>,
    /// Remove a worker that is still up.
    force: Option<bool>,
}

/// `POST /v1/workers/{name}/availability`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AvailabilityBody {
    /// `drain` (its tasks move to other workers), `pause` (it keeps them, takes no new ones) or
    /// `active`.
    availability: Availability,
    /// The target (default: the only one with workers).
    #[serde(default)]
    target: Option<String>,
}

/// `POST /v1/workers/join` and `/v1/workers/join/rotate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct JoinBody {
    /// The target (default: the only one with workers).
    #[serde(default)]
    target: Option<String>,
    /// `worker` (default) or `manager`.
    #[serde(default)]
    role: WorkerRole,
}

fn require_every_org(caller: &Caller) -> Result<(), ApiError> {
    if caller.org == EVERY_ORG {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "workers belong to the platform: this needs a token of every org (\"*\")",
        ))
    }
}

/// An empty body is the defaults.
async fn join_body(body: Body) -> Result<JoinBody, ApiError> {
    let bytes = extract::read(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(JoinBody::default());
    }
    extract::parse(&bytes)
}

/// The workers, as their platform reports them now, with the heartbeat's verdict.
///
/// A token of every org.
#[utoipa::path(
    get,
    path = "/v1/workers",
    tag = "workers",
    params(ListParams),
    responses(
        (status = 200, description = "The workers", body = Vec<Worker>),
        (status = 503, description = "`target-unavailable`: the platform does not answer", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Worker>>, ApiError> {
    require_every_org(&caller)?;
    Ok(Json(state.engine.workers(params.target.as_deref()).await?))
}

/// Sets whether a worker takes tasks: `drain` moves its tasks elsewhere (each move is a
/// `container-migrated` event), `pause` keeps them, `active` takes new ones again.
///
/// An operator admin token.
#[utoipa::path(
    post,
    path = "/v1/workers/{name}/availability",
    tag = "workers",
    params(WorkerPath),
    request_body = AvailabilityBody,
    responses(
        (status = 200, description = "The worker, as set", body = Worker),
        (status = 503, description = "`target-unavailable`: the platform does not answer", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn set_availability(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(WorkerPath { name }): ApiPath<WorkerPath>,
    body: Body,
) -> Result<Json<Worker>, ApiError> {
    caller.require_operator("changing a worker")?;
    let body: AvailabilityBody = extract::read_json(body).await?;
    let worker = state
        .engine
        .set_worker_availability(body.target.as_deref(), &name, body.availability)
        .await?;
    Ok(Json(worker))
}

/// Removes a worker from its cluster (`force`: one that is still up; drain it first).
///
/// An operator admin token.
#[utoipa::path(
    delete,
    path = "/v1/workers/{name}",
    tag = "workers",
    params(WorkerPath, RemoveParams),
    responses(
        (status = 200, description = "The worker removed", body = Worker),
        (status = 503, description = "`target-unavailable`: the platform does not answer", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(WorkerPath { name }): ApiPath<WorkerPath>,
    ApiQuery(params): ApiQuery<RemoveParams>,
) -> Result<Json<Worker>, ApiError> {
    caller.require_operator("removing a worker")?;
    let worker = state
        .engine
        .remove_worker(
            params.target.as_deref(),
            &name,
            params.force.unwrap_or(false),
        )
        .await?;
    Ok(Json(worker))
}

/// The exact command that adds a machine as a worker (or manager); it holds the join token.
///
/// An operator admin token.
#[utoipa::path(
    post,
    path = "/v1/workers/join",
    tag = "workers",
    request_body = JoinBody,
    responses(
        (status = 200, description = "The join command", body = JoinCommand),
        (status = 503, description = "`target-unavailable`: the platform does not answer", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn join(
    State(state): State<ApiState>,
    caller: Caller,
    body: Body,
) -> Result<Json<JoinCommand>, ApiError> {
    caller.require_operator("a join token")?;
    let body = join_body(body).await?;
    let command = state
        .engine
        .join_command(body.target.as_deref(), body.role)
        .await?;
    Ok(Json(command))
}

/// Replaces the join token of a role (the old one stops working) and answers the new command.
///
/// An operator admin token.
#[utoipa::path(
    post,
    path = "/v1/workers/join/rotate",
    tag = "workers",
    request_body = JoinBody,
    responses(
        (status = 200, description = "The join command with the new token", body = JoinCommand),
        (status = 503, description = "`target-unavailable`: the platform does not answer", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn rotate(
    State(state): State<ApiState>,
    caller: Caller,
    body: Body,
) -> Result<Json<JoinCommand>, ApiError> {
    caller.require_operator("rotating a join token")?;
    let body = join_body(body).await?;
    let command = state
        .engine
        .rotate_join_token(body.target.as_deref(), body.role)
        .await?;
    Ok(Json(command))
}
