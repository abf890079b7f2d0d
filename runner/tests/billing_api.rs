//! The billing and quota routes against a real engine (real Docker, a real SQLite file): 507
//! `quota-exceeded` with the resource, limit, current use and request, and nothing stored;
//! balances, top-ups (operator admin only), invoices, usage and quotas.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use serde_json::json;
use windlass::billing::{BillingConfig, Quotas};
use windlass_runner::api::{ApiState, EVERY_ORG, Role};

#[tokio::test]
async fn a_deploy_past_the_quota_is_507_and_billing_routes_answer() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    common::docker::connect_with_busybox().await?;
    let mut billing = BillingConfig::default();
    billing.default_quotas = Quotas::unlimited()
        .with_cpu_millis(1_000)
        .with_containers(5);
    let engine = scope.builder().with_billing(billing).build().await?;
    let state = ApiState::new(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = Api::new(listener.local_addr()?);
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = windlass_runner::api::router(state.clone());
    tokio::spawn(windlass_runner::api::serve(listener, router, async {
        stopped.await.ok();
    }));
    let deployer = state
        .tokens
        .create("ci", "acme", Role::Deploy)
        .await?
        .secret;
    let operator = state
        .tokens
        .create("ops", EVERY_ORG, Role::Admin)
        .await?
        .secret;

    let web = json!({
        "name": "web", "image": BUSYBOX, "cpu": "0.5", "replicas": 3,
        "command": ["sh", "-c", "while true; do sleep 1; done"],
    });
    let answer = api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop",
            Some(&deployer),
            Some(&json!({ "spec": { "services": [web] } })),
        )
        .await?;
    assert_eq!(
        answer.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{answer:?}"
    );
    assert_eq!(answer.body["error"]["code"], "quota-exceeded");
    assert_eq!(answer.body["error"]["field"], "cpu_millis");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("cpu_millis limit 1000, current 0, requested 1500"),
        "{message}"
    );
    assert!(
        engine.services(windlass::Scope::All).await?.is_empty(),
        "nothing stored"
    );
    engine.reconcile().await?;
    assert!(
        engine
            .containers(&windlass::ContainerFilter::default())
            .await?
            .is_empty()
    );

    let quotas = api
        .call("get", "/v1/orgs/acme/quotas", Some(&deployer), None)
        .await?;
    assert_eq!(quotas.status, StatusCode::OK, "{quotas:?}");
    assert_eq!(quotas.body["limits"]["cpu_millis"], 1_000);
    assert_eq!(quotas.body["allocation"]["cpu_millis"], 0);

    let top_up = json!({ "amount_minor": 500, "reference": "wire 1" });
    let refused = api
        .call(
            "post",
            "/v1/orgs/acme/billing/top-up",
            Some(&deployer),
            Some(&top_up),
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let done = api
        .call(
            "post",
            "/v1/orgs/acme/billing/top-up",
            Some(&operator),
            Some(&top_up),
        )
        .await?;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    assert_eq!(done.body["account"]["balance_minor"], 500);
    let negative = api
        .call(
            "post",
            "/v1/orgs/acme/billing/top-up",
            Some(&operator),
            Some(&json!({ "amount_minor": -1 })),
        )
        .await?;
    assert_eq!(negative.status, StatusCode::BAD_REQUEST, "{negative:?}");
    assert_eq!(negative.body["error"]["field"], "amount_minor");

    let balance = api
        .call(
            "get",
            "/v1/orgs/acme/billing/balance",
            Some(&deployer),
            None,
        )
        .await?;
    assert_eq!(balance.body["account"]["currency"], "EUR");
    assert_eq!(balance.body["movements"].as_array().map(Vec::len), Some(1));
    let invoices = api
        .call(
            "get",
            "/v1/orgs/acme/billing/invoices",
            Some(&deployer),
            None,
        )
        .await?;
    assert_eq!(invoices.status, StatusCode::OK);
    assert_eq!(invoices.body["invoices"], json!([]));
    let usage = api
        .call("get", "/v1/orgs/acme/billing/usage", Some(&deployer), None)
        .await?;
    assert_eq!(usage.status, StatusCode::OK, "{usage:?}");
    // Another org's billing is not this token's business.
    let other = api
        .call(
            "get",
            "/v1/orgs/globex/billing/balance",
            Some(&deployer),
            None,
        )
        .await?;
    assert_eq!(other.status, StatusCode::FORBIDDEN);

    // Limits changed at runtime: operator admin only, stored, answered by GET.
    let limits = json!({ "cpu_millis": 2_000, "containers": 5 });
    let refused = api
        .call(
            "put",
            "/v1/orgs/acme/quotas",
            Some(&deployer),
            Some(&limits),
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{refused:?}");
    let set = api
        .call(
            "put",
            "/v1/orgs/acme/quotas",
            Some(&operator),
            Some(&limits),
        )
        .await?;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(set.body["limits"]["cpu_millis"], 2_000);
    assert_eq!(set.body["limits"]["memory_bytes"], json!(null));
    let unknown = api
        .call(
            "put",
            "/v1/orgs/acme/quotas",
            Some(&operator),
            Some(&json!({ "cpus": 1 })),
        )
        .await?;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{unknown:?}");
    let quotas = api
        .call("get", "/v1/orgs/acme/quotas", Some(&deployer), None)
        .await?;
    assert_eq!(quotas.body["limits"]["cpu_millis"], 2_000);

    // The override: from the org's own token refused; from an operator, one request through.
    let stack = serde_json::to_vec(&json!({ "spec": { "services": [
        { "name": "web", "image": BUSYBOX, "cpu": "1", "replicas": 3,
          "command": ["sh", "-c", "while true; do sleep 1; done"] },
    ] } }))?;
    let header = ("windlass-quota-override", "incident 42");
    let as_deployer = format!("Bearer {deployer}");
    let refused = api
        .send(
            b"PUT",
            "/v1/orgs/acme/stacks/shop",
            &[
                ("authorization", &as_deployer),
                ("content-type", "application/json"),
                header,
            ],
            stack.clone(),
        )
        .await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let as_operator = format!("Bearer {operator}");
    let through = api
        .send(
            b"PUT",
            "/v1/orgs/acme/stacks/shop",
            &[
                ("authorization", &as_operator),
                ("content-type", "application/json"),
                header,
            ],
            stack,
        )
        .await?;
    assert!(through.status.is_success(), "{:?}", through.status);
    assert_eq!(engine.services(windlass::Scope::All).await?.len(), 1);
    let overridden = common::engine::wait_event(
        &engine,
        "quota-overridden",
        std::time::Duration::from_secs(5),
        |_| true,
    )
    .await?;
    assert_eq!(overridden.payload["resource"], "cpu_millis");
    assert!(
        overridden.payload["override_reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("incident 42 (by ops)"),
        "{overridden:?}"
    );
    Ok(())
}
