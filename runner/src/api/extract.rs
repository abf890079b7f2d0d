//! A query extractor whose rejection is an [`ApiError`] (axum's own answer is plain text), and
//! [`json`] for bodies, which handlers parse after checking the caller.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// A query string, refused with a `validation` error.
#[derive(Debug)]
pub(super) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|e| ApiError::validation("query", e.body_text()))
    }
}

/// Parses a JSON body, refused with a `validation` error on the field `body`. Handlers that
/// change something take the raw body and call this after checking the caller, so a token
/// without the role gets its 403 whatever it sent.
pub(super) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::validation("body", "a JSON body is required"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation("body", format!("the JSON body does not fit: {e}")))
}
