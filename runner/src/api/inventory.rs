//! `/v1/inventory`: the containers of every target (the engine's inventory), as one answer or
//! as server-sent progress events ending with the answer.
//!
//! A token of one org sees only its org's containers (the query's `org` is forced to it); a
//! token of every org sees every target's containers.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use serde::Deserialize;
use utoipa::IntoParams;
use windlass::inventory::{Health, InventoryQuery, InventoryReport, QueryError};

use super::extract::ApiQuery;
use super::{ApiError, ApiState, Caller};

/// The largest page (`limit`) one answer holds.
const MAX_LIMIT: u32 = 10_000;

/// Filters and page of `GET /v1/inventory`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct InventoryParams {
    /// Only these targets, comma-separated (`local`, a `[[targets]]` name); default all.
    target: Option<String>,
    /// Only this org's containers (a token of one org may name only its own).
    org: Option<String>,
    /// Only this GVC (Control Plane) or stack (local); on adapters it picks the GVC listed.
    #[serde(alias = "gvc", alias = "stack")]
    scope: Option<String>,
    /// Only this location.
    location: Option<String>,
    /// Only this workload or service.
    #[serde(alias = "workload", alias = "service")]
    group: Option<String>,
    /// Only this image: exact, or a glob when it holds `*`, `?`, `[` or `{`.
    image: Option<String>,
    /// Only this health.
    #[param(pattern = "^(healthy|unhealthy|suspended)$")]
    status: Option<String>,
    /// A regular expression the container name must match.
    name: Option<String>,
    /// Only unhealthy containers.
    unhealthy: Option<bool>,
    /// Also the engine's probe containers.
    include_system: Option<bool>,
    /// At most this many containers.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only the number of matching containers (`total`).
    count: Option<bool>,
    /// Bypass the inventory cache.
    refresh: Option<bool>,
}

impl InventoryParams {
    fn query(self, caller: &Caller) -> Result<InventoryQuery, ApiError> {
        let org = match (self.org, caller.org.as_str()) {
            (Some(org), _) => {
                caller.require_org(&org)?;
                Some(org)
            }
            (None, super::EVERY_ORG) => None,
            (None, own) => Some(own.to_owned()),
        };
        let status = match self.status.as_deref() {
            None => None,
            Some(s) => Some(Health::parse(s).ok_or_else(|| {
                ApiError::validation(
                    "status",
                    format!("{s:?} is not one of healthy, unhealthy, suspended"),
                )
            })?),
        };
        if let Some(limit) = self.limit
            && !(1..=MAX_LIMIT).contains(&limit)
        {
            return Err(ApiError::validation(
                "limit",
                format!("{limit} is not in 1..={MAX_LIMIT}"),
            ));
        }
        let mut query = InventoryQuery::all();
        query.targets = self
            .target
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        query.org = org;
        query.scope = self.scope;
        query.location = self.location;
        query.group = self.group;
        query.image = self.image;
        query.status = status;
        query.name = self.name;
        query.unhealthy_only = self.unhealthy.unwrap_or(false);
        query.include_system = self.include_system.unwrap_or(false);
        query.limit = self.limit.map(|l| l as usize);
        query.cursor = self.cursor;
        query.count_only = self.count.unwrap_or(false);
        query.refresh = self.refresh.unwrap_or(false);
        Ok(query)
    }
}

fn refused(error: QueryError) -> ApiError {
    ApiError::validation(error.field, error.reason)
}

/// The containers of every target, with statistics.
///
/// Needs the `read` role. Partial results are results: a workload a target could not read is
/// in `stats.errors` (with its code) and the others are returned.
#[utoipa::path(
    get,
    path = "/v1/inventory",
    tag = "inventory",
    params(InventoryParams),
    responses((status = 200, description = "The matching containers (a page), their total and the run's statistics", body = InventoryReport)),
)]
pub(super) async fn inventory(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<InventoryParams>,
) -> Result<Json<InventoryReport>, ApiError> {
    let query = params.query(&caller)?;
    let report = state.engine.inventory(&query).await.map_err(refused)?;
    Ok(Json(report))
}

/// The inventory as server-sent events: `progress` events (stage, done, total) in order, then
/// one `report` event with the answer of `GET /v1/inventory`.
///
/// Needs the `read` role. A malformed query is refused before the stream starts.
#[utoipa::path(
    get,
    path = "/v1/inventory/stream",
    tag = "inventory",
    params(InventoryParams),
    responses((status = 200, description = "`progress` events, then a `report` event", content_type = "text/event-stream", body = super::openapi::ServerSentEvent)),
)]
pub(super) async fn stream(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<InventoryParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let query = params.query(&caller)?;
    // Refuse a malformed query with a 400 before streaming.
    state
        .engine
        .check_inventory_query(&query)
        .map_err(refused)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let engine = state.engine.clone();
    tokio::spawn(async move {
        let report = engine.inventory_with_progress(&query, tx).await;
        done_tx.send(report).ok();
    });
    let progress = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|p| {
        Ok(SseEvent::default()
            .event("progress")
            .json_data(p)
            .unwrap_or_else(|_| SseEvent::default().comment("unencodable progress")))
    });
    let last = futures::stream::once(async move {
        Ok(match done_rx.await {
            Ok(Ok(report)) => SseEvent::default()
                .event("report")
                .json_data(&report)
                .unwrap_or_else(|_| SseEvent::default().comment("unencodable report")),
            Ok(Err(error)) => SseEvent::default().event("error").data(error.to_string()),
            Err(_) => SseEvent::default()
                .event("error")
                .data("the inventory stopped"),
        })
    });
    Ok(Sse::new(progress.chain(last)).keep_alive(KeepAlive::default()))
}
