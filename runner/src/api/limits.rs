//! What the API refuses before any handler runs, in its own error format: request targets over
//! [`MAX_URI`] (414), and panics, answered as a JSON 500 (the connection survives).

use std::any::Any;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The longest request target (path and query) the API reads: 8 KiB. hyper itself refuses
/// targets over 64 KiB with an empty 414 before the API sees them.
pub const MAX_URI: usize = 8 * 1024;

/// 414 for a request target over [`MAX_URI`].
pub(super) async fn uri_length(request: Request, next: Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if length > MAX_URI {
        return ApiError::uri_too_long(MAX_URI).into_response();
    }
    next.run(request).await
}

/// The answer to a handler that panicked (logged; the runner keeps serving).
pub(super) fn panicked(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!(panic = what, "an API handler panicked");
    ApiError::internal("the request failed inside the runner (logged)").into_response()
}
