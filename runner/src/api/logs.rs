//! `GET /v1/containers/{name}/logs`: a container's output as a chunked stream of lines.
//!
//! Text by default (`TIMESTAMP STREAM TEXT` per line), or one JSON object per line with
//! `format=json`. With `follow=true` the response stays open until the container stops or the
//! client goes away (dropping the body drops Docker's log stream).

use axum::body::Body;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures::StreamExt as _;
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::{ApiPath, ApiQuery};
use super::params::ContainerPath;
use super::{ApiError, ApiState, Caller};
use windlass::LogOptions;

/// The query of the logs route.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct LogQuery {
    /// Only the last N lines.
    tail: Option<u64>,
    /// Only lines written at or after this time (seconds since the Unix epoch).
    #[param(minimum = 0)]
    since: Option<i64>,
    /// Keep streaming new lines.
    follow: Option<bool>,
    /// `text` (default) or `json` (one JSON object per line).
    #[param(pattern = "^(text|json)$")]
    format: Option<String>,
}

/// A container's output as text lines (or NDJSON), streamed while following.
///
/// Needs the `read` role.
#[utoipa::path(
    get,
    path = "/v1/containers/{name}/logs",
    tag = "containers",
    params(ContainerPath, LogQuery),
    responses((status = 200, description = "`TIMESTAMP STREAM TEXT` per line, or one JSON object per line with `format=json`",
        content(
            (String = "text/plain"),
            (String = "application/x-ndjson"),
        ))),
)]
pub(super) async fn logs(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ContainerPath { name }): ApiPath<ContainerPath>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> Result<Response, ApiError> {
    let json = match query.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(ApiError::validation(
                "format",
                format!("{other:?} is not one of text, json"),
            ));
        }
    };
    if query.since.is_some_and(|s| s < 0) {
        return Err(ApiError::validation(
            "since",
            "since is seconds since the Unix epoch",
        ));
    }
    super::containers::check_visible(&state, &caller, &name).await?;
    let options = LogOptions {
        tail: query.tail,
        since: query.since,
        follow: query.follow.unwrap_or(false),
    };
    let lines = state
        .engine
        .logs(&name, options)
        .await
        .map_err(|e| super::containers::container_error(&name, e))?;
    let body = lines.take_until(state.closed()).map(move |line| {
        let mut text = match line {
            Ok(line) if json => serde_json::to_string(&line).unwrap_or_default(),
            Ok(line) => line.to_string(),
            // The status line is gone; say it in the stream, in the stream's own form.
            Err(error) if json => serde_json::json!({ "error": error.to_string() }).to_string(),
            Err(error) => format!("error: {error}"),
        };
        text.push('\n');
        Ok::<_, std::convert::Infallible>(text)
    });
    let content_type = if json {
        "application/x-ndjson"
    } else {
        "text/plain; charset=utf-8"
    };
    Response::builder()
        .header(CONTENT_TYPE, content_type)
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::internal(e.to_string()))
}
