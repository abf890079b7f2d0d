//! `/v1/orgs/{org}/billing/…` and `/v1/orgs/{org}/quotas`: invoices, usage so far, balance and
//! its movements, top-ups (operator admin tokens only), limits and what the org holds.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::extract::{self, ApiPath, ApiQuery};
use super::{ApiError, ApiState, Caller};

/// `/v1/orgs/{org}/billing/…`, `/v1/orgs/{org}/quotas`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct OrgPath {
    /// The org.
    #[param(pattern = "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")]
    org: String,
}

/// `from_ms` / `to_ms` of the listing routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct Window {
    /// From this time (ms since the Unix epoch).
    from_ms: Option<i64>,
    /// Up to this time (ms since the Unix epoch).
    to_ms: Option<i64>,
}

/// Invoices with periods starting in the window (default: all), oldest first, with lines.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/billing/invoices",
    tag = "billing",
    params(OrgPath, Window),
    responses((status = 200, description = "`{org, total_minor, invoices}`", body = Object)),
)]
pub(super) async fn invoices(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(OrgPath { org }): ApiPath<OrgPath>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<Value>, ApiError> {
    caller.require_org(&org)?;
    check_org(&org)?;
    let invoices = state
        .engine
        .invoices(
            &org,
            window.from_ms.unwrap_or(0),
            window.to_ms.unwrap_or(i64::MAX),
        )
        .await?;
    let total: i64 = invoices.iter().map(|i| i.total_minor).sum();
    Ok(Json(
        json!({ "org": org, "total_minor": total, "invoices": invoices }),
    ))
}

/// Usage metered in the window (default: since the first period not charged yet), with
/// totals per service.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/billing/usage",
    tag = "billing",
    params(OrgPath, Window),
    responses((status = 200, description = "`{org, from_ms, to_ms, services, intervals}`", body = Object)),
)]
pub(super) async fn usage(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(OrgPath { org }): ApiPath<OrgPath>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<Value>, ApiError> {
    caller.require_org(&org)?;
    check_org(&org)?;
    let account = state.engine.account(&org).await?;
    let from = window
        .from_ms
        .or(account.as_ref().map(|a| a.next_period_ms))
        .unwrap_or(0);
    let to = window.to_ms.unwrap_or(i64::MAX);
    let intervals = state.engine.usage(&org, from, to).await?;
    let mut services: std::collections::BTreeMap<(String, String), [i128; 5]> =
        std::collections::BTreeMap::new();
    for u in &intervals {
        let ms = i128::from(u.end_ms - u.start_ms);
        let sums = services
            .entry((u.stack.clone(), u.service.clone()))
            .or_default();
        sums[0] += i128::from(u.cpu_millis.unwrap_or(0)) * ms;
        sums[1] += i128::from(u.memory_bytes.unwrap_or(0)) * ms;
        sums[2] += i128::from(u.cpu_used_core_ms);
        sums[3] += i128::from(u.memory_used_byte_s);
        sums[4] += i128::from(u.egress_bytes);
    }
    let services: Vec<Value> = services
        .into_iter()
        .map(|((stack, service), s)| {
            json!({
                "stack": stack,
                "service": service,
                // Strings: the exact sums can pass what a JSON number holds safely.
                "cpu_allocated_milli_ms": s[0].to_string(),
                "memory_allocated_byte_ms": s[1].to_string(),
                "cpu_used_core_ms": s[2].to_string(),
                "memory_used_byte_s": s[3].to_string(),
                "egress_bytes": s[4].to_string(),
            })
        })
        .collect();
    Ok(Json(json!({
        "org": org,
        "from_ms": from,
        "to_ms": to,
        "services": services,
        "intervals": intervals,
    })))
}

/// The balance and its movements.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/billing/balance",
    tag = "billing",
    params(OrgPath),
    responses((status = 200, description = "`{org, account, movements}`", body = Object)),
)]
pub(super) async fn balance(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(OrgPath { org }): ApiPath<OrgPath>,
) -> Result<Json<Value>, ApiError> {
    caller.require_org(&org)?;
    check_org(&org)?;
    let account = state.engine.account(&org).await?;
    let movements = state.engine.balance_movements(&org).await?;
    Ok(Json(
        json!({ "org": org, "account": account, "movements": movements }),
    ))
}

/// The body of a top-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TopUp {
    /// The credit, in minor units of the currency.
    #[serde(deserialize_with = "super::extract::whole_i64")]
    #[schema(minimum = 1)]
    amount_minor: i64,
    /// A reference for the movement.
    #[serde(default)]
    reference: String,
}

/// Adds credit (operator admin tokens only: an org does not credit itself).
#[utoipa::path(
    post,
    path = "/v1/orgs/{org}/billing/top-up",
    tag = "billing",
    params(OrgPath),
    request_body = TopUp,
    responses((status = 200, description = "`{org, account}`", body = Object)),
)]
pub(super) async fn top_up(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(OrgPath { org }): ApiPath<OrgPath>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator("a top-up")?;
    let top_up: TopUp = extract::read_json(body).await?;
    let account = state
        .engine
        .top_up(&org, top_up.amount_minor, &top_up.reference)
        .await?;
    Ok(Json(json!({ "org": org, "account": account })))
}

/// The org's limits and what it holds now.
#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/quotas",
    tag = "billing",
    params(OrgPath),
    responses((status = 200, description = "`{org, limits, allocation}`", body = Object)),
)]
pub(super) async fn quotas(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(OrgPath { org }): ApiPath<OrgPath>,
) -> Result<Json<Value>, ApiError> {
    caller.require_org(&org)?;
    check_org(&org)?;
    let (limits, allocation) = state.engine.quota_status(&org).await?;
    Ok(Json(
        json!({ "org": org, "limits": limits, "allocation": allocation }),
    ))
}

/// The largest limit `PUT /v1/orgs/{org}/quotas` takes (below what the store's 64-bit signed
/// integers hold, and exact as the document's JSON number).
const MAX_LIMIT: u64 = 9_000_000_000_000_000_000;

/// An org's limits, as `PUT /v1/orgs/{org}/quotas` takes them: a limit absent or null is no
/// limit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct QuotasBody {
    /// CPU over all replicas, thousandths of a core.
    #[schema(minimum = 0, maximum = 9_000_000_000_000_000_000_u64)]
    #[serde(default, deserialize_with = "extract::opt_whole_u64")]
    cpu_millis: Option<u64>,
    /// Memory over all replicas, bytes.
    #[schema(minimum = 0, maximum = 9_000_000_000_000_000_000_u64)]
    #[serde(default, deserialize_with = "extract::opt_whole_u64")]
    memory_bytes: Option<u64>,
    /// Disk, bytes (passed to the rule).
    #[schema(minimum = 0, maximum = 9_000_000_000_000_000_000_u64)]
    #[serde(default, deserialize_with = "extract::opt_whole_u64")]
    disk_bytes: Option<u64>,
    /// Containers (replicas over all services).
    #[schema(minimum = 0, maximum = 9_000_000_000_000_000_000_u64)]
    #[serde(default, deserialize_with = "extract::opt_whole_u64")]
    containers: Option<u64>,
    /// Services.
    #[schema(minimum = 0, maximum = 9_000_000_000_000_000_000_u64)]
    #[serde(default, deserialize_with = "extract::opt_whole_u64")]
    services: Option<u64>,
    /// Spend in the calendar month (UTC), minor units.
    #[schema(minimum = 0, maximum = 9_000_000_000_000_000_000_u64)]
    #[serde(default, deserialize_with = "extract::opt_whole_u64")]
    monthly_spend_minor: Option<u64>,
}

/// Replaces the org's limits (operator admin tokens only), stored: they outlive restarts and
/// replace the configuration's for this org.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/quotas",
    tag = "billing",
    params(OrgPath),
    request_body = QuotasBody,
    responses((status = 200, description = "`{org, limits, allocation}`", body = Object)),
)]
pub(super) async fn set_quotas(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(OrgPath { org }): ApiPath<OrgPath>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    caller.require_operator("changing quotas")?;
    check_org(&org)?;
    let body: QuotasBody = extract::read_json(body).await?;
    let mut limits = windlass::billing::Quotas::unlimited();
    limits.cpu_millis = body.cpu_millis;
    limits.memory_bytes = body.memory_bytes;
    limits.disk_bytes = body.disk_bytes;
    limits.containers = body.containers;
    limits.services = body.services;
    limits.monthly_spend_minor = body.monthly_spend_minor;
    for (field, value) in [
        ("cpu_millis", body.cpu_millis),
        ("memory_bytes", body.memory_bytes),
        ("disk_bytes", body.disk_bytes),
        ("containers", body.containers),
        ("services", body.services),
        ("monthly_spend_minor", body.monthly_spend_minor),
    ] {
        if value.is_some_and(|v| v > MAX_LIMIT) {
            return Err(ApiError::validation(
                field,
                format!("a limit is at most {MAX_LIMIT}"),
            ));
        }
    }
    state.engine.set_quotas(&org, limits).await?;
    let (limits, allocation) = state.engine.quota_status(&org).await?;
    Ok(Json(
        json!({ "org": org, "limits": limits, "allocation": allocation }),
    ))
}

/// The path's org has the shape of a name (as the document's `pattern` says): a malformed one
/// is a 400, not an empty account.
pub(super) fn check_org(org: &str) -> Result<(), ApiError> {
    windlass::validate_name("org", org).map_err(|e| ApiError::validation(e.field, e.message))
}
