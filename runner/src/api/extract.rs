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

/// Parses a JSON body already read. Every body this API takes is a JSON object: serde would
/// also read a struct from an array (`[null, null]`), which the document does not allow.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::validation("body", "a JSON body is required"));
    }
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::validation(
            "body",
            "the JSON body must be an object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation("body", format!("the JSON body does not fit: {e}")))
}

/// No body, or a JSON `null`: an optional body left out.
pub(super) fn no_body(body: &[u8]) -> bool {
    let body = body.trim_ascii();
    body.is_empty() || body == b"null"
}

/// A `u32` also written as a whole JSON float (`3.0`): JSON Schema's `integer` allows both,
/// and schema-driven clients (schemathesis among them) send either.
pub(super) fn whole_u32<'de, D: serde::Deserializer<'de>>(de: D) -> Result<u32, D::Error> {
    use serde::Deserialize as _;
    let number = serde_json::Number::deserialize(de)?;
    whole(&number, u64::from(u32::MAX)).map(|n| n as u32)
}

/// An optional `u64` (absent or `null`: `None`), also written as a whole JSON float; use with
/// `#[serde(default, deserialize_with = "…")]`.
pub(super) fn opt_whole_u64<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize as _;
    Option::<serde_json::Number>::deserialize(de)?
        .map(|number| whole(&number, u64::MAX))
        .transpose()
}

/// `number` as a whole number from 0 to `max`, written as an integer or a whole float.
fn whole<E: serde::de::Error>(number: &serde_json::Number, max: u64) -> Result<u64, E> {
    number
        .as_u64()
        .or_else(|| {
            // Floats above 2^53 are whole but inexact; `as` saturates at u64::MAX.
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64)
                .map(|f| f as u64)
        })
        .filter(|n| *n <= max)
        .ok_or_else(|| E::custom(format!("`{number}` is not a whole number from 0 to {max}")))
}

/// An `i64` also written as a whole JSON float (`3.0`), as JSON Schema's `integer` allows.
pub(super) fn whole_i64<'de, D: serde::Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    use serde::Deserialize as _;
    let number = serde_json::Number::deserialize(de)?;
    number
        .as_i64()
        .or_else(|| {
            // 2^63 is exactly representable; anything below it is an `i64`.
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= -(2f64.powi(63)) && *f < 2f64.powi(63))
                .map(|f| f as i64)
        })
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{number}` is not a whole number that fits 64 bits"
            ))
        })
}
