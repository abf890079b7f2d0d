//! `/v1/containers`: list, inspect, start, stop, restart, health.

use axum::Json;
use axum::extract::{Path, State};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::ApiQuery;
use super::{ApiError, ApiState, Caller, Role};
use windlass::health::{HealthReport, HealthSnapshot};
use windlass::labels::LABEL_ORG;
use windlass::{ContainerInfo, ManagedContainer};

/// Filters of `GET /v1/containers`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    org: Option<String>,
    stack: Option<String>,
    service: Option<String>,
    /// Docker's status: `running`, `exited`…
    status: Option<String>,
    /// Readiness: `ready`, `unready` or `unknown`.
    health: Option<String>,
    /// The image reference, exactly.
    image: Option<String>,
    /// A regular expression the name must match.
    name: Option<String>,
}

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

/// The container, if the caller may see it; another org's container is "not found".
pub(super) async fn visible(
    state: &ApiState,
    caller: &Caller,
    name: &str,
) -> Result<ContainerInfo, ApiError> {
    let info = state.engine.inspect(name).await?;
    let org = info.labels.get(LABEL_ORG).map(String::as_str).unwrap_or("");
    if !caller.sees(org) {
        return Err(ApiError::not_found(format!("container {name}")));
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
        Some(_) => Err(ApiError::not_found(format!("container {name}"))),
        None => visible(state, caller, name).await.map(drop),
    }
}

pub(super) async fn inspect(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ContainerInfo>, ApiError> {
    Ok(Json(visible(&state, &caller, &name).await?))
}

async fn act(
    state: ApiState,
    caller: Caller,
    name: String,
    action: &str,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Deploy)?;
    visible(&state, &caller, &name).await?;
    match action {
        "start" => state.engine.start(&name).await?,
        "stop" => state.engine.stop(&name).await?,
        _ => state.engine.restart(&name).await?,
    }
    Ok(Json(json!({ "container": name, "action": action })))
}

pub(super) async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, name, "start").await
}

pub(super) async fn stop(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, name, "stop").await
}

pub(super) async fn restart(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(state, caller, name, "restart").await
}

pub(super) async fn health(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<HealthReport>, ApiError> {
    match state.containers.peek(&state.engine, &name) {
        Some((listed, _)) if !caller.sees(&listed.org) => {
            Err(ApiError::not_found(format!("container {name}")))
        }
        Some((listed, true)) => Ok(Json(state.engine.health_of(&listed).await?)),
        Some((_, false)) => Ok(Json(state.engine.health(&name).await?)),
        None => {
            visible(&state, &caller, &name).await?;
            Ok(Json(state.engine.health(&name).await?))
        }
    }
}

/// The time range of `GET /v1/containers/{name}/health/history`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Range {
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

pub(super) async fn health_history(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Vec<HealthSnapshot>>, ApiError> {
    check_visible(&state, &caller, &name).await?;
    let (from, to) = (range.from_ms.unwrap_or(0), range.to_ms.unwrap_or(i64::MAX));
    if from > to {
        return Err(ApiError::validation("from_ms", "from_ms is after to_ms"));
    }
    Ok(Json(state.engine.health_history(&name, from, to).await?))
}
