//! The HTTP API (axum): JSON over HTTP/1.1, bearer tokens, org scoping, events as SSE.
//!
//! Routes live with their resource: `containers` (list with filters, inspect, start, stop,
//! restart, health and its history), `services` (apply and remove), `events` (paged history and
//! a resumable SSE stream), `openapi` (the document describing all of them). `auth` owns
//! tokens and who may do what; `error` the JSON error body. This module must not hold engine
//! logic: every handler checks the caller, then calls one `Engine` method.

mod auth;
mod containers;
mod error;
mod events;
mod extract;
mod openapi;
mod services;

use std::future::Future;

use axum::Router;
use axum::routing::{get, post, put};

pub use auth::{Caller, EVERY_ORG, NewToken, Role, Tokens};
pub use error::ApiError;

use crate::Engine;

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The engine behind the API.
    pub engine: Engine,
    /// The token store.
    pub tokens: Tokens,
}

impl ApiState {
    /// The API state of `engine` (its tokens live in the engine's store).
    pub fn new(engine: Engine) -> Self {
        let tokens = Tokens::new(engine.inner().ctx.store.clone());
        Self { engine, tokens }
    }
}

/// Every route of the API, for `engine`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/openapi.json", get(openapi::document))
        .route("/v1/containers", get(containers::list))
        .route("/v1/containers/{name}", get(containers::inspect))
        .route("/v1/containers/{name}/start", post(containers::start))
        .route("/v1/containers/{name}/stop", post(containers::stop))
        .route("/v1/containers/{name}/restart", post(containers::restart))
        .route("/v1/containers/{name}/health", get(containers::health))
        .route(
            "/v1/containers/{name}/health/history",
            get(containers::health_history),
        )
        .route(
            "/v1/orgs/{org}/stacks/{stack}/services",
            get(services::list),
        )
        .route(
            "/v1/orgs/{org}/stacks/{stack}/services/{service}",
            put(services::apply).delete(services::remove),
        )
        .route("/v1/events", get(events::history))
        .route("/v1/events/stream", get(events::stream))
        .fallback(|| async { ApiError::not_found("route") })
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
