//! `GET /metrics`: the engine and the API in Prometheus' text format (version 0.0.4), encoded
//! by `prometheus-client`.
//!
//! Needs an admin token of every org (`*`): the figures aggregate all orgs. Prometheus sends
//! one with `authorization: { credentials_file: … }` in its scrape config. The page carries no
//! org, stack or container names — only counts, route templates and plugin names.
//!
//! Request counts and latencies are recorded by [`track`], a middleware on every route. Every
//! label value comes from a bounded set, whatever clients send: the method is one the API
//! knows or `other`; the route is the router's template (`/v1/containers/{name}`, so names
//! never become label values) or `unmatched`; the status is one the API answers. Latency is
//! the time to the response head (a streamed body — logs, events — is not included).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{
    EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{ApiError, ApiState, Caller};
use windlass::health::{LAG_BUCKETS, ProbeStats};
use windlass::plugins::Plugin;

/// Upper bounds of the request latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The methods counted by name; any other is `other`.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// Labels of a request count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Arc<str>,
    status: u16,
}

/// Labels of a request latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Arc<str>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

type Latencies = Family<RouteLabels, Histogram, fn() -> Histogram>;

#[derive(Debug)]
struct MetricsInner {
    requests: Family<RequestLabels, Counter>,
    latencies: Latencies,
    plugins: Mutex<Vec<Plugin>>,
}

impl Default for MetricsInner {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latencies: Family::new_with_constructor(latency_histogram),
            plugins: Mutex::default(),
        }
    }
}

/// What the API counts for `/metrics`. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The label value of `method`: its name if the API knows it, `other` otherwise.
fn method_label(method: &Method) -> &'static str {
    METHODS
        .iter()
        .find(|m| *m == method)
        .map_or("other", Method::as_str)
}

impl Metrics {
    /// The plugins registered with [`Metrics::watch_plugins`].
    pub(crate) fn plugins(&self) -> Vec<Plugin> {
        lock(&self.inner.plugins).clone()
    }

    /// Reports these plugins' calls, failures and disablement (read from each plugin's
    /// status at every scrape). The runner registers the plugins it loaded.
    pub fn watch_plugins(&self, plugins: impl IntoIterator<Item = Plugin>) {
        lock(&self.inner.plugins).extend(plugins);
    }

    /// Counts one answered request; `route` is a template or `unmatched`.
    pub(crate) fn record(&self, method: &Method, route: Arc<str>, status: u16, seconds: f64) {
        let method = method_label(method);
        self.inner
            .requests
            .get_or_create(&RequestLabels {
                method,
                route: route.clone(),
                status,
            })
            .inc();
        self.inner
            .latencies
            .get_or_create(&RouteLabels { method, route })
            .observe(seconds);
    }

    /// Registers the API's own figures in `registry`.
    fn register_requests(&self, registry: &mut Registry) {
        registry.register(
            "windlass_api_requests",
            "API requests answered, by method, route template and status",
            self.inner.requests.clone(),
        );
        registry.register(
            "windlass_api_request_duration_seconds",
            "Time from request to response head, by method and route template",
            self.inner.latencies.clone(),
        );
    }

    /// Registers each watched plugin's calls, failures and disablement in `registry`.
    fn register_plugins(&self, registry: &mut Registry) {
        #[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct PluginLabels {
            plugin: String,
        }
        let calls = Family::<PluginLabels, Counter>::default();
        let failures = Family::<PluginLabels, Counter>::default();
        let disabled = Family::<PluginLabels, Gauge>::default();
        let truncated = Family::<PluginLabels, Counter>::default();
        for status in self.plugins().iter().map(Plugin::status) {
            let labels = PluginLabels {
                plugin: status.name,
            };
            calls.get_or_create(&labels).inc_by(status.calls);
            failures.get_or_create(&labels).inc_by(status.failures);
            disabled
                .get_or_create(&labels)
                .set(i64::from(status.disabled.is_some()));
            truncated
                .get_or_create(&labels)
                .inc_by(status.log_truncations);
        }
        registry.register(
            "windlass_plugin_calls",
            "Plugin calls since the plugin was loaded",
            calls,
        );
        registry.register(
            "windlass_plugin_call_failures",
            "Plugin calls that failed in the sandbox (trap, timeout, limit)",
            failures,
        );
        registry.register(
            "windlass_plugin_disabled",
            "1 while the plugin's failure policy keeps it disabled",
            disabled,
        );
        registry.register(
            "windlass_plugin_log_truncated",
            "Calls whose log output (host.log, stdout or stderr) went over its budget and was cut",
            truncated,
        );
    }
}

/// The engine's probe lag histogram (its buckets are counted by the engine).
#[derive(Debug)]
struct LagHistogram {
    /// Per bucket, not cumulative, as the encoder wants them.
    buckets: Vec<(f64, u64)>,
    sum: f64,
    count: u64,
}

impl From<&ProbeStats> for LagHistogram {
    fn from(stats: &ProbeStats) -> Self {
        let mut below = 0;
        let buckets = LAG_BUCKETS
            .iter()
            .zip(stats.lag_buckets)
            .map(|(le, cumulative)| {
                let n = cumulative.saturating_sub(below);
                below = cumulative;
                (*le, n)
            })
            .collect();
        Self {
            buckets,
            sum: stats.lag_sum_seconds,
            count: stats.probes,
        }
    }
}

impl EncodeMetric for LagHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The middleware that counts every request by method, route template and status.
pub(super) async fn track(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| Arc::from("unmatched"), |p| Arc::from(p.as_str()));
    let response = next.run(request).await;
    metrics.record(
        &method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Prometheus metrics.
///
/// Needs an admin token of every org (`*`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses((status = 200, description = "Prometheus' text exposition format, version 0.0.4", content_type = "text/plain", body = String)),
)]
pub(super) async fn page(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require_operator("metrics (they cover every org)")?;
    let engine = &state.engine;
    let containers = state.containers.get(engine).await?;

    #[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct StateLabels {
        state: String,
    }
    let by_state = Family::<StateLabels, Gauge>::default();
    for container in containers.iter() {
        by_state
            .get_or_create(&StateLabels {
                state: container.status.as_str().to_owned(),
            })
            .inc();
    }
    let mut registry = Registry::default();
    registry.register(
        "windlass_containers",
        "Managed containers by Docker state",
        by_state,
    );
    let appended = Counter::<u64>::default();
    appended.inc_by(engine.event_log().last_index());
    registry.register(
        "windlass_events_appended",
        "Events appended to the event log (its last index)",
        appended,
    );
    let probes = engine.probe_stats();
    let (run, unhealthy) = (Counter::<u64>::default(), Counter::<u64>::default());
    run.inc_by(probes.probes);
    unhealthy.inc_by(probes.unhealthy);
    registry.register("windlass_probes", "Health probes run", run);
    registry.register(
        "windlass_probes_unhealthy",
        "Health probes that found a container unhealthy",
        unhealthy,
    );
    registry.register(
        "windlass_probe_lag_seconds",
        "Delay from a health probe's due time to its start",
        LagHistogram::from(&probes),
    );
    state.metrics.register_requests(&mut registry);
    state.metrics.register_plugins(&mut registry);
    let mut out = String::with_capacity(8 * 1024);
    prometheus_text::encode(&mut out, &registry)
        .map_err(|e| ApiError::internal(format!("metrics did not encode: {e}")))?;
    Ok(([(CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_cumulative_buckets_under_bounded_labels() {
        let metrics = Metrics::default();
        let route: Arc<str> = Arc::from("/v1/containers");
        metrics.record(&Method::GET, route.clone(), 200, 0.0004);
        metrics.record(&Method::GET, route.clone(), 200, 0.003);
        metrics.record(&Method::GET, route, 404, 20.0);
        let odd = Method::from_bytes(b"FROBNICATE").unwrap();
        metrics.record(&odd, Arc::from("unmatched"), 404, 0.001);
        let mut registry = Registry::default();
        metrics.register_requests(&mut registry);
        let mut out = String::new();
        prometheus_text::encode(&mut out, &registry).unwrap();
        for line in [
            r#"windlass_api_requests_total{method="GET",route="/v1/containers",status="200"} 2"#,
            r#"windlass_api_requests_total{method="GET",route="/v1/containers",status="404"} 1"#,
            r#"windlass_api_requests_total{method="other",route="unmatched",status="404"} 1"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="0.0005"} 1"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="0.005"} 2"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="10"} 2"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="+Inf"} 3"#,
            r#"windlass_api_request_duration_seconds_count{method="GET",route="/v1/containers"} 3"#,
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line}:\n{out}");
        }
    }
}
