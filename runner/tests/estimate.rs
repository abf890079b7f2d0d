//! `POST /v1/orgs/{org}/stacks/{stack}/estimate` and `windlass deploy --estimate` against a
//! real runner process with the real `billing-hourly` rule (and a hostile one): the numbers,
//! nothing deployed, 403 for another org's token, 400 for a bad spec, 502 for a rule
//! returning nonsense.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use windlass_test_support as common;

mod process;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use common::http::Api;
use hyper::StatusCode;
use process::{Runner, toml_string};
use serde_json::{Value, json};

fn config() -> anyhow::Result<String> {
    let hourly = common::plugins::component("billing_hourly.wasm")?;
    let nonsense = common::plugins::component("hostile_billing_nonsense.wasm")?;
    let template = common::plugins::component("stack_web_postgres.wasm")?;
    Ok(format!(
        r#"[[plugins]]
name = "hourly"
kind = "billing-rule"
source = {hourly}
config = {{ cpu_core_hour = "100", memory_gib_hour = "10" }}

[[plugins]]
name = "nonsense"
kind = "billing-rule"
source = {nonsense}
config = {{ mode = "mismatch" }}

[[plugins]]
name = "web-postgres"
kind = "stack-template"
source = {template}

[billing]
rule = "hourly"
orgs = {{ bad = "nonsense" }}
"#,
        hourly = toml_string(&hourly.display().to_string()),
        nonsense = toml_string(&nonsense.display().to_string()),
        template = toml_string(&template.display().to_string()),
    ))
}

/// web: 2 × (0.25 core, 128 MiB); worker: 0.5 core, 512 MiB.
fn spec() -> Value {
    json!({ "services": [
        { "name": "web", "image": BUSYBOX, "cpu": "0.25", "memory": "128Mi", "replicas": 2 },
        { "name": "worker", "image": BUSYBOX, "cpu": "0.5", "memory": "512Mi" },
    ]})
}

const STACK_TOML: &str = r#"[[services]]
name = "web"
image = "busybox"
cpu = "0.25"
memory = "128Mi"
replicas = 2

[[services]]
name = "worker"
image = "busybox"
cpu = "0.5"
memory = "512Mi"
"#;

fn token(runner: &Runner, org: &str, role: &str) -> String {
    let created = runner.json(&[
        "tokens", "create", "--org", org, "--role", role, "--name", "est",
    ]);
    created["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn estimates_over_http_and_the_cli_deploy_nothing() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let dir = tempfile::tempdir()?;
    let runner = Runner::start_with_config(&scope, dir.path(), None, &config()?).await?;
    let api = Api::new(runner.url.trim_start_matches("http://").parse()?);
    let deployer = token(&runner, "acme", "deploy");
    let reader = token(&runner, "acme", "read");
    let path = "/v1/orgs/acme/stacks/shop/estimate";

    let answer = api
        .call(
            "post",
            path,
            Some(&deployer),
            Some(&json!({ "spec": spec() })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    let body = &answer.body;
    assert_eq!(
        (&body["rule"], &body["currency"], &body["hours_per_month"]),
        (&json!("hourly"), &json!("EUR"), &json!(730))
    );
    let rows: Vec<(String, String, i64, i64, i64)> = body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["service"].as_str().unwrap().to_owned(),
                l["resource"].as_str().unwrap().to_owned(),
                l["cost"]["hourly_minor"].as_i64().unwrap(),
                l["cost"]["daily_minor"].as_i64().unwrap(),
                l["cost"]["monthly_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    let row = |s: &str, r: &str, h: i64| (s.to_owned(), r.to_owned(), h, h * 24, h * 730);
    assert_eq!(
        rows,
        vec![
            row("web", "cpu", 50),
            row("web", "memory", 3),
            row("worker", "cpu", 50),
            row("worker", "memory", 5),
        ]
    );
    assert_eq!(
        body["total"],
        json!({ "hourly_minor": 108, "daily_minor": 2_592, "monthly_minor": 78_840 })
    );
    assert_eq!(runner.json(&["ps"]), json!([]), "nothing deployed");
    assert_eq!(runner.json(&["stacks"]), json!([]), "nothing stored");

    // The same body as a deploy: a template with its parameters (no limits: nothing billed).
    let answer = api
        .call(
            "post",
            path,
            Some(&deployer),
            Some(&json!({ "template": "web-postgres", "params": { "db_password": "pw" } })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(answer.body["services"].as_array().unwrap().len() >= 2);
    assert_eq!(answer.body["total"]["monthly_minor"], 0);

    // Another org's token, a read token, a bad spec, a rule returning nonsense.
    let other = token(&runner, "globex", "deploy");
    let answer = api
        .call("post", path, Some(&other), Some(&json!({ "spec": spec() })))
        .await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    let answer = api
        .call(
            "post",
            path,
            Some(&reader),
            Some(&json!({ "spec": spec() })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
    let mut bad = spec();
    bad["services"][1]["memory"] = json!("lots");
    let answer = api
        .call("post", path, Some(&deployer), Some(&json!({ "spec": bad })))
        .await?;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.body["error"]["field"], "spec.services[1].memory");
    let answer = api
        .call("post", path, Some(&deployer), Some(&json!({})))
        .await?;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    let answer = api
        .call(
            "post",
            "/v1/orgs/bad/stacks/shop/estimate",
            Some(&runner.token),
            Some(&json!({ "spec": spec() })),
        )
        .await?;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY, "{answer:?}");
    assert_eq!(answer.body["error"]["code"], "billing-rule-failed");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("nonsense") && message.contains("not the sum of the lines"),
        "{message}"
    );
    let events = runner.ok(&[
        "events",
        "--kind",
        "billing-plugin-failed",
        "--org",
        "bad",
        "--json",
    ]);
    assert!(
        events.contains("\"during\":\"estimate\""),
        "the failure is an event: {events}"
    );

    // The CLI: a table, or the JSON, and nothing deployed.
    let file = dir.path().join("shop.toml");
    std::fs::write(&file, STACK_TOML)?;
    let file = file.to_str().unwrap();
    let args = [
        "deploy",
        "--estimate",
        file,
        "--org",
        "acme",
        "--stack",
        "shop",
    ];
    let table = runner.ok_with(&args, &deployer);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("acme/shop priced by hourly"), "{table}");
    let words = |n: usize| lines[n].split_whitespace().collect::<Vec<_>>();
    assert_eq!(
        words(1),
        vec!["SERVICE", "RESOURCE", "HOURLY", "DAILY", "MONTHLY"],
        "{table}"
    );
    assert_eq!(
        words(3),
        vec![
            "web", "memory", "0.03", "EUR", "0.72", "EUR", "21.90", "EUR"
        ],
        "{table}"
    );
    assert_eq!(
        lines.last().unwrap().split_whitespace().collect::<Vec<_>>(),
        vec![
            "total", "all", "1.08", "EUR", "25.92", "EUR", "788.40", "EUR"
        ],
        "{table}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = runner.ok_with(&json_args, &deployer);
    let json: Value = serde_json::from_str(&json)?;
    assert_eq!(json["total"], body["total"]);
    assert_eq!(runner.json(&["ps"]), json!([]), "the CLI deployed nothing");
    Ok(())
}
