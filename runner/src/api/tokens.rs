//! `/v1/tokens`: create (the secret is in that answer and nowhere else, ever), list (never
//! secrets) and revoke API tokens, and `/v1/tokens/current`: who the caller is.
//!
//! Managing tokens needs the admin role, and an admin manages only its own org's tokens: it
//! creates tokens for its org, lists its org's, and a token of another org is answered like a
//! missing one. Only an admin of every org (`*`, such as the first-start token) makes or sees
//! `*` tokens.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiPath;
use super::{ApiError, ApiState, Caller, EVERY_ORG, Role, extract};
use windlass::tokens::TokenInfo;

/// The longest lifetime a token may be given: ten years.
const MAX_EXPIRES_IN_SECONDS: u64 = 10 * 365 * 86_400;

/// The body of `POST /v1/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRequest {
    /// What the token is for.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
    /// Its org; default: the caller's.
    #[schema(pattern = "^(\\*|[a-z]([a-z0-9-]{0,38}[a-z0-9])?)$")]
    org: Option<String>,
    /// `read`, `deploy` or `admin`.
    role: Role,
    /// Seconds from now until it stops working (at most ten years); absent: never.
    #[serde(default, deserialize_with = "super::extract::opt_whole_u64")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    expires_in_seconds: Option<u64>,
}

/// The answer of `POST /v1/tokens`: the token's info and, this once, its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Created {
    #[serde(flatten)]
    info: TokenInfo,
    /// The bearer secret: shown in this answer only.
    secret: String,
}

/// Create a token.
///
/// Needs the admin role; an admin of one org makes tokens of its org only.
#[utoipa::path(
    post,
    path = "/v1/tokens",
    tag = "tokens",
    request_body = CreateRequest,
    responses((status = 201, description = "The token, with its secret (shown this once)", body = Created)),
)]
pub(super) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Body,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    caller.require(Role::Admin)?;
    let request: CreateRequest = extract::read_json(body).await?;
    let org = request.org.unwrap_or_else(|| caller.org.clone());
    // An org admin may not make a token for every org: `*` is not its org.
    if caller.org != EVERY_ORG && org != caller.org {
        return Err(ApiError::forbidden(format!(
            "the token belongs to org {:?}: it makes tokens of that org only, not of {org:?}",
            caller.org
        )));
    }
    let expires_ms = match request.expires_in_seconds {
        None => None,
        Some(0) => {
            return Err(ApiError::validation(
                "expires_in_seconds",
                "a token must live at least one second",
            ));
        }
        Some(s) if s > MAX_EXPIRES_IN_SECONDS => {
            return Err(ApiError::validation(
                "expires_in_seconds",
                format!("at most {MAX_EXPIRES_IN_SECONDS} seconds (ten years)"),
            ));
        }
        // Bounded above, so neither the product nor the sum can overflow.
        Some(s) => Some(now_ms() + i64::try_from(s).unwrap_or(i64::MAX / 2_000) * 1_000),
    };
    let token = state
        .tokens
        .create_expiring(&request.name, &org, request.role, expires_ms)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            info: token.info,
            secret: token.secret,
        }),
    ))
}

/// The tokens the caller manages (never their secrets).
///
/// Needs the admin role: every token for an admin of every org, else its org's.
#[utoipa::path(
    get,
    path = "/v1/tokens",
    tag = "tokens",
    responses((status = 200, description = "The tokens", body = Vec<TokenInfo>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    let org = (caller.org != EVERY_ORG).then_some(caller.org.as_str());
    Ok(Json(state.tokens.list(org).await?))
}

/// The caller's own token.
///
/// Any role: what `windlass login` checks.
#[utoipa::path(
    get,
    path = "/v1/tokens/current",
    tag = "tokens",
    responses((status = 200, description = "The caller's token", body = TokenInfo)),
)]
pub(super) async fn current(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<TokenInfo>, ApiError> {
    state
        .tokens
        .get(&caller.token_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::unauthorized("unknown token"))
}

/// `/v1/tokens/{id}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct TokenPath {
    /// The token's id (`tok_…`).
    id: String,
}

/// Revoke a token.
///
/// Needs the admin role; a token of another org is answered like a missing one.
#[utoipa::path(
    delete,
    path = "/v1/tokens/{id}",
    tag = "tokens",
    params(TokenPath),
    responses((status = 200, description = "The revoked token", body = TokenInfo)),
)]
pub(super) async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(TokenPath { id }): ApiPath<TokenPath>,
) -> Result<Json<TokenInfo>, ApiError> {
    caller.require(Role::Admin)?;
    let not_found = || ApiError::not_found(format!("token {id}"));
    let token = state.tokens.get(&id).await?.ok_or_else(not_found)?;
    if caller.org != EVERY_ORG && token.org != caller.org {
        return Err(not_found());
    }
    Ok(Json(state.tokens.revoke(&id).await?))
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX / 2)
}
