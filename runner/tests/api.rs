//! The HTTP API against a real engine (real Docker, a real SQLite file) served on loopback:
//! roles and org isolation (401 on every route: `tests/openapi.rs`), JSON errors with stable codes and fields, the
//! resumable event stream.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::net::SocketAddr;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use serde_json::{Value, json};
use windlass::Engine;
use windlass_runner::api::{ApiState, EVERY_ORG, Role};

/// An engine and its API on a loopback port; stops serving when dropped.
struct Server {
    api: Api,
    state: ApiState,
    engine: Engine,
    _stop: tokio::sync::oneshot::Sender<()>,
    _scope: EngineScope,
}

async fn server() -> anyhow::Result<Server> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let state = ApiState::new(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = windlass_runner::api::router(state.clone());
    tokio::spawn(windlass_runner::api::serve(listener, router, async {
        stopped.await.ok();
    }));
    Ok(Server {
        api: Api::new(address),
        state,
        engine,
        _stop: stop,
        _scope: scope,
    })
}

fn sleeper(name: &str) -> Value {
    json!({
        "name": name,
        "image": BUSYBOX,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    })
}

/// Every route of the served OpenAPI document, with its path parameters filled in.
async fn routes(api: &Api) -> anyhow::Result<Vec<(String, String)>> {
    let doc = api.call("get", "/openapi.json", None, None).await?;
    assert_eq!(doc.status, StatusCode::OK);
    let mut routes = Vec::new();
    for (path, methods) in doc.body["paths"].as_object().unwrap() {
        if path == "/healthz" || path == "/openapi.json" {
            continue;
        }
        let path = path
            .replace("{name}", "wl_x_acme_shop_web_0")
            .replace("{org}", "acme")
            .replace("{stack}", "shop")
            .replace("{service}", "web")
            .replace("{id}", "tok_000000000000");
        for method in methods.as_object().unwrap().keys() {
            routes.push((method.clone(), path.clone()));
        }
    }
    assert!(routes.len() >= 12, "{routes:?}");
    Ok(routes)
}

#[tokio::test]
async fn roles_and_orgs_are_enforced_and_one_org_never_sees_another() -> anyhow::Result<()> {
    let server = server().await?;
    let tokens = &server.state.tokens;
    let admin = tokens
        .ensure_admin()
        .await?
        .expect("first start makes an admin token");
    assert_eq!((admin.org.as_str(), admin.role), (EVERY_ORG, Role::Admin));
    assert!(
        tokens.ensure_admin().await?.is_none(),
        "only on first start"
    );
    let acme_read = tokens.create("ci", "acme", Role::Read).await?.secret;
    let acme = tokens.create("ci", "acme", Role::Deploy).await?.secret;
    let globex = tokens.create("ci", "globex", Role::Deploy).await?.secret;

    // A read token may not change anything: 403 on every route that writes.
    let body = sleeper("web");
    for (method, path) in routes(&server.api).await? {
        // Webhook deliveries are public: a provider's signature authenticates them, not a token.
        if method == "get" || path.starts_with("/v1/hooks/") {
            continue;
        }
        let answer = server
            .api
            .call(&method, &path, Some(&acme_read), Some(&body))
            .await?;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {answer:?}"
        );
        assert_eq!(answer.body["error"]["code"], "forbidden");
    }

    // Each org deploys its own stack; neither may deploy into the other's.
    let put = |org: &str| format!("/v1/orgs/{org}/stacks/shop/services/web");
    for (org, token) in [("acme", &acme), ("globex", &globex)] {
        let answer = server
            .api
            .call("put", &put(org), Some(token), Some(&body))
            .await?;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.body["revision"], 1, "{answer:?}");
    }
    let answer = server
        .api
        .call("put", &put("globex"), Some(&acme), Some(&body))
        .await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    server.engine.reconcile().await?;

    let listed = server.api.get("/v1/containers", &acme_read).await?;
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{listed:?}");
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["org"] == "acme")
    );
    let all = server.api.get("/v1/containers", &admin.secret).await?;
    assert_eq!(
        all.body.as_array().unwrap().len(),
        2,
        "the admin sees every org"
    );
    let forbidden = server
        .api
        .get("/v1/containers?org=globex", &acme_read)
        .await?;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

    // Another org's container is "not found" on every container route, read or write.
    let theirs = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == "globex")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, suffix) in [
        ("get", ""),
        ("get", "/health"),
        ("get", "/health/history"),
        ("post", "/stop"),
        ("post", "/start"),
        ("post", "/restart"),
    ] {
        let path = format!("/v1/containers/{theirs}{suffix}");
        let answer = server.api.call(method, &path, Some(&acme), None).await?;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {answer:?}"
        );
        assert_eq!(answer.body["error"]["code"], "not-found");
    }
    let still = server
        .api
        .get(&format!("/v1/containers/{theirs}"), &globex)
        .await?;
    assert_eq!(
        still.body["status"], "running",
        "globex's container was not touched"
    );

    // Events: acme's token sees acme's only, and may not ask for globex's.
    let events = server.api.get("/v1/events", &acme_read).await?;
    let events = events.body["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["org"] == "acme"), "{events:?}");
    let answer = server.api.get("/v1/events?org=globex", &acme_read).await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // Its own container: health, then a stop by the deploy token.
    let ours = names[0];
    let health = server
        .api
        .get(&format!("/v1/containers/{ours}/health"), &acme_read)
        .await?;
    assert_eq!(health.status, StatusCode::OK, "{health:?}");
    assert_eq!(health.body["service"], "web");
    let stop = server
        .api
        .call(
            "post",
            &format!("/v1/containers/{ours}/stop"),
            Some(&acme),
            None,
        )
        .await?;
    assert_eq!(stop.status, StatusCode::OK, "{stop:?}");
    let stopped = server
        .api
        .get(&format!("/v1/containers/{ours}"), &acme_read)
        .await?;
    assert_eq!(stopped.body["status"], "exited", "{stopped:?}");
    // The shared container list (filled by the listings above) reflects the stop at once:
    // a list answers with every event committed before it arrived.
    let listed = server.api.get("/v1/containers", &acme_read).await?;
    assert_eq!(listed.body[0]["status"], "exited", "{listed:?}");
    Ok(())
}

#[tokio::test]
async fn bad_input_is_a_json_error_with_a_stable_code_and_the_field() -> anyhow::Result<()> {
    let server = server().await?;
    let token = server
        .state
        .tokens
        .create("ci", "acme", Role::Deploy)
        .await?
        .secret;
    let put = "/v1/orgs/acme/stacks/shop/services/web";
    let call = |body: Value| {
        let api = server.api.clone();
        let token = token.clone();
        async move { api.call("put", put, Some(&token), Some(&body)).await }
    };

    let mut bad_memory = sleeper("web");
    bad_memory["memory"] = json!("12 parsecs");
    let answer = call(bad_memory).await?;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.body["error"]["code"], "validation");
    assert_eq!(answer.body["error"]["field"], "memory", "{answer:?}");

    let mut unknown = sleeper("web");
    unknown["replicaz"] = json!(2);
    let answer = call(unknown).await?;
    assert_eq!(
        (answer.status, &answer.body["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("body"))
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("replicaz"),
        "{answer:?}"
    );

    let answer = call(sleeper("api")).await?;
    assert_eq!(answer.body["error"]["field"], "name", "{answer:?}");

    let answer = server
        .api
        .get("/v1/containers?name=(unclosed", &token)
        .await?;
    assert_eq!(
        (answer.status, &answer.body["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("name"))
    );
    let answer = server.api.get("/v1/containers?colour=red", &token).await?;
    assert_eq!(
        (answer.status, &answer.body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("validation"))
    );
    let answer = server.api.get("/v1/nowhere", &token).await?;
    assert_eq!(
        (answer.status, &answer.body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not-found"))
    );

    // Nothing was stored by the refused requests; a good one then works, and starting a
    // running container is a conflict.
    assert!(
        server
            .engine
            .services(windlass::Scope::All)
            .await?
            .is_empty()
    );
    assert_eq!(call(sleeper("web")).await?.status, StatusCode::OK);
    server.engine.reconcile().await?;
    let name = server.api.get("/v1/containers", &token).await?.body[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = server
        .api
        .call(
            "post",
            &format!("/v1/containers/{name}/start"),
            Some(&token),
            None,
        )
        .await?;
    assert_eq!(
        (answer.status, &answer.body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("conflict")),
        "{answer:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_event_stream_resumes_after_last_event_id() -> anyhow::Result<()> {
    let server = server().await?;
    let token = server
        .state
        .tokens
        .create("ci", "acme", Role::Deploy)
        .await?
        .secret;
    for service in ["a", "b", "c"] {
        let path = format!("/v1/orgs/acme/stacks/shop/services/{service}");
        let answer = server
            .api
            .call("put", &path, Some(&token), Some(&sleeper(service)))
            .await?;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    let history = server
        .api
        .get("/v1/events?kind=service-applied", &token)
        .await?;
    let indexes: Vec<u64> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes.len(), 3, "{history:?}");

    // Resume after the first: the stream replays the second and third, in order, with their
    // indexes as SSE ids.
    let last = indexes[0].to_string();
    let (status, text) = server
        .api
        .stream_until(
            "/v1/events/stream?kind=service-applied",
            &token,
            &[("last-event-id", &last)],
            |text| text.matches("event: service-applied").count() >= 2,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|i| i.parse().unwrap())
        .collect();
    assert_eq!(ids, indexes[1..], "{text}");
    Ok(())
}

/// A deploy token of `org`.
async fn deployer(server: &Server, org: &str) -> anyhow::Result<String> {
    Ok(server
        .state
        .tokens
        .create("ci", org, Role::Deploy)
        .await?
        .secret)
}

/// Reconciles until `done` holds for the engine's containers (a stack's later waves start on
/// later passes).
async fn reconcile_until(
    engine: &Engine,
    done: impl Fn(&[windlass::ManagedContainer]) -> bool,
) -> anyhow::Result<()> {
    for _ in 0..40 {
        engine.reconcile().await?;
        let containers = engine
            .containers(&windlass::ContainerFilter::default())
            .await?;
        if done(&containers) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    anyhow::bail!("the containers did not reach the wanted state")
}

fn two_service_stack() -> Value {
    let mut db = sleeper("db");
    db["provides"] = json!({ "DB_HOST": "db-${tier}" });
    let mut web = sleeper("web");
    web["depends_on"] = json!([{ "service": "db" }]);
    web["replicas"] = json!(2);
    json!({ "spec": { "services": [db, web] }, "params": { "tier": "gold" } })
}

#[tokio::test]
async fn stacks_deploy_report_status_scale_and_are_removed_within_their_org() -> anyhow::Result<()>
{
    let server = server().await?;
    let acme = deployer(&server, "acme").await?;
    let globex = deployer(&server, "globex").await?;
    let admin = server
        .state
        .tokens
        .create("ops", EVERY_ORG, Role::Admin)
        .await?
        .secret;
    let shop = "/v1/orgs/acme/stacks/shop";

    let deployed = server
        .api
        .call("put", shop, Some(&acme), Some(&two_service_stack()))
        .await?;
    assert_eq!(deployed.status, StatusCode::OK, "{deployed:?}");
    assert_eq!(
        deployed.body["waves"],
        json!([["db"], ["web"]]),
        "{deployed:?}"
    );
    let theirs = json!({ "spec": { "services": [sleeper("api")] } });
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/globex/stacks/crm",
            Some(&globex),
            Some(&theirs),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/globex/stacks/crm",
            Some(&acme),
            Some(&theirs),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    reconcile_until(&server.engine, |c| c.len() == 4).await?;

    // The injected, interpolated value reached the dependent's stored spec.
    let declared = server.api.get(&format!("{shop}/services"), &acme).await?;
    let web = declared
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .unwrap();
    assert_eq!(web["spec"]["env"]["DB_HOST"], "db-gold", "{declared:?}");

    let status = server.api.get(shop, &acme).await?;
    assert_eq!(status.status, StatusCode::OK, "{status:?}");
    assert_eq!(status.body["ready"], true, "{status:?}");
    let services = status.body["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    assert_eq!(
        (
            services[1]["service"].as_str(),
            services[1]["running"].as_u64()
        ),
        (Some("web"), Some(2))
    );

    // Each token lists only what it may see.
    let listed = server.api.get("/v1/stacks", &acme).await?;
    let stacks: Vec<(&str, &str)> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["org"].as_str().unwrap(), s["stack"].as_str().unwrap()))
        .collect();
    assert_eq!(stacks, [("acme", "shop")], "{listed:?}");
    let all = server.api.get("/v1/stacks", &admin).await?;
    assert_eq!(all.body.as_array().unwrap().len(), 2, "{all:?}");
    let answer = server.api.get("/v1/orgs/globex/stacks/crm", &acme).await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // Scaling keeps the revision and adds replicas.
    let scale = format!("{shop}/services/web/scale");
    let scaled = server
        .api
        .call("post", &scale, Some(&acme), Some(&json!({ "replicas": 3 })))
        .await?;
    assert_eq!(scaled.status, StatusCode::OK, "{scaled:?}");
    assert_eq!(
        (
            scaled.body["revision"].as_u64(),
            scaled.body["replicas"].as_u64()
        ),
        (Some(1), Some(3))
    );
    reconcile_until(&server.engine, |c| {
        c.iter().filter(|c| c.service == "web").count() == 3
    })
    .await?;
    let status = server.api.get(shop, &acme).await?;
    assert_eq!(status.body["services"][1]["running"], 3, "{status:?}");
    for (body, field) in [
        (json!({ "replicas": 5000 }), "replicas"),
        (json!({ "replicas": -1 }), "body"),
        (json!({ "count": 2 }), "body"),
    ] {
        let answer = server
            .api
            .call("post", &scale, Some(&acme), Some(&body))
            .await?;
        assert_eq!(
            (answer.status, &answer.body["error"]["field"]),
            (StatusCode::BAD_REQUEST, &json!(field)),
            "{body}: {answer:?}"
        );
    }
    let answer = server
        .api
        .call(
            "post",
            &format!("{shop}/services/nope/scale"),
            Some(&acme),
            Some(&json!({ "replicas": 1 })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");

    // Removing the stack removes every service; globex's stack is untouched.
    let removed = server.api.call("delete", shop, Some(&acme), None).await?;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
    assert_eq!(removed.body["removed"], json!(["db", "web"]));
    assert_eq!(
        server.api.get(shop, &acme).await?.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server
            .api
            .call("delete", shop, Some(&acme), None)
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    reconcile_until(&server.engine, |c| {
        c.iter().all(|c| c.org == "globex") && c.len() == 1
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_refused_stack_names_the_field_in_the_body_and_stores_nothing() -> anyhow::Result<()> {
    let server = server().await?;
    let acme = deployer(&server, "acme").await?;
    let shop = "/v1/orgs/acme/stacks/shop";
    let mut web = sleeper("web");
    web["depends_on"] = json!([{ "service": "db" }]);
    let cases = [
        (
            json!({ "spec": { "services": [web] } }),
            "spec.services[0].depends_on[0].service",
        ),
        (
            json!({ "spec": { "services": [{ "name": "web", "image": BUSYBOX, "memory": "lots" }] } }),
            "spec.services[0].memory",
        ),
        (json!({ "spec": { "services": [] } }), "spec.services"),
        (
            json!({ "spec": { "services": [sleeper("web")] }, "colour": 1 }),
            "body",
        ),
        (
            json!({ "spec": { "services": [{ "name": "web", "image": BUSYBOX, "env": { "A": "${missing}" } }] } }),
            "spec.services[0].env.A",
        ),
    ];
    for (body, field) in cases {
        let answer = server
            .api
            .call("put", shop, Some(&acme), Some(&body))
            .await?;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}: {answer:?}");
        assert_eq!(answer.body["error"]["code"], "validation");
        assert_eq!(answer.body["error"]["field"], field, "{body}: {answer:?}");
        // The field is said once, in `field`; the message does not repeat it.
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        let path = field.trim_start_matches("spec.");
        assert!(!message.starts_with(path), "{body}: {answer:?}");
    }
    assert!(
        server
            .engine
            .services(windlass::Scope::All)
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn logs_are_streamed_as_lines_followed_until_the_container_stops_and_scoped()
-> anyhow::Result<()> {
    let server = server().await?;
    let acme = deployer(&server, "acme").await?;
    let globex = deployer(&server, "globex").await?;
    let talker = json!({
        "name": "talker",
        "image": BUSYBOX,
        "command": ["sh", "-c", "for i in 1 2 3 4; do echo line $i; done; echo oops >&2; sleep 2; echo last; sleep 1"],
        "restart": { "mode": "never" },
    });
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop/services/talker",
            Some(&acme),
            Some(&talker),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    reconcile_until(&server.engine, |c| c.len() == 1).await?;
    let name = server.api.get("/v1/containers", &acme).await?.body[0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = format!("/v1/containers/{name}/logs");

    // Following: the first lines, then the late one, then the end of the body when it stops.
    let (status, text) = server
        .api
        .stream_until(&format!("{logs}?follow=true"), &acme, &[], |_| false)
        .await?;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    // Docker keeps stdout and stderr apart: their order relative to each other is not kept.
    let stdout: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split_once(" stdout ").map(|(_, text)| text))
        .collect();
    assert_eq!(
        stdout,
        ["line 1", "line 2", "line 3", "line 4", "last"],
        "{text}"
    );
    assert!(lines.iter().any(|l| l.ends_with(" stderr oops")), "{text}");
    assert!(
        lines.iter().all(|l| l.starts_with("20") && l.contains('T')),
        "timestamps: {text}"
    );

    let tail = server.api.get(&format!("{logs}?tail=2"), &acme).await?;
    let tail = tail.body.as_str().unwrap().to_owned();
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(tail.ends_with(" stdout last\n"), "{tail}");
    let json_lines = server
        .api
        .get(&format!("{logs}?tail=1&format=json"), &acme)
        .await?;
    assert_eq!(json_lines.body["stream"], "stdout", "{json_lines:?}");
    assert_eq!(json_lines.body["text"], "last", "{json_lines:?}");
    let future = server
        .api
        .get(&format!("{logs}?since=4000000000"), &acme)
        .await?;
    assert_eq!(future.body, json!(""), "{future:?}");

    for (query, field) in [("format=xml", "format"), ("tail=many", "query")] {
        let answer = server.api.get(&format!("{logs}?{query}"), &acme).await?;
        assert_eq!(
            (answer.status, &answer.body["error"]["field"]),
            (StatusCode::BAD_REQUEST, &json!(field)),
            "{query}: {answer:?}"
        );
    }
    let answer = server.api.get(&logs, &globex).await?;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{answer:?}");
    Ok(())
}

#[tokio::test]
async fn metrics_need_an_admin_of_every_org_and_count_requests_by_route() -> anyhow::Result<()> {
    let server = server().await?;
    let acme = deployer(&server, "acme").await?;
    let acme_admin = server
        .state
        .tokens
        .create("ops", "acme", Role::Admin)
        .await?
        .secret;
    let admin = server
        .state
        .tokens
        .create("ops", EVERY_ORG, Role::Admin)
        .await?
        .secret;
    for token in [&acme, &acme_admin] {
        let answer = server.api.get("/metrics", token).await?;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    }
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop/services/web",
            Some(&acme),
            Some(&sleeper("web")),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK);
    server.engine.reconcile().await?;
    for _ in 0..3 {
        server.api.get("/v1/containers", &acme).await?;
    }
    server
        .api
        .get("/v1/containers/wl_nope/health", &acme)
        .await?;
    let page = server.api.get("/metrics", &admin).await?;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let text = page.body.as_str().unwrap();
    for line in [
        "windlass_containers{state=\"running\"} 1",
        "windlass_api_requests_total{method=\"GET\",route=\"/v1/containers\",status=\"200\"} 3",
        "windlass_api_requests_total{method=\"GET\",route=\"/v1/containers/{name}/health\",status=\"404\"} 1",
        "windlass_api_requests_total{method=\"GET\",route=\"/metrics\",status=\"403\"} 2",
        "windlass_api_request_duration_seconds_count{method=\"GET\",route=\"/v1/containers\"} 3",
        "windlass_probes_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    let appended = text
        .lines()
        .find_map(|l| l.strip_prefix("windlass_events_appended_total "))
        .unwrap();
    assert_eq!(
        appended.parse::<u64>()?,
        server.engine.event_log().last_index()
    );
    Ok(())
}
