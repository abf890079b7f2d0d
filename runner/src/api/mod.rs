//! The HTTP API (axum): JSON over HTTP/1.1, bearer tokens, org scoping, events as SSE.
//!
//! Routes live with their resource: `containers` (list with filters, inspect, start, stop,
//! restart, health and its history), `logs` (a container's output, streamed), `services`
//! (apply and remove), `stacks` (list, deploy, status, remove, scale, revisions, rollback),
//! `tokens` (create, list, revoke, the caller's own), `plugins`, `templates` (render a stack
//! template; re-render after a reload), `events` (paged history and a resumable SSE stream), `metrics` (Prometheus),
//! `billing` (invoices, usage, balance, top-ups, quotas), `builds` (start, list, logs, cancel,
//! webhook secrets and the git push webhooks), `openapi` (the document describing
//! all of them, generated from the handlers' attributes).
//! `auth` owns tokens and who may do what; `error` the JSON error body and its codes; `extract`
//! and `params` what handlers take from a request (queries, paths, bodies read after the role
//! check); `limits` what is refused before a handler runs; `cache` the short-lived container
//! list the reading routes share. This module must not hold engine logic: every handler checks
//! the caller, then calls one `Engine` method.

mod auth;
mod billing;
mod builds;
mod cache;
mod containers;
mod error;
mod estimate;
mod events;
mod extract;
mod inventory;
mod limits;
mod logs;
mod metrics;
mod openapi;
mod params;
mod placement;
mod plugin_events;
mod plugins;
mod quota_override;
mod secrets;
mod services;
mod stacks;
mod templates;
mod tokens;
mod workers;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::Caller;
pub use error::{ApiError, CODES};
pub use extract::MAX_BODY;
pub use limits::MAX_URI;
pub use metrics::Metrics;
pub use plugin_events::forward_plugin_events;
pub use templates::TemplatedStacks;
pub(crate) use templates::unmarked_secret_param;
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
            templated: TemplatedStacks::new(engine.clone()),
            engine,
            tokens,
            metrics: Metrics::default(),
            containers: cache::ContainerCache::new(cache::DEFAULT_TTL),
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

/// Every route of the API with its description: a handler is served only through `routes!`
/// here, which also puts its `#[utoipa::path]` into the document (see docs/runner.md).
fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(openapi::healthz))
        .routes(routes!(openapi::document))
        .routes(routes!(containers::list))
        .routes(routes!(containers::inspect))
        .routes(routes!(containers::start))
        .routes(routes!(containers::stop))
        .routes(routes!(containers::restart))
        .routes(routes!(containers::health))
        .routes(routes!(containers::health_history))
        .routes(routes!(logs::logs))
        .routes(routes!(services::list))
        .routes(routes!(services::apply, services::remove))
        .routes(routes!(placement::show))
        .routes(routes!(stacks::list))
        .routes(routes!(stacks::status, stacks::deploy, stacks::remove))
        .routes(routes!(stacks::scale))
        .routes(routes!(stacks::revisions))
        .routes(routes!(stacks::rollback))
        .routes(routes!(estimate::estimate))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::show, secrets::set, secrets::remove))
        .routes(routes!(secrets::rotate_key))
        .routes(routes!(billing::invoices))
        .routes(routes!(billing::usage))
        .routes(routes!(billing::balance))
        .routes(routes!(billing::top_up))
        .routes(routes!(billing::quotas, billing::set_quotas))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::status))
        .routes(routes!(plugins::reload))
        .routes(routes!(templates::preview))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::current))
        .routes(routes!(tokens::revoke))
        .routes(routes!(builds::start))
        .routes(routes!(builds::list))
        .routes(routes!(builds::show))
        .routes(routes!(builds::logs))
        .routes(routes!(builds::stream))
        .routes(routes!(builds::cancel))
        .routes(routes!(builds::rotate_webhook))
        .routes(routes!(builds::hook))
        .routes(routes!(inventory::inventory))
        .routes(routes!(inventory::stream))
        .routes(routes!(workers::list))
        .routes(routes!(workers::set_availability))
        .routes(routes!(workers::remove))
        .routes(routes!(workers::join))
        .routes(routes!(workers::rotate))
        .routes(routes!(events::history))
        .routes(routes!(events::stream))
        .routes(routes!(metrics::page))
}

/// The OpenAPI 3.1 document of every route (what `/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(routes().into_openapi())
}

/// Every route of the API, for `engine`. Every answer, the router's own included (unknown
/// route, wrong method, oversized target, a panic), is a JSON error with a stable code.
pub fn router(state: ApiState) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::not_found("route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            quota_override::layer,
        ))
        .layer(axum::middleware::from_fn(limits::uri_length))
        .layer(CatchPanicLayer::custom(limits::panicked))
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
