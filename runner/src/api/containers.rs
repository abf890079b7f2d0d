//! `/v1/containers`: list, inspect, start, stop, restart, health.
//!
//! A container another org owns, one of another engine, one Docker does not know and a name
//! Docker would refuse are all answered alike: 404 `not-found`, "container NAME not found".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery};
use super::params::ContainerPath;
use super::{ApiError, ApiState, Caller, Role};
use windlass::health::{HealthReport, HealthSnapshot};
use windlass::labels::LABEL_ORG;
use windlass::{ContainerInfo, EngineError, ManagedContainer, RuntimeError};

/// Filters of `GET /v1/containers`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Only this org's (a token of one org may name only its own).
    org: Option<String>,
    /// Only this stack's.
    stack: Option<String>,
    /// Only this service's (needs `stack`).
    service: Option<String>,
    /// Docker's status: `running`, `exited`…
    status: Option<String>,
    /// Readiness: `ready`, `unready` or `unknown`.
    #[param(pattern = "^(ready|unready|unknown)$")]
    health: Option<String>,
    /// The image reference, exactly.
    image: Option<String>,
    /// A regular expression the name must match.
    name: Option<String>,
}

/// The answer to a missing container, whatever made it missing.
fn missing(name: &str) -> ApiError {
    ApiError::not_found(format!("container {name}"))
}

/// Whether Docker could have a container of this name or id (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`):
/// any other name is answered as missing without asking Docker.
fn plausible(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() >= 2
        && name.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// An engine error about container `name`: every kind of "not found" is [`missing`].
pub(super) fn container_error(name: &str, error: EngineError) -> ApiError {
    match error {
        EngineError::NotFound { .. } | EngineError::Runtime(RuntimeError::NotFound { .. }) => {
            missing(name)
        }
        other => other.into(),
    }
}

/// List containers the token may see.
///
/// Needs the `read` role; a token of one org sees only its org's containers.
#[utoipa::path(
    get,
    path = "/v1/containers",
    tag = "containers",
    params(ListQuery),
    responses((status = 200, description = "The containers", body = Vec<ManagedContainer>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ManagedContainer>>, ApiError> {
    let org = match (&query.org, caller.org.as_str()) {
        (Some(org), _) => {
            caller.require_org(org)?;
            Some(org.clone())
        }
        (None, super::EVERY_ORG) => None,
        (None, own) => Some(own.to_owned()),
    };
    if query.service.is_some() && query.stack.is_none() {
        return Err(ApiError::validation(
            "service",
            "filtering by service needs stack too",
        ));
    }
    let name = query
        .name
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|e| ApiError::validation("name", format!("not a regular expression: {e}")))?;
    let health = match query.health.as_deref() {
        None => None,
        Some("ready") => Some(Some(true)),
        Some("unready") => Some(Some(false)),
        Some("unknown") => Some(None),
        Some(other) => {
            return Err(ApiError::validation(
                "health",
                format!("{other:?} is not one of ready, unready, unknown"),
            ));
        }
    };
    let containers = state.containers.get(&state.engine).await?;
    Ok(Json(
        containers
            .iter()
            .filter(|c| caller.sees(&c.org))
            .filter(|c| org.as_ref().is_none_or(|o| &c.org == o))
            .filter(|c| query.stack.as_ref().is_none_or(|s| &c.stack == s))
            .filter(|c| query.service.as_ref().is_none_or(|s| &c.service == s))
            .filter(|c| query.status.as_ref().is_none_or(|s| c.status.as_str() == s))
            .filter(|c| query.image.as_ref().is_none_or(|i| &c.image == i))
            .filter(|c| name.as_ref().is_none_or(|re| re.is_match(&c.name)))
            .filter(|c| health.is_none_or(|h| c.ready == h))
            .cloned()
            .collect(),
    ))
}

/// The container, if the caller may see it; otherwise [`missing`].
pub(super) async fn visible(
    state: &ApiState,
    caller: &Caller,
    name: &str,
) -> Result<ContainerInfo, ApiError> {
    if !plausible(name) {
        return Err(missing(name));
    }
    let info = state
        .engine
        .inspect(name)
        .await
        .map_err(|e| container_error(name, e))?;
    let org = info.labels.get(LABEL_ORG).map(String::as_str).unwrap_or("");
    if !caller.sees(org) {
        return Err(missing(name));
    }
    Ok(info)
}

/// Refuses a container the caller may not see, like [`visible`], but from the shared list when
/// it is fresh: one Docker call less for read routes that then ask Docker themselves.
pub(super) async fn check_visible(
    state: &ApiState,
    caller: &Caller,
    name: &str,
) -> Result<(), ApiError> {
    match state.containers.peek(&state.engine, name) {
        Some((listed, _)) if caller.sees(&listed.org) => Ok(()),
        Some(_) => Err(missing(name)),
        None => match visible(state, caller, name).await {
            // Not a local container: it may be a replica placed on an adapter target.
            Err(local) if local.status == StatusCode::NOT_FOUND => {
                let listed = state
                    .engine
                    .containers(&windlass::ContainerFilter::default())
                    .await
                    .map_err(|e| container_error(name, e))?;
                match listed
                    .iter()
                    .find(|c| c.name == name && c.target != windlass::inventory::LOCAL_TARGET)
                {
                    Some(placed) if caller.sees(&placed.org) => Ok(()),
                    _ => Err(local),
                }
            }
            other => other.map(drop),
        },
    }
}

/// Inspect a container.
///
/// Needs the `read` role.
#[utoipa::path(
    get,
    path = "/v1/containers/{name}",
    tag = "containers",
    params(ContainerPath),
    responses((status = 200, description = "The container as Docker sees it", body = ContainerInfo)),
)]
pub(super) async fn inspect(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<ContainerPath>,
) -> Result<Json<ContainerInfo>, ApiError> {
    Ok(Json(visible(&state, &caller, &path.name).await?))
}

/// What a start, stop or restart did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ActionDone {
    /// The container.
    container: String,
    /// `start`, `stop` or `restart`.
    action: &'static str,
}

async fn act(
    state: ApiState,
    caller: Caller,
    name: String,
    action: &'static str,
) -> Result<Json<ActionDone>, ApiError> {
    caller.require(Role::Deploy)?;
    visible(&state, &caller, &name).await?;
    match action {
        "start" => state.engine.start(&name).await,
        "stop" => state.engine.stop(&name).await,
        _ => state.engine.restart(&name).await,
    }
    .map_err(|e| container_error(&name, e))?;
    Ok(Json(ActionDone {
        container: name,
        action,
    }))
}

/// Start a stopped container.
///
/// Needs the `deploy` role.
#[utoipa::path(
    post,
    path = "/v1/containers/{name}/start",
    tag = "containers",
    params(ContainerPath),
    responses((status = 200, description = "Started", body = ActionDone)),
)]
pub(super) async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<ContainerPath>,
) -> Result<Json<ActionDone>, ApiError> {
    act(state, caller, path.name, "start").await
}

/// Stop a container and keep it stopped.
///
/// Needs the `deploy` role.
#[utoipa::path(
    post,
    path = "/v1/containers/{name}/stop",
    tag = "containers",
    params(ContainerPath),
    responses((status = 200, description = "Stopped", body = ActionDone)),
)]
pub(super) async fn stop(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<ContainerPath>,
) -> Result<Json<ActionDone>, ApiError> {
    act(state, caller, path.name, "stop").await
}

/// Restart a container.
///
/// Needs the `deploy` role.
#[utoipa::path(
    post,
    path = "/v1/containers/{name}/restart",
    tag = "containers",
    params(ContainerPath),
    responses((status = 200, description = "Restarted", body = ActionDone)),
)]
pub(super) async fn restart(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<ContainerPath>,
) -> Result<Json<ActionDone>, ApiError> {
    act(state, caller, path.name, "restart").await
}

/// Current health: resources and checks.
///
/// Needs the `read` role.
#[utoipa::path(
    get,
    path = "/v1/containers/{name}/health",
    tag = "containers",
    params(ContainerPath),
    responses((status = 200, description = "Resource use and the checks as last judged", body = HealthReport)),
)]
pub(super) async fn health(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<ContainerPath>,
) -> Result<Json<HealthReport>, ApiError> {
    let name = path.name;
    let report = match state.containers.peek(&state.engine, &name) {
        Some((listed, _)) if !caller.sees(&listed.org) => return Err(missing(&name)),
        Some((listed, true)) => state.engine.health_of(&listed).await,
        Some((_, false)) => state.engine.health(&name).await,
        None => {
            visible(&state, &caller, &name).await?;
            state.engine.health(&name).await
        }
    };
    Ok(Json(report.map_err(|e| container_error(&name, e))?))
}

/// The time range of `GET /v1/containers/{name}/health/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct Range {
    /// From this time (ms since the Unix epoch; default 0).
    from_ms: Option<i64>,
    /// Up to this time, included (ms since the Unix epoch; default: now and later). Not before
    /// `from_ms`.
    to_ms: Option<i64>,
}

/// Recorded health snapshots.
///
/// Needs the `read` role. A range whose `from_ms` is after its `to_ms` is empty.
#[utoipa::path(
    get,
    path = "/v1/containers/{name}/health/history",
    tag = "containers",
    params(ContainerPath, Range),
    responses((status = 200, description = "Snapshots in the range, oldest first", body = Vec<HealthSnapshot>)),
)]
pub(super) async fn health_history(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(path): ApiPath<ContainerPath>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Vec<HealthSnapshot>>, ApiError> {
    let name = path.name;
    check_visible(&state, &caller, &name).await?;
    let (from, to) = (range.from_ms.unwrap_or(0), range.to_ms.unwrap_or(i64::MAX));
    if from > to {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(
        state
            .engine
            .health_history(&name, from, to)
            .await
            .map_err(|e| container_error(&name, e))?,
    ))
}
