//! `/v1/events`: paged history and a live SSE stream that resumes with `Last-Event-ID`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use super::{ApiError, ApiState, Caller};
use windlass::{Event, EventFilter};

/// Filters of the event history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventQuery {
    /// The first index wanted (default 0).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807u64)]
    from: Option<u64>,
    /// At most this many (default 1 000).
    #[param(minimum = 1, maximum = 10_000)]
    limit: Option<u32>,
    /// Only this org's (a token of one org may name only its own).
    org: Option<String>,
    /// Only this stack's.
    stack: Option<String>,
    /// Only this kind (`container-started`…).
    kind: Option<String>,
}

/// Filters of the event stream.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct StreamQuery {
    /// The first index wanted (default 0; `Last-Event-ID` + 1 wins).
    #[param(minimum = 0, maximum = 9_223_372_036_854_775_807u64)]
    from: Option<u64>,
    /// Only this org's (a token of one org may name only its own).
    org: Option<String>,
    /// Only this stack's.
    stack: Option<String>,
    /// Only this kind (`container-started`…).
    kind: Option<String>,
}

/// The `Last-Event-ID` header of the stream.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its description is used: the handler reads the header itself
struct Resume {
    /// The index of the last event the client received: the stream continues after it.
    #[param(rename = "Last-Event-ID")]
    last_event_id: Option<u64>,
}

impl EventQuery {
    /// The filter for this caller: an org-scoped token sees only its org's events.
    fn filter(&self, caller: &Caller, from: u64) -> Result<EventFilter, ApiError> {
        let org = match (&self.org, caller.org.as_str()) {
            (Some(org), _) => {
                caller.require_org(org)?;
                Some(org.clone())
            }
            (None, super::EVERY_ORG) => None,
            (None, own) => Some(own.to_owned()),
        };
        if self.limit == Some(0) || self.limit > Some(EventFilter::MAX_QUERY_LIMIT) {
            return Err(ApiError::validation(
                "limit",
                format!("limit must be 1..={}", EventFilter::MAX_QUERY_LIMIT),
            ));
        }
        Ok(EventFilter {
            org,
            stack: self.stack.clone(),
            kind: self.kind.clone(),
            from_index: from,
            limit: self.limit,
        })
    }
}

/// A page of history.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventPage {
    events: Vec<Event>,
    /// Where the next page starts.
    next_from: u64,
}

/// A page of event history.
///
/// Needs the `read` role; a token of one org sees only its org's events.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(EventQuery),
    responses((status = 200, description = "Events from `from` on, oldest first", body = EventPage)),
)]
pub(super) async fn history(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let from = checked_from(query.from)?;
    let filter = query.filter(&caller, from)?;
    let events = state.engine.events(&filter).await?;
    let next_from = events.last().map_or(from, |e| e.index + 1);
    Ok(Json(EventPage { events, next_from }))
}

/// Live events (SSE), resumable with `Last-Event-ID`.
///
/// Needs the `read` role. `text/event-stream`: each event's SSE id is its index, its SSE event
/// name its kind, its data the event as JSON. A client that reconnects with
/// `Last-Event-ID: N` continues at N + 1 with no gap and no duplicate.
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    params(StreamQuery, Resume),
    responses((status = 200, description = "Server-sent events, one per event, until the client leaves", content_type = "text/event-stream", body = super::openapi::ServerSentEvent)),
)]
pub(super) async fn stream(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::validation("Last-Event-ID", "not an event index"))?
                .checked_add(1)
                .ok_or_else(|| {
                    ApiError::validation("Last-Event-ID", "no event can follow this index")
                })?,
        ),
    };
    let from = checked_from(resume.or(query.from))?;
    let history = EventQuery {
        from: None,
        limit: None,
        org: query.org,
        stack: query.stack,
        kind: query.kind,
    };
    let filter = history.filter(&caller, from)?;
    let events = state
        .engine
        .event_log()
        .subscribe_filtered(filter)
        .take_until(state.closed())
        .map(|item| {
            Ok(match item {
                Ok(event) => SseEvent::default()
                    .id(event.index.to_string())
                    .event(event.kind.clone())
                    .json_data(&event)
                    .unwrap_or_else(|_| SseEvent::default().comment("unencodable event")),
                Err(error) => SseEvent::default().event("error").data(error.to_string()),
            })
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The largest `from` the document allows: event indexes are `int64` on the wire.
const MAX_FROM: u64 = i64::MAX as u64;

/// `from` (default 0), refused past [`MAX_FROM`] as the document says.
fn checked_from(from: Option<u64>) -> Result<u64, ApiError> {
    match from.unwrap_or(0) {
        from if from > MAX_FROM => Err(ApiError::validation(
            "from",
            format!("`from` is at most {MAX_FROM}"),
        )),
        from => Ok(from),
    }
}
