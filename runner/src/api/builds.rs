//! Builds: start one for a service, list them, read one, its log (whole, or followed as SSE),
//! cancel; a service's webhook secret (made or rotated, shown once); and the git push
//! webhooks, which authenticate by signature instead of a token.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{self, ApiPath, ApiQuery};
use super::params::ServicePath;
use super::{ApiError, ApiState, Caller, Role};
use windlass::BuildRequest;
use windlass::builds::{
    BuildFilter, BuildRecord, WebhookDelivery, WebhookOutcome, WebhookProvider,
};

/// `/v1/builds/{id}…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct BuildPath {
    /// The build's id (`b-` and 16 hex digits).
    #[param(pattern = "^b-[0-9a-f]{16}$")]
    id: String,
}

/// `/v1/hooks/{provider}/{org}/{stack}/{service}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct HookPath {
    /// `github`, `gitlab` or `bitbucket`.
    #[param(pattern = "^(github|gitlab|bitbucket)$")]
    provider: String,
    /// The org that owns the stack.
    org: String,
    /// The stack's name.
    stack: String,
    /// The service's name.
    service: String,
}

/// What to build.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBuild {
    /// A branch, tag or commit instead of the source's own reference.
    reference: Option<String>,
}

/// The query of the build list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct BuildQuery {
    /// Only this org's (default: the token's org, or every org for a `*` token).
    org: Option<String>,
    /// Only this stack's.
    stack: Option<String>,
    /// Only this service's.
    service: Option<String>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 10_000)]
    limit: Option<u32>,
}

/// A service's new webhook secret and where to send pushes.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookSecret {
    /// The secret: shown this once. GitHub and Bitbucket sign with it; GitLab sends it.
    secret: String,
    /// The paths of the webhook per provider (`POST`).
    urls: Vec<String>,
}

/// What a webhook delivery became.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct WebhookAnswer {
    /// `queued` (a build, new or already made for the commit), `duplicate` or `ignored`.
    outcome: String,
    /// Why it was ignored.
    reason: Option<String>,
    /// The build, when one was queued.
    build: Option<BuildRecord>,
}

/// The largest webhook body read (bigger ones are refused with 413).
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

/// Build a service from its build source now.
///
/// Needs the `deploy` role and the service's org. Answers at once with the queued build.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}/builds",
    tag = "builds",
    params(ServicePath),
    request_body(content = Option<StartBuild>, description = "Optional: the reference to build"),
    responses((status = 202, description = "Queued", body = BuildRecord)),
)]
pub(super) async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
    body: Body,
) -> Result<(StatusCode, Json<BuildRecord>), ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let bytes = extract::read(body).await?;
    let start: StartBuild = if extract::no_body(&bytes) {
        StartBuild::default()
    } else {
        extract::parse(&bytes)?
    };
    let request = BuildRequest {
        reference: start.reference,
        trigger: "api".to_owned(),
        dedupe_key: None,
    };
    let record = state.engine.build(&org, &stack, &service, request).await?;
    Ok((StatusCode::ACCEPTED, Json(record)))
}

/// List builds, newest first.
///
/// Needs the `read` role; only the token's org unless it is `*`.
#[utoipa::path(
    get,
    path = "/v1/builds",
    tag = "builds",
    params(BuildQuery),
    responses((status = 200, description = "Builds, newest first", body = Vec<BuildRecord>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<BuildQuery>,
) -> Result<Json<Vec<BuildRecord>>, ApiError> {
    let org = match (&query.org, caller.org.as_str()) {
        (Some(org), _) => {
            caller.require_org(org)?;
            Some(org.clone())
        }
        (None, super::EVERY_ORG) => None,
        (None, own) => Some(own.to_owned()),
    };
    if query.limit == Some(0) || query.limit > Some(10_000) {
        return Err(ApiError::validation("limit", "limit must be 1..=10000"));
    }
    let filter = BuildFilter {
        org,
        stack: query.stack,
        service: query.service,
        limit: query.limit,
    };
    Ok(Json(state.engine.builds(&filter).await?))
}

/// A build visible to the caller.
async fn visible(state: &ApiState, caller: &Caller, id: &str) -> Result<BuildRecord, ApiError> {
    let record = state.engine.build_record(id).await?;
    if !caller.sees(&record.org) {
        return Err(ApiError::not_found(format!("build {id}")));
    }
    Ok(record)
}

/// One build.
///
/// Needs the `read` role and the build's org.
#[utoipa::path(
    get,
    path = "/v1/builds/{id}",
    tag = "builds",
    params(BuildPath),
    responses((status = 200, description = "The build", body = BuildRecord)),
)]
pub(super) async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(BuildPath { id }): ApiPath<BuildPath>,
) -> Result<Json<BuildRecord>, ApiError> {
    Ok(Json(visible(&state, &caller, &id).await?))
}

/// A build's log so far (all of it once finished), as text.
///
/// Needs the `read` role and the build's org.
#[utoipa::path(
    get,
    path = "/v1/builds/{id}/logs",
    tag = "builds",
    params(BuildPath),
    responses((status = 200, description = "The log, one line per line", content_type = "text/plain", body = String)),
)]
pub(super) async fn logs(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(BuildPath { id }): ApiPath<BuildPath>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    visible(&state, &caller, &id).await?;
    let log = state.engine.build_log(&id).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        log,
    ))
}

/// A build's log as server-sent events: every line so far, then each new one, then an `end`
/// event when the build finishes.
///
/// Needs the `read` role and the build's org.
#[utoipa::path(
    get,
    path = "/v1/builds/{id}/logs/stream",
    tag = "builds",
    params(BuildPath),
    responses((status = 200, description = "One `line` event per log line, then `end`", content_type = "text/event-stream", body = super::openapi::ServerSentEvent)),
)]
pub(super) async fn stream(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(BuildPath { id }): ApiPath<BuildPath>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    visible(&state, &caller, &id).await?;
    let lines = state.engine.follow_build_log(&id).await?;
    let engine = state.engine.clone();
    let end = futures::stream::once(async move {
        let state = engine
            .build_record(&id)
            .await
            .map(|r| r.state.to_string())
            .unwrap_or_default();
        SseEvent::default().event("end").data(state)
    });
    let events = lines
        .map(|line| SseEvent::default().event("line").data(line))
        .chain(end)
        .map(Ok)
        .take_until(state.closed());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Cancel a queued or running build (a finished one is left as it is).
///
/// Needs the `deploy` role and the build's org.
#[utoipa::path(
    post,
    path = "/v1/builds/{id}/cancel",
    tag = "builds",
    params(BuildPath),
    responses((status = 200, description = "The build after cancelling", body = BuildRecord)),
)]
pub(super) async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(BuildPath { id }): ApiPath<BuildPath>,
) -> Result<Json<BuildRecord>, ApiError> {
    caller.require(Role::Deploy)?;
    let record = visible(&state, &caller, &id).await?;
    caller.require_org(&record.org)?;
    Ok(Json(state.engine.cancel_build(&id).await?))
}

/// Make or rotate a service's webhook secret; the answer is the only time it is shown.
///
/// Needs the `deploy` role and the service's org; the engine needs its secrets key.
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/stacks/{stack}/services/{service}/webhook",
    tag = "builds",
    params(ServicePath),
    responses((status = 200, description = "The new secret and the webhook paths", body = WebhookSecret)),
)]
pub(super) async fn rotate_webhook(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ServicePath {
        org,
        stack,
        service,
    }): ApiPath<ServicePath>,
) -> Result<Json<WebhookSecret>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    let secret = state
        .engine
        .rotate_webhook_secret(&org, &stack, &service, &caller.name)
        .await?;
    let urls = ["github", "gitlab", "bitbucket"]
        .iter()
        .map(|p| format!("/v1/hooks/{p}/{org}/{stack}/{service}"))
        .collect();
    Ok(Json(WebhookSecret {
        secret: secrecy::ExposeSecret::expose_secret(&secret).to_owned(),
        urls,
    }))
}

/// A git push webhook: no bearer token, the signature is the authentication (GitHub
/// `X-Hub-Signature-256`, Bitbucket `X-Hub-Signature`: HMAC-SHA256 of the body; GitLab
/// `X-Gitlab-Token`). A bad or missing one is 401. Valid deliveries get 202 at once; the
/// build runs in the background. A delivery id seen before, or a push to another branch, is
/// acknowledged and builds nothing. Bodies over 1 MiB are refused with 413.
#[utoipa::path(
    post,
    path = "/v1/hooks/{provider}/{org}/{stack}/{service}",
    tag = "builds",
    params(HookPath),
    security(()),
    request_body(content = String, description = "The provider's push event (JSON)", content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: queued, duplicate or ignored", body = WebhookAnswer),
        (status = 401, description = "Bad or missing signature", body = super::error::ErrorBody),
    ),
)]
pub(super) async fn hook(
    State(state): State<ApiState>,
    ApiPath(HookPath {
        provider,
        org,
        stack,
        service,
    }): ApiPath<HookPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<WebhookAnswer>), ApiError> {
    let Some(provider) = WebhookProvider::parse(&provider) else {
        return Err(ApiError::not_found(format!("webhook provider {provider}")));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (signature, delivery_id) = match provider {
        WebhookProvider::Github => (header("x-hub-signature-256"), header("x-github-delivery")),
        WebhookProvider::Gitlab => (
            header("x-gitlab-token"),
            header("x-gitlab-event-uuid").or_else(|| header("x-gitlab-webhook-uuid")),
        ),
        _ => (
            header("x-hub-signature"),
            header("x-request-id").or_else(|| header("x-request-uuid")),
        ),
    };
    let bytes = read_limited(body).await?;
    let delivery = WebhookDelivery {
        signature,
        delivery_id,
    };
    let outcome = state
        .engine
        .webhook_push(provider, &org, &stack, &service, &delivery, &bytes)
        .await;
    let answer = match outcome {
        Ok(WebhookOutcome::Unauthorized) | Err(windlass::EngineError::NotFound { .. }) => {
            return Err(ApiError::unauthorized(
                "the webhook's signature is missing or does not match the service's webhook secret",
            ));
        }
        Ok(WebhookOutcome::Duplicate) => WebhookAnswer {
            outcome: "duplicate".into(),
            reason: Some("this delivery id was seen before".into()),
            build: None,
        },
        Ok(WebhookOutcome::Ignored(reason)) => WebhookAnswer {
            outcome: "ignored".into(),
            reason: Some(reason),
            build: None,
        },
        Ok(WebhookOutcome::Build(record)) => WebhookAnswer {
            outcome: "queued".into(),
            reason: None,
            build: Some(*record),
        },
        Ok(_) => WebhookAnswer {
            outcome: "ignored".into(),
            reason: None,
            build: None,
        },
        Err(error) => return Err(error.into()),
    };
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

async fn read_limited(body: Body) -> Result<bytes::Bytes, ApiError> {
    use http_body_util::{BodyExt as _, Limited};
    match Limited::new(body, MAX_WEBHOOK_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::payload_too_large(MAX_WEBHOOK_BODY))
        }
        Err(e) => Err(ApiError::validation(
            "body",
            format!("the body could not be read: {e}"),
        )),
    }
}
