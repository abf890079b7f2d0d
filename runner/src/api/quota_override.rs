//! The operator's quota override: a request carrying `Windlass-Quota-Override: REASON` from an
//! operator admin token (org `*`) goes through even when a quota check would refuse it; the
//! engine records it as a `quota-overridden` event with the denial and the reason. Any other
//! caller sending the header is refused (403), so it is never silently ignored.

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState, Caller};

/// The header naming why the operator overrides the quota for this one request.
pub const HEADER: &str = "windlass-quota-override";

/// Runs the request inside the engine's override when it carries [`HEADER`].
pub(super) async fn layer(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let reason = match value.to_str() {
        Ok(reason) if !reason.trim().is_empty() => reason.trim().to_owned(),
        _ => {
            return ApiError::validation(HEADER, "the override needs a reason (visible ASCII)")
                .into_response();
        }
    };
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(refused) = caller.require_operator("a quota override") {
        return refused.into_response();
    }
    let request = Request::from_parts(parts, body);
    let reason = format!("{reason} (by {})", caller.name);
    state
        .engine
        .with_quota_override(reason, next.run(request))
        .await
}
