//! The fixture's HTTP server and its counters.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::model::{Fault, FixtureSpec};

#[derive(Debug, Default)]
struct Counters {
    /// Requests per path (without the query).
    per_path: BTreeMap<String, u64>,
    /// Answers per status code.
    per_status: BTreeMap<u16, u64>,
    /// Throttled answers given per workload (for `Fault::Throttle`).
    throttled: BTreeMap<String, u32>,
    /// Requests in flight now, and the most seen at once.
    in_flight: u64,
    max_in_flight: u64,
}

#[derive(Debug)]
struct Shared {
    spec: Mutex<FixtureSpec>,
    counters: Mutex<Counters>,
}

impl Shared {
    fn spec(&self) -> std::sync::MutexGuard<'_, FixtureSpec> {
        self.spec.lock().unwrap()
    }
    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap()
    }
}

/// A running fixture. Dropping it stops the server.
#[derive(Debug)]
pub struct CplnFixture {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CplnFixture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CplnFixture {
    /// Starts a fixture serving `spec` on a free loopback port.
    pub async fn start(spec: FixtureSpec) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            spec: Mutex::new(spec),
            counters: Mutex::new(Counters::default()),
        });
        let app = Router::new()
            .route("/org/{org}/gvc/{gvc}/workload", get(list_workloads))
            .route(
                "/org/{org}/gvc/{gvc}/workload/{workload}/deployment",
                get(list_deployments),
            )
            .fallback(unknown)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(Self {
            address,
            shared,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `127.0.0.1:PORT`, the host to grant.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// The token it wants.
    pub fn token(&self) -> String {
        self.shared.spec().token.clone()
    }

    /// Changes the spec while it runs (faults, latency, workloads).
    pub fn update(&self, change: impl FnOnce(&mut FixtureSpec)) {
        change(&mut self.shared.spec());
    }

    /// Requests made to `path` (without the query), whatever their answer.
    pub fn calls(&self, path: &str) -> u64 {
        self.shared
            .counters()
            .per_path
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests for one workload's deployments.
    pub fn deployment_calls(&self, gvc: &str, workload: &str) -> u64 {
        let org = self.shared.spec().org.clone();
        self.calls(&format!(
            "/org/{org}/gvc/{gvc}/workload/{workload}/deployment"
        ))
    }

    /// Listing requests (every page) of a GVC.
    pub fn listing_calls(&self, gvc: &str) -> u64 {
        let org = self.shared.spec().org.clone();
        self.calls(&format!("/org/{org}/gvc/{gvc}/workload"))
    }

    /// Every request.
    pub fn total_calls(&self) -> u64 {
        self.shared.counters().per_path.values().sum()
    }

    /// Answers per status code.
    pub fn statuses(&self) -> BTreeMap<u16, u64> {
        self.shared.counters().per_status.clone()
    }

    /// Answers with this status.
    pub fn status_count(&self, status: u16) -> u64 {
        self.statuses().get(&status).copied().unwrap_or(0)
    }

    /// The most requests in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.counters().max_in_flight
    }

    /// Zeroes the counters (and the throttles' progress).
    pub fn reset_counters(&self) {
        *self.shared.counters() = Counters::default();
    }
}

/// One request's bookkeeping: counted on arrival, latency, in-flight gauge, status counted.
struct Admission {
    shared: Arc<Shared>,
}

impl Admission {
    async fn enter(shared: &Arc<Shared>, path: &str) -> Self {
        {
            let mut c = shared.counters();
            *c.per_path.entry(path.to_owned()).or_default() += 1;
            c.in_flight += 1;
            c.max_in_flight = c.max_in_flight.max(c.in_flight);
        }
        let latency = shared.spec().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Self {
            shared: shared.clone(),
        }
    }

    fn answer(self, response: Response) -> Response {
        let mut c = self.shared.counters();
        c.in_flight -= 1;
        *c.per_status.entry(response.status().as_u16()).or_default() += 1;
        response
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"status": status.as_u16(), "message": message, "code": status.canonical_reason()})),
    )
        .into_response()
}

/// `Authorization: Bearer T` or the raw token.
fn authorised(shared: &Shared, headers: &HeaderMap) -> bool {
    let token = shared.spec().token.clone();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    given == token || given.strip_prefix("Bearer ") == Some(token.as_str())
}

async fn list_workloads(
    State(shared): State<Arc<Shared>>,
    Path((org, gvc)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let admission = Admission::enter(&shared, uri.path()).await;
    if !authorised(&shared, &headers) {
        return admission.answer(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let spec = shared.spec().clone();
    if org != spec.org {
        return admission.answer(error(StatusCode::FORBIDDEN, "Forbidden"));
    }
    let in_gvc: Vec<_> = spec.workloads.iter().filter(|w| w.gvc == gvc).collect();
    // A GVC is known by its workloads: one with none is "not found".
    if in_gvc.is_empty() {
        return admission.answer(error(
            StatusCode::NOT_FOUND,
            &format!("gvc {gvc} not found"),
        ));
    }
    let start: usize = match query.get("cursor") {
        None => 0,
        Some(c) => match c.strip_prefix('c').and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return admission.answer(error(StatusCode::BAD_REQUEST, "bad cursor")),
        },
    };
    let end = (start + spec.page_size).min(in_gvc.len());
    let items: Vec<Value> = in_gvc
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|w| w.item(&org))
        .collect();
    let base = format!("/org/{org}/gvc/{gvc}/workload");
    let mut links = vec![json!({"rel": "self", "href": base})];
    if end < in_gvc.len() {
        links.push(json!({"rel": "next", "href": format!("{base}?cursor=c{end}")}));
    }
    admission.answer(
        axum::Json(json!({"kind": "list", "itemKind": "workload", "items": items, "links": links}))
            .into_response(),
    )
}

async fn list_deployments(
    State(shared): State<Arc<Shared>>,
    Path((org, gvc, workload)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let admission = Admission::enter(&shared, uri.path()).await;
    if !authorised(&shared, &headers) {
        return admission.answer(error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let spec = shared.spec().clone();
    if org != spec.org {
        return admission.answer(error(StatusCode::FORBIDDEN, "Forbidden"));
    }
    match spec.faults.get(&workload) {
        Some(Fault::Throttle {
            times,
            retry_after_s,
        }) => {
            let mut c = shared.counters();
            let given = c.throttled.entry(workload.clone()).or_default();
            if *given < *times {
                *given += 1;
                drop(c);
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests, slow down",
                );
                if let Some(s) = retry_after_s {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, s.to_string().parse().unwrap());
                }
                return admission.answer(response);
            }
        }
        Some(Fault::Quota) => {
            return admission.answer(error(
                StatusCode::TOO_MANY_REQUESTS,
                "Quota exceeded: the org's API request quota is used up",
            ));
        }
        Some(Fault::Forbidden) => {
            return admission.answer(error(StatusCode::FORBIDDEN, "Forbidden"));
        }
        Some(Fault::Missing) => {
            return admission.answer(error(
                StatusCode::NOT_FOUND,
                &format!("workload {workload} not found"),
            ));
        }
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return admission.answer(error(status, "internal error"));
        }
        None => {}
    }
    let Some(w) = spec
        .workloads
        .iter()
        .find(|w| w.gvc == gvc && w.name == workload)
    else {
        // Control Plane answers 403 for what does not exist or may not be seen.
        return admission.answer(error(StatusCode::FORBIDDEN, "Forbidden"));
    };
    let items = w.deployments(&org);
    let base = format!("/org/{org}/gvc/{gvc}/workload/{workload}/deployment");
    admission.answer(
        axum::Json(json!({
            "kind": "list",
            "itemKind": "deployment",
            "items": items,
            "links": [{"rel": "self", "href": base}],
        }))
        .into_response(),
    )
}

async fn unknown(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let admission = Admission::enter(&shared, uri.path()).await;
    admission.answer(error(StatusCode::NOT_FOUND, "not found"))
}
