//! The OpenAPI 3.1 document of the API, served at `/openapi.json` (no token needed).
//!
//! Generated with utoipa: every handler carries a `#[utoipa::path]` attribute (method, path,
//! parameters, request body, success responses) and is registered with `routes!` in
//! [`super::routes`], so a route cannot be served without being described. Body types derive
//! `ToSchema` (the engine's behind its `openapi` feature). [`finish`] adds what every operation
//! shares: the bearer scheme and the JSON error answers for every status the runner can give.

use std::sync::LazyLock;

use super::error::ErrorBody;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{ResponseBuilder, Responses};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};

/// The parts of the document that are not about one route.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Windlass API",
        description = "Containers, stacks, services, events, plugins and metrics of a Windlass \
                       runner. Every route but `/healthz` and `/openapi.json` needs \
                       `Authorization: Bearer <token>`; every error is JSON with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
)]
pub(super) struct ApiDoc;

/// One message of a `text/event-stream` answer, as the SSE format frames it: the schema each
/// message of such an answer fits (schemathesis checks every message of a stream against it).
/// A description only: the handlers write messages with axum's `Sse`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // never built: it describes what axum's `Sse` writes
pub(super) struct ServerSentEvent {
    /// The message's type (`event:`): what the operation's description names.
    event: Option<String>,
    /// The message's data (`data:` lines joined by newlines): JSON, or a line of text where
    /// the operation says so.
    data: String,
    /// The message's id (`id:`), on streams that resume with `Last-Event-ID`.
    id: Option<String>,
    /// The reconnection delay the server asks for (`retry:`), in milliseconds.
    retry: Option<u64>,
}

/// The error answers every operation documents, with what causes them.
const COMMON_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "`validation`: a parameter, the query or the body does not fit (the field is named)",
    ),
    (
        "404",
        "`not-found`: no such resource, or one the token may not see",
    ),
    ("405", "`method-not-allowed`: the path has no such method"),
    ("414", "`uri-too-long`: the request target is over 8 KiB"),
    ("500", "`internal`: the runner failed"),
    (
        "503",
        "`runtime-unavailable`: Docker did not answer in time; `plugin-disabled`: a plugin is disabled by its failure policy",
    ),
];

/// Added to operations that need a token.
const AUTH_ERRORS: &[(&str, &str)] = &[
    (
        "401",
        "`unauthorized`: no token, or not one the runner knows; `token-expired`, `token-revoked`: the token expired or was revoked",
    ),
    (
        "403",
        "`forbidden`: the token's role or org does not allow this; `policy-denied`: the operator's policy refuses the service (the message names the rule)",
    ),
];

/// Added to operations that take a body.
const BODY_ERRORS: &[(&str, &str)] = &[
    (
        "409",
        "`conflict`: the change conflicts with the current state",
    ),
    ("413", "`payload-too-large`: the body is over 2 MiB"),
    (
        "422",
        "`template-refused`, `template-unsupported`: a stack template refused its parameters",
    ),
    (
        "502",
        "`plugin-trap`, `plugin-timeout`…: a plugin failed in its sandbox",
    ),
    (
        "507",
        "`quota-exceeded`: the change would pass the org's quota (the field names the resource)",
    ),
];

/// Completes the document the router collected (see the module docs).
pub(super) fn finish(mut doc: OpenApi) -> OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "bearer".to_owned(),
        RefOr::T(SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A Windlass API token (`wl_…`); the scheme is case-insensitive",
                ))
                .build(),
        )),
    );
    for (status, description) in COMMON_ERRORS.iter().chain(AUTH_ERRORS).chain(BODY_ERRORS) {
        components.responses.insert(
            error_response_name(status),
            RefOr::T(
                ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Error")))
                            .build(),
                    )
                    .build(),
            ),
        );
    }
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_errors(operation);
        }
    }
    doc
}

fn error_response_name(status: &str) -> String {
    format!("Error{status}")
}

fn add_errors(operation: &mut Operation) {
    // Handlers of different resources share names (`list`, `status`): the id is
    // `TAG_HANDLER`, unique in the document.
    if let (Some(id), Some(tag)) = (
        &operation.operation_id,
        operation.tags.as_ref().and_then(|t| t.first()),
    ) {
        operation.operation_id = Some(format!("{tag}_{id}"));
    }
    // `security(())` on a handler: it needs no token.
    let public = operation
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    let mut errors: Vec<&(&str, &str)> = COMMON_ERRORS.iter().collect();
    if !public {
        errors.extend(AUTH_ERRORS);
    }
    if operation.request_body.is_some() {
        errors.extend(BODY_ERRORS);
    }
    let responses: &mut Responses = &mut operation.responses;
    for (status, _) in errors {
        responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(error_response_name(status))));
    }
}

/// The document, built once.
pub(crate) static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    super::openapi()
        .to_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document did not serialise: {e}\"}}"))
});

/// This document (OpenAPI 3.1, JSON).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub(super) async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

/// Liveness of the API itself.
///
/// `ok` while the runner serves requests; it does not ask Docker or the store.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The runner serves requests", content_type = "text/plain", body = String, example = "ok")),
)]
pub(super) async fn healthz() -> &'static str {
    "ok"
}
