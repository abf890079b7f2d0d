//! API errors: JSON bodies with a stable code, a message and the field at fault.
//!
//! `{"error": {"code": "validation", "message": "…", "field": "replicas"}}`. Codes are part of
//! the API contract: clients match on them, never on messages.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use windlass::{EngineError, RuntimeError};

/// An error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code, one of [`CODES`].
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<String>,
}

/// Every stable code an error answer may carry (the document lists them as an enum).
pub const CODES: &[&str] = &[
    "unauthorized",
    "token-expired",
    "token-revoked",
    "forbidden",
    "policy-denied",
    "not-found",
    "validation",
    "conflict",
    "target-read-only",
    "target-unavailable",
    "target-refused",
    "adapter-failed",
    "billing-rule-failed",
    "plugin-error",
    "template-refused",
    "template-unsupported",
    "plugin-trap",
    "plugin-timeout",
    "plugin-memory-limit",
    "plugin-fuel-exhausted",
    "plugin-output-too-large",
    "plugin-outbound-denied",
    "plugin-disabled",
    "plugin-host-error",
    "quota-exceeded",
    "secrets-not-configured",
    "secrets-key",
    "secret-corrupted",
    "secret-in-use",
    "secret-injection",
    "method-not-allowed",
    "payload-too-large",
    "uri-too-long",
    "runtime-unavailable",
    "internal",
];

/// An error answer's body: `{"error": {...}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// The stable code clients match on.
    #[schema(schema_with = code_schema)]
    code: &'static str,
    /// What went wrong, for people.
    message: String,
    /// The request field at fault, if one is (`replicas`, `spec.services[1].memory`, `query`).
    field: Option<String>,
}

fn code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(CODES.iter().copied()))
        .build()
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 401: no token, or not one the engine knows.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 401: the token expired.
    pub fn token_expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "token-expired", message)
    }

    /// 401: the token was revoked.
    pub fn token_revoked(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "token-revoked", message)
    }

    /// 403: the token's role or org does not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    /// 405: the path is served, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "this path does not serve that method (see the Allow header)",
        )
    }

    /// 413: the body is over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the body is over {limit} bytes"),
        )
    }

    /// 414: the request target is over `limit` bytes.
    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the request target is over {limit} bytes"),
        )
    }

    /// 500: the API itself failed.
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 400, naming the field at fault.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "validation", message)
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InvalidSpec(e) => Self::validation(e.field.clone(), e.message.clone()),
            EngineError::InvalidStack(errors) => {
                // The first error's field is the answer's `field`: its message says it once;
                // every further error keeps its own path.
                let mut all = errors.errors().iter();
                let first = all.next();
                let mut message = first.map(|e| e.message()).unwrap_or_default();
                for other in all {
                    message.push('\n');
                    message.push_str(&other.to_string());
                }
                Self {
                    field: first.map(|e| e.field().to_owned()),
                    ..Self::new(StatusCode::BAD_REQUEST, "validation", message)
                }
            }
            EngineError::NotFound { what } => Self::not_found(what),
            EngineError::Secret(e) => {
                use windlass::secrets::SecretError;
                let status = match &e {
                    SecretError::InUse { .. } | SecretError::NotRotatable(_) => {
                        StatusCode::CONFLICT
                    }
                    SecretError::InvalidValue(_) => StatusCode::BAD_REQUEST,
                    SecretError::NotConfigured => StatusCode::SERVICE_UNAVAILABLE,
                    _ => {
                        tracing::error!(error = %e, "secrets request failed");
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                let field = matches!(e, SecretError::InvalidValue(_)).then(|| "value".to_owned());
                Self {
                    field,
                    ..Self::new(status, e.code(), e.to_string())
                }
            }
            // The message names the rule (a config key), e.g. `refused by policy.images: …`.
            EngineError::PolicyDenied(denied) => {
                Self::new(StatusCode::FORBIDDEN, "policy-denied", denied.to_string())
            }
            EngineError::Conflict { what } => Self::new(StatusCode::CONFLICT, "conflict", what),
            e @ EngineError::ReadOnlyTarget { .. } => {
                Self::new(StatusCode::CONFLICT, "target-read-only", e.to_string())
            }
            EngineError::QuotaExceeded(denial) => Self {
                field: Some(denial.resource.clone()),
                ..Self::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "quota-exceeded",
                    denial.to_string(),
                )
            },
            e @ EngineError::TargetUnavailable { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "target-unavailable",
                e.to_string(),
            ),
            e @ EngineError::TargetRefused { .. } => {
                Self::new(StatusCode::CONFLICT, "target-refused", e.to_string())
            }
            e @ EngineError::AdapterFailed { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "adapter-failed", e.to_string())
            }
            e @ EngineError::BillingRuleFailed { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "billing-rule-failed",
                e.to_string(),
            ),
            EngineError::Config(message) => {
                Self::new(StatusCode::BAD_REQUEST, "validation", message)
            }
            EngineError::Runtime(RuntimeError::NotFound { .. }) => Self::not_found("the container"),
            EngineError::Runtime(
                e @ (RuntimeError::Unreachable { .. } | RuntimeError::Timeout { .. }),
            ) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "runtime-unavailable",
                e.to_string(),
            ),
            other => {
                tracing::error!(error = %other, "api request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    other.to_string(),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
