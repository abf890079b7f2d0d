//! Stack templates on paths users reach, through the HTTP API of a real engine (real Docker, a
//! real SQLite file) and real components: the Rust, Python (componentize-py) and JavaScript
//! (componentize-js) templates render and deploy stacks from `{template, params}`, the preview
//! route renders without deploying, a reload re-renders the template's stacks, a hostile
//! template answers its request with a JSON error naming the plugin and the limit while the
//! runner keeps serving, and the failure policy disables it with an event.
//!
//! Needs Docker with the busybox test image and the built plugins (scripts/build-plugins.sh,
//! or `WINDLASS_PLUGINS_DIR`).

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::docker::BUSYBOX;
use common::engine::{EngineScope, wait_event};
use common::http::Api;
use hyper::StatusCode;
use serde_json::{Value, json};
use windlass::Engine;
use windlass::plugins::{
    FailurePolicy, Limits, Plugin, PluginHost, PluginKind, PluginSource, PluginSpec, Pooling,
};
use windlass_runner::api::{ApiState, EVERY_ORG, Role};

/// A built plugin component, failing with what to run when it is missing.
fn component(file: &str) -> PathBuf {
    let dir = std::env::var_os("WINDLASS_PLUGINS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/target/wasm32-wasip2/release"),
        PathBuf::from,
    );
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-plugins.sh (or set WINDLASS_PLUGINS_DIR)",
        path.display()
    );
    path
}

struct Server {
    api: Api,
    engine: Engine,
    deployer: String,
    admin: String,
    _host: PluginHost,
    _stop: tokio::sync::oneshot::Sender<()>,
    scope: EngineScope,
}

/// An engine, its API, and `plugins` loaded into a host whose events reach the event log.
async fn server(plugins: Vec<PluginSpec>) -> anyhow::Result<Server> {
    server_in(EngineScope::new(), plugins).await
}

/// A restart: the API, the engine and the plugin host go; a new engine on the same store
/// (the same SQLite file) and a new host with `plugins` come up.
async fn restart(server: Server, plugins: Vec<PluginSpec>) -> anyhow::Result<Server> {
    let Server {
        engine,
        _host,
        _stop,
        scope,
        ..
    } = server;
    drop((_stop, _host, engine));
    server_in(scope, plugins).await
}

async fn server_in(scope: EngineScope, plugins: Vec<PluginSpec>) -> anyhow::Result<Server> {
    let engine = scope.engine().await?;
    // One compile cache for every run of these tests: compiling the ~18 MB Python and ~12 MB
    // JavaScript components takes seconds each, and entries are keyed by the component's hash
    // and the engine's, so sharing them is safe.
    let host = PluginHost::builder()
        .with_pooling(Pooling::Off)
        .with_cache_dir(std::env::temp_dir().join("windlass-test-compiled"))
        .build()?;
    let events = host.events();
    let mut loaded: Vec<Plugin> = Vec::new();
    for spec in plugins {
        loaded.push(host.load(spec).await?);
    }
    windlass_runner::api::forward_plugin_events(&host, events, engine.clone());
    let state = ApiState::new(engine.clone());
    state.metrics().watch_plugins(loaded);
    let deployer = state
        .tokens
        .create("ci", "acme", Role::Deploy)
        .await?
        .secret;
    let admin = state
        .tokens
        .create("ops", EVERY_ORG, Role::Admin)
        .await?
        .secret;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = windlass_runner::api::router(state);
    tokio::spawn(windlass_runner::api::serve(listener, router, async {
        stopped.await.ok();
    }));
    Ok(Server {
        api: Api::new(address),
        engine,
        deployer,
        admin,
        _host: host,
        _stop: stop,
        scope,
    })
}

fn template(name: &str, file: &str) -> PluginSpec {
    PluginSpec::from_file(name, component(file)).with_kind(PluginKind::StackTemplate)
}

/// Reconciles until the engine runs a container of `org/stack`, and returns its labels.
async fn labels_of_stack(engine: &Engine, stack: &str) -> anyhow::Result<Value> {
    for _ in 0..40 {
        engine.reconcile().await?;
        let containers = engine
            .containers(&windlass::ContainerFilter::default())
            .await?;
        if let Some(c) = containers.iter().find(|c| c.stack == stack) {
            let info = engine.inspect(&c.name).await?;
            return Ok(serde_json::to_value(info.labels)?);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    anyhow::bail!("no container of stack {stack} appeared")
}

#[tokio::test]
async fn python_and_javascript_templates_preview_and_deploy_stacks_with_their_labels()
-> anyhow::Result<()> {
    let server = server(vec![
        template("py-site", "py_static_site.wasm"),
        template("js-site", "js_static_site.wasm"),
    ])
    .await?;
    let params = json!({ "image": BUSYBOX, "replicas": "2", "team": "data" });
    for (name, title) in [("py-site", "py-static-site"), ("js-site", "js-static-site")] {
        // The preview renders without deploying anything.
        let preview = server
            .api
            .call(
                "post",
                &format!("/v1/templates/{name}/render"),
                Some(&server.deployer),
                Some(&json!({ "params": params })),
            )
            .await?;
        assert_eq!(preview.status, StatusCode::OK, "{name}: {preview:?}");
        let web = &preview.body["spec"]["services"][0];
        assert_eq!(web["name"], "web");
        assert_eq!(web["replicas"], 2);
        assert_eq!(web["env"]["SITE_TITLE"], title);
        assert_eq!(web["labels"]["team"], "data");

        // A refused parameter is the template's answer, naming the parameter.
        let refused = server
            .api
            .call(
                "post",
                &format!("/v1/templates/{name}/render"),
                Some(&server.deployer),
                Some(&json!({ "params": { "replicas": "99" } })),
            )
            .await?;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused:?}"
        );
        assert_eq!(refused.body["error"]["code"], "template-refused");
        assert_eq!(refused.body["error"]["field"], "params.replicas");
    }
    assert!(
        server.engine.stacks(None).await?.is_empty(),
        "a preview deploys nothing"
    );

    // Deploying from `{template, params}`: the stack's containers carry the template's label.
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/pysite",
            Some(&server.deployer),
            Some(&json!({ "template": "py-site", "params": params })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let labels = labels_of_stack(&server.engine, "pysite").await?;
    assert_eq!(labels["team"], "data", "{labels}");
    assert_eq!(labels["dev.windlass.stack"], "pysite", "{labels}");
    Ok(())
}

#[tokio::test]
async fn a_service_label_under_the_reserved_prefix_is_refused_naming_it() -> anyhow::Result<()> {
    let server = server(Vec::new()).await?;
    let spec = json!({ "services": [{
        "name": "web", "image": BUSYBOX, "labels": { "dev.windlass.org": "globex" }
    }]});
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            Some(&server.deployer),
            Some(&json!({ "spec": spec })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(
        answer.body["error"]["field"],
        "spec.services[0].labels.dev.windlass.org"
    );
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reserved")
    );
    Ok(())
}

#[tokio::test]
async fn a_hostile_template_answers_its_request_and_the_policy_disables_it() -> anyhow::Result<()> {
    let server = server(vec![
        template("spinner", "hostile_wat_loop.wasm")
            .with_limits(Limits {
                timeout: Duration::from_millis(200),
                ..Limits::default()
            })
            .with_failure_policy(FailurePolicy {
                max_consecutive_failures: 2,
            }),
        template("bomb", "hostile_memory.wasm").with_limits(Limits {
            memory_bytes: 16 << 20,
            ..Limits::default()
        }),
    ])
    .await?;
    let deploy = |template: &str| json!({ "template": template, "params": {} });

    // The memory bomb: 502 naming the plugin and its cap; nothing is deployed.
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            Some(&server.deployer),
            Some(&deploy("bomb")),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{answer:?}");
    assert_eq!(answer.body["error"]["code"], "plugin-memory-limit");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`bomb`") && message.contains(&(16u64 << 20).to_string()),
        "{message}"
    );

    // The spinning template: each request is cut at its deadline and says so.
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let answer = server
            .api
            .call(
                "put",
                "/v1/orgs/acme/stacks/shop",
                Some(&server.deployer),
                Some(&deploy("spinner")),
            )
            .await?;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{answer:?}");
        assert_eq!(answer.body["error"]["code"], "plugin-timeout");
        assert_eq!(answer.body["error"]["field"], "template");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("`spinner`") && message.contains("200 ms"),
            "{message}"
        );
        // The runner keeps serving meanwhile.
        let health = server.api.call("get", "/healthz", None, None).await?;
        assert_eq!(health.status, StatusCode::OK);
    }

    // Two failures in a row: disabled, said in an event and on /v1/plugins.
    let answer = server
        .api
        .call(
            "post",
            "/v1/templates/spinner/render",
            Some(&server.deployer),
            None,
        )
        .await?;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
    assert_eq!(answer.body["error"]["code"], "plugin-disabled");
    let event = wait_event(
        &server.engine,
        "plugin-disabled",
        Duration::from_secs(5),
        |e| e.payload["plugin"] == "spinner",
    )
    .await?;
    assert_eq!(event.payload["failures"], 2);
    wait_event(
        &server.engine,
        "plugin-call-failed",
        Duration::from_secs(5),
        |e| e.payload["plugin"] == "bomb" && e.payload["code"] == "plugin-memory-limit",
    )
    .await?;
    let plugins = server.api.get("/v1/plugins", &server.admin).await?;
    let spinner = plugins
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "spinner")
        .unwrap();
    assert!(spinner["disabled"].is_string(), "{spinner}");
    assert!(server.engine.stacks(None).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn reloading_a_template_rerenders_the_stacks_made_from_it() -> anyhow::Result<()> {
    // The template's file starts as the Python build and is replaced by the JavaScript one,
    // which renders the same stack with another SITE_TITLE.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("site.wasm");
    std::fs::copy(component("py_static_site.wasm"), &file)?;
    let spec = PluginSpec::new("site", PluginSource::File(file.clone()))
        .with_kind(PluginKind::StackTemplate);
    // The JavaScript component is loaded once beside it, so the reload finds it compiled (a
    // compile of ~12 MB inside the request could outlast the client's 30 s on a busy machine).
    let server = server(vec![spec, template("js-warm", "js_static_site.wasm")]).await?;
    let params = json!({ "image": BUSYBOX });
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/site",
            Some(&server.deployer),
            Some(&json!({ "template": "site", "params": params })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let env = |engine: Engine| async move {
        let services = engine
            .services(windlass::Scope::Stack {
                org: "acme",
                stack: "site",
            })
            .await
            .unwrap();
        let title = services[0].spec["env"]["SITE_TITLE"]
            .as_str()
            .unwrap()
            .to_owned();
        (services[0].revision, title)
    };
    assert_eq!(
        env(server.engine.clone()).await,
        (1, "py-static-site".into())
    );

    std::fs::copy(component("js_static_site.wasm"), &file)?;
    let reloaded = server
        .api
        .call("post", "/v1/plugins/site/reload", Some(&server.admin), None)
        .await?;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    assert_eq!(
        reloaded.body["rerendered"],
        json!([{ "org": "acme", "stack": "site" }]),
        "{reloaded:?}"
    );
    assert_eq!(
        env(server.engine.clone()).await,
        (2, "js-static-site".into())
    );
    wait_event(
        &server.engine,
        "stack-rerendered",
        Duration::from_secs(5),
        |e| e.stack.as_deref() == Some("site"),
    )
    .await?;
    Ok(())
}

/// The stacks made from a template are in the store: after a restart, reloading the template
/// still re-renders them (and a removed stack is forgotten with it).
#[tokio::test]
async fn a_restarted_runner_still_rerenders_the_stacks_made_from_a_template() -> anyhow::Result<()>
{
    let plugins = || vec![template("web", "stack_web_postgres.wasm")];
    let server = server(plugins()).await?;
    for stack in ["shop", "blog"] {
        let answer = server
            .api
            .call(
                "put",
                &format!("/v1/orgs/acme/stacks/{stack}"),
                Some(&server.deployer),
                Some(&json!({ "template": "web", "params": { "db_password": "s3cret" } })),
            )
            .await?;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    let removed = server
        .api
        .call(
            "delete",
            "/v1/orgs/acme/stacks/blog",
            Some(&server.deployer),
            None,
        )
        .await?;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");

    let server = restart(server, plugins()).await?;
    assert_eq!(
        server.engine.stack_template("acme", "shop").await?,
        Some((
            "web".to_owned(),
            [("db_password".to_owned(), "s3cret".to_owned())].into()
        ))
    );
    let reloaded = server
        .api
        .call("post", "/v1/plugins/web/reload", Some(&server.admin), None)
        .await?;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    assert_eq!(
        reloaded.body["rerendered"],
        json!([{ "org": "acme", "stack": "shop" }]),
        "{reloaded:?}"
    );
    wait_event(
        &server.engine,
        "stack-rerendered",
        Duration::from_secs(5),
        |e| e.stack.as_deref() == Some("shop"),
    )
    .await?;

    // Deployed again from a spec, the stack is no longer the template's.
    let spec = json!({ "services": [{ "name": "web", "image": BUSYBOX }] });
    let answer = server
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            Some(&server.deployer),
            Some(&json!({ "spec": spec })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(server.engine.stack_template("acme", "shop").await?, None);
    Ok(())
}
