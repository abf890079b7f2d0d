//! `/v1/orgs/{org}/secrets`: set (a new version), list, show, delete; `/v1/secrets/rotate-key`.
//!
//! A value only ever comes in (the `value` of a PUT body, deserialised straight into a
//! `SecretString`); no answer carries one. A delete refused because services use the secret is
//! a 409 `secret-in-use` whose message names them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use windlass::secrets::{KeyRotation, SecretInfo, SecretSet};

use super::{ApiError, ApiState, Caller, Role};

/// The body of a PUT: the value, and nothing else. Write-only: no answer ever carries it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SecretValue {
    /// The value (UTF-8, at most 64 KiB). Write-only: no answer of the API ever contains it.
    #[schema(value_type = String, write_only, min_length = 1, max_length = 65536)]
    value: SecretString,
}

#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/secrets",
    tag = "secrets",
    params(super::billing::OrgPath),
    responses((status = 200, description = "The org's secrets: versions with status, times, actors, users; never values", body = Vec<SecretInfo>)),
)]
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<Vec<SecretInfo>>, ApiError> {
    super::billing::check_org(&org)?;
    caller.require_org(&org)?;
    Ok(Json(state.engine.secrets(&org).await?))
}

#[utoipa::path(
    get,
    path = "/v1/orgs/{org}/secrets/{name}",
    tag = "secrets",
    params(super::params::SecretPath),
    responses((status = 200, description = "One secret (never its value)", body = SecretInfo)),
)]
pub(super) async fn show(
    State(state): State<ApiState>,
    caller: Caller,
    Path(super::params::SecretPath { org, name }): Path<super::params::SecretPath>,
) -> Result<Json<SecretInfo>, ApiError> {
    caller.require_org(&org)?;
    Ok(Json(state.engine.secret(&org, &name).await?))
}

/// Sets a value: `{"value": "…"}`. 200 with the new version and the services it rolls.
#[utoipa::path(
    put,
    path = "/v1/orgs/{org}/secrets/{name}",
    tag = "secrets",
    params(super::params::SecretPath),
    request_body = SecretValue,
    responses((status = 200, description = "The version created and the services rolled or recorded", body = SecretSet)),
)]
pub(super) async fn set(
    State(state): State<ApiState>,
    caller: Caller,
    Path(super::params::SecretPath { org, name }): Path<super::params::SecretPath>,
    body: Bytes,
) -> Result<Json<SecretSet>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    if body.is_empty() {
        return Err(ApiError::validation(
            "body",
            "a JSON body `{\"value\": \"…\"}` is required",
        ));
    }
    // serde_json's messages quote what they could not read; a value must never be echoed, so
    // the error says only what shape was expected.
    let parsed: SecretValue = serde_json::from_slice(&body).map_err(|_| {
        ApiError::validation(
            "body",
            "the body must be a JSON object `{\"value\": \"…\"}` with a string value and no other field",
        )
    })?;
    drop(body);
    Ok(Json(
        state
            .engine
            .set_secret(&org, &name, parsed.value, &caller.name)
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/v1/orgs/{org}/secrets/{name}",
    tag = "secrets",
    params(super::params::SecretPath),
    responses((status = 200, description = "`{deleted}`; 409 `secret-in-use` naming the services", body = Object)),
)]
pub(super) async fn remove(
    State(state): State<ApiState>,
    caller: Caller,
    Path(super::params::SecretPath { org, name }): Path<super::params::SecretPath>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Deploy)?;
    caller.require_org(&org)?;
    state
        .engine
        .delete_secret(&org, &name, &caller.name)
        .await?;
    Ok(Json(json!({ "deleted": name })))
}

/// Re-encrypts every value under a new key. Needs an admin token of every org (`*`).
#[utoipa::path(
    post,
    path = "/v1/secrets/rotate-key",
    tag = "secrets",
    responses((status = 200, description = "The key ids before and after, and how many values were re-encrypted", body = KeyRotation)),
)]
pub(super) async fn rotate_key(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<KeyRotation>, ApiError> {
    caller.require_operator("rotating the secrets key")?;
    Ok(Json(state.engine.rotate_secrets_key(&caller.name).await?))
}
