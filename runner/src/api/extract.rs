//! Extractors whose rejections are [`ApiError`]s (axum's own answers are plain text): query
//! strings, path parameters, and [`read_json`] for bodies, which handlers call after checking
//! the caller so a token without the role gets its 403 whatever it sent (and however much).

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::ApiError;

/// The largest body the API reads: 2 MiB.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

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

/// Path parameters, refused with a `validation` error (a segment that is not UTF-8 once
/// percent-decoded).
#[derive(Debug)]
pub(super) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|e| ApiError::validation("path", e.body_text()))
    }
}

/// Reads a JSON body of at most [`MAX_BODY`] bytes (413 beyond; the rest is not read) and
/// parses it (a `validation` error on the field `body`).
pub(super) async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    parse(&read(body).await?)
}

/// Reads a body of at most [`MAX_BODY`] bytes.
pub(super) async fn read(body: Body) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(MAX_BODY))
        }
        Err(e) => Err(ApiError::validation(
            "body",
            format!("the body could not be read: {e}"),
        )),
    }
}

/// Parses a JSON body already read.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::validation("body", "a JSON body is required"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation("body", format!("the JSON body does not fit: {e}")))
}
