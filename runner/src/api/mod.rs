//! The HTTP API (axum): JSON over HTTP/1.1, bearer tokens, org scoping, events as SSE.
//!
//! Routes live with their resource: `containers` (list with filters, inspect, start, stop,
//! restart, health and its history), `logs` (a container's output, streamed), `services`
//! (apply and remove), `stacks` (list, deploy, status, remove, scale), `tokens` (create, list,
//! revoke), `events` (paged history
//! and a resumable SSE stream), `metrics` (Prometheus), `openapi` (the document describing all
//! of them), `billing` (invoices, usage, balance, top-ups, quotas). `auth` owns tokens and who may do what; `error` the JSON error body; `cache` the
//! short-lived container list the reading routes share. This module must not hold engine
//! logic: every handler checks the caller, then calls one `Engine` method.

mod auth;
mod billing;
mod cache;
mod containers;
mod error;
mod events;
mod extract;
mod logs;
mod metrics;
mod openapi;
mod plugin_events;
mod plugins;
mod services;
mod stacks;
mod templates;
mod tokens;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::routing::{delete, get, post, put};

pub use auth::Caller;
pub use error::ApiError;
pub use metrics::Metrics;
pub use plugin_events::forward_plugin_events;
pub use templates::TemplatedStacks;
pub use windlass::tokens::{EVERY_ORG, NewToken, Role, TokenInfo, Tokens};

use windlass::Engine;

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The engine behind the API.
    pub engine: Engine,
    /// The token store.
    pub tokens: Tokens,
    metrics: Metrics,
    containers: cache::ContainerCache,
    /// The stacks deployed from a template, re-rendered when it is reloaded.
    templated: TemplatedStacks,
    /// Set by [`ApiState::close_streams`]: streamed responses end when it is.
    closing: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl ApiState {
    /// The API state of `engine` (its tokens live in the engine's store).
    pub fn new(engine: Engine) -> Self {
        let tokens = engine.tokens();
        Self {
            engine,
            tokens,
            metrics: Metrics::default(),
            containers: cache::ContainerCache::new(cache::DEFAULT_TTL),
            templated: TemplatedStacks::default(),
            closing: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Ends every streamed response (the event stream, followed logs) now and any opened
    /// later. Call it before a graceful shutdown: a client following a stream would otherwise
    /// keep the server waiting for it forever. Clients see the stream end and may reconnect.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`ApiState::close_streams`] was called.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut closing = self.closing.subscribe();
        async move {
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    /// How long the container list the reading routes share may be served without an event
    /// (default 1 s; any event drops it sooner). Zero lists from Docker on every request.
    pub fn with_list_ttl(mut self, ttl: Duration) -> Self {
        self.containers = cache::ContainerCache::new(ttl);
        self
    }

    /// What `/metrics` reports beyond the engine's own figures (register plugins here).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The stacks deployed from a template: the runner registers its configuration's stacks
    /// here, so that reloading their template re-renders them.
    pub fn templated(&self) -> &TemplatedStacks {
        &self.templated
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
        .route("/v1/containers/{name}/logs", get(logs::logs))
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
        .route("/v1/stacks", get(stacks::list))
        .route(
            "/v1/orgs/{org}/stacks/{stack}",
            get(stacks::status)
                .put(stacks::deploy)
                .delete(stacks::remove),
        )
        .route(
            "/v1/orgs/{org}/stacks/{stack}/services/{service}/scale",
            post(stacks::scale),
        )
        .route(
            "/v1/orgs/{org}/stacks/{stack}/services/{service}/revisions",
            get(stacks::revisions),
        )
        .route(
            "/v1/orgs/{org}/stacks/{stack}/services/{service}/rollback",
            post(stacks::rollback),
        )
        .route("/v1/orgs/{org}/billing/invoices", get(billing::invoices))
        .route("/v1/orgs/{org}/billing/usage", get(billing::usage))
        .route("/v1/orgs/{org}/billing/balance", get(billing::balance))
        .route("/v1/orgs/{org}/billing/top-up", post(billing::top_up))
        .route("/v1/orgs/{org}/quotas", get(billing::quotas))
        .route("/v1/plugins", get(plugins::list))
        .route("/v1/plugins/{name}", get(plugins::status))
        .route("/v1/plugins/{name}/reload", post(plugins::reload))
        .route("/v1/templates/{name}/render", post(templates::preview))
        .route("/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/v1/tokens/current", get(tokens::current))
        .route("/v1/tokens/{id}", delete(tokens::revoke))
        .route("/v1/events", get(events::history))
        .route("/v1/events/stream", get(events::stream))
        .route("/metrics", get(metrics::page))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish (call [`ApiState::close_streams`] first, or followed streams keep
/// it waiting).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
