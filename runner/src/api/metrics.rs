//! `GET /metrics`: the engine and the API in Prometheus' text format (version 0.0.4).
//!
//! Needs an admin token of every org (`*`): the figures aggregate all orgs. Prometheus sends
//! one with `authorization: { credentials_file: … }` in its scrape config. The page carries no
//! org, stack or container names — only counts, route templates and plugin names.
//!
//! Request counts and latencies are recorded by [`track`], a middleware on every route: the
//! route is its template (`/v1/containers/{name}`), so container names never become label
//! values; unrouted requests count as `unmatched`. Latency is the time to the response head
//! (a streamed body — logs, events — is not included).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState, Caller, EVERY_ORG, Role};
use windlass::plugins::Plugin;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Requests of one method and route.
#[derive(Debug, Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    /// Non-cumulative counts per bucket; the last is +Inf.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct MetricsInner {
    routes: Mutex<HashMap<(String, String), RouteStats>>,
    plugins: Mutex<Vec<Plugin>>,
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

    /// Counts one answered request.
    pub(crate) fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut routes = lock(&self.inner.routes);
        let stats = routes
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        *stats.by_status.entry(status).or_default() += 1;
        let bucket = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        stats.buckets[bucket] += 1;
        stats.sum_seconds += seconds;
        stats.count += 1;
    }

    fn write_requests(&self, out: &mut String) {
        let routes = lock(&self.inner.routes);
        let mut keys: Vec<&(String, String)> = routes.keys().collect();
        keys.sort();
        out.push_str("# HELP windlass_api_requests_total API requests answered, by method, route template and status.\n");
        out.push_str("# TYPE windlass_api_requests_total counter\n");
        for key in &keys {
            for (status, count) in &routes[*key].by_status {
                let _ = writeln!(
                    out,
                    "windlass_api_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                    key.0,
                    escape(&key.1)
                );
            }
        }
        out.push_str("# HELP windlass_api_request_duration_seconds Time from request to response head, by method and route template.\n");
        out.push_str("# TYPE windlass_api_request_duration_seconds histogram\n");
        for key in &keys {
            let stats = &routes[*key];
            let labels = format!("method=\"{}\",route=\"{}\"", key.0, escape(&key.1));
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += stats.buckets[i];
                let _ = writeln!(
                    out,
                    "windlass_api_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "windlass_api_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "windlass_api_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(
                out,
                "windlass_api_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
    }

    fn write_plugins(&self, out: &mut String) {
        let plugins = lock(&self.inner.plugins);
        let statuses: Vec<_> = plugins.iter().map(Plugin::status).collect();
        drop(plugins);
        let families: [(&str, &str, &str); 4] = [
            (
                "windlass_plugin_calls_total",
                "counter",
                "Plugin calls since the plugin was loaded.",
            ),
            (
                "windlass_plugin_call_failures_total",
                "counter",
                "Plugin calls that failed in the sandbox (trap, timeout, limit).",
            ),
            (
                "windlass_plugin_disabled",
                "gauge",
                "1 while the plugin's failure policy keeps it disabled.",
            ),
            (
                "windlass_plugin_log_truncated_total",
                "counter",
                "Calls whose log output (host.log, stdout or stderr) went over its budget and was cut.",
            ),
        ];
        for (i, (name, kind, help)) in families.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for status in &statuses {
                let value = match i {
                    0 => status.calls,
                    1 => status.failures,
                    2 => u64::from(status.disabled.is_some()),
                    _ => status.log_truncations,
                };
                let _ = writeln!(out, "{name}{{plugin=\"{}\"}} {value}", escape(&status.name));
            }
        }
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The middleware that counts every request by method, route template and status.
pub(super) async fn track(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.record(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

pub(super) async fn page(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    if caller.org != EVERY_ORG {
        return Err(ApiError::forbidden(
            "metrics cover every org: this needs an admin token of org \"*\"",
        ));
    }
    let engine = &state.engine;
    let containers = state.containers.get(engine).await?;
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    for container in containers.iter() {
        *by_status.entry(container.status.as_str()).or_default() += 1;
    }
    let probes = engine.probe_stats();
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("# HELP windlass_containers Managed containers by Docker state.\n");
    out.push_str("# TYPE windlass_containers gauge\n");
    for (status, count) in &by_status {
        let _ = writeln!(out, "windlass_containers{{state=\"{status}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "# HELP windlass_events_appended_total Events appended to the event log (its last index).\n\
         # TYPE windlass_events_appended_total counter\n\
         windlass_events_appended_total {}",
        engine.event_log().last_index()
    );
    let _ = writeln!(
        out,
        "# HELP windlass_probes_total Health probes run.\n\
         # TYPE windlass_probes_total counter\n\
         windlass_probes_total {}\n\
         # HELP windlass_probes_unhealthy_total Health probes that found a container unhealthy.\n\
         # TYPE windlass_probes_unhealthy_total counter\n\
         windlass_probes_unhealthy_total {}\n\
         # HELP windlass_probe_lag_seconds Delay from a probe's due time to its start, over the last {} probes.\n\
         # TYPE windlass_probe_lag_seconds gauge\n\
         windlass_probe_lag_seconds{{quantile=\"0.5\"}} {}\n\
         windlass_probe_lag_seconds{{quantile=\"0.99\"}} {}\n\
         windlass_probe_lag_seconds{{quantile=\"1\"}} {}",
        probes.probes,
        probes.unhealthy,
        probes.window,
        probes.lag_p50.as_secs_f64(),
        probes.lag_p99.as_secs_f64(),
        probes.lag_max.as_secs_f64(),
    );
    state.metrics.write_requests(&mut out);
    state.metrics.write_plugins(&mut out);
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record("GET", "/v1/containers", 200, 0.0004);
        metrics.record("GET", "/v1/containers", 200, 0.003);
        metrics.record("GET", "/v1/containers", 404, 20.0);
        let mut out = String::new();
        metrics.write_requests(&mut out);
        for line in [
            r#"windlass_api_requests_total{method="GET",route="/v1/containers",status="200"} 2"#,
            r#"windlass_api_requests_total{method="GET",route="/v1/containers",status="404"} 1"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="0.0005"} 1"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="0.005"} 2"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="10"} 2"#,
            r#"windlass_api_request_duration_seconds_bucket{method="GET",route="/v1/containers",le="+Inf"} 3"#,
            r#"windlass_api_request_duration_seconds_count{method="GET",route="/v1/containers"} 3"#,
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line}:\n{out}");
        }
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
