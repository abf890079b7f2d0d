//! The HTTP API against a real engine (real Docker, a real SQLite file) served on loopback:
//! 401 and 403 on every route, org isolation, JSON errors with stable codes and fields, the
//! resumable event stream.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use serde_json::{Value, json};
use windlass::Engine;
use windlass::api::{ApiState, EVERY_ORG, Role};

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
    let router = windlass::api::router(state.clone());
    tokio::spawn(windlass::api::serve(listener, router, async {
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
        let path = path
            .replace("{name}", "wl_x_acme_shop_web_0")
            .replace("{org}", "acme")
            .replace("{stack}", "shop")
            .replace("{service}", "web");
        for method in methods.as_object().unwrap().keys() {
            routes.push((method.clone(), path.clone()));
        }
    }
    assert!(routes.len() >= 12, "{routes:?}");
    Ok(routes)
}

#[tokio::test]
async fn every_route_refuses_a_missing_or_unknown_token_with_401() -> anyhow::Result<()> {
    let server = server().await?;
    let body = sleeper("web");
    for (method, path) in routes(&server.api).await? {
        for token in [None, Some("wl_not_a_token")] {
            let answer = server.api.call(&method, &path, token, Some(&body)).await?;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}: {answer:?}"
            );
            assert_eq!(answer.body["error"]["code"], "unauthorized", "{answer:?}");
        }
    }
    Ok(())
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
        if method == "get" {
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
