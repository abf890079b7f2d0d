//! The OpenAPI document against the router it describes and against outside checks: every
//! route the router serves is documented and refuses a missing token; the document passes an
//! OpenAPI 3.1 validator (openapi-spec-validator). schemathesis against a running runner is in
//! `schemathesis.rs`. The tools come from `scripts/setup-api-checks.sh`.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use hyper::StatusCode;
use serde_json::Value;
use support::{fill, served_paths, server, tool};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// (method, path) of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations
}

fn public(doc: &Value, method: &str, path: &str) -> bool {
    doc["paths"][path][method]["security"] == serde_json::json!([{}])
}

#[tokio::test]
async fn every_route_the_router_serves_is_documented_and_refuses_a_missing_token()
-> anyhow::Result<()> {
    let server = server().await?;
    let doc = server
        .api
        .call("get", "/openapi.json", None, None)
        .await?
        .body;
    let operations = documented(&doc);
    let paths = served_paths(server.state.clone());
    assert!(paths.len() >= 20, "the router's own table: {paths:?}");
    let mut served = BTreeSet::new();
    for path in &paths {
        for method in METHODS {
            // A path the router serves answers 405 for a method it does not: anything else
            // means the method is routed.
            let target = fill(path);
            let answer = server
                .api
                .send(method.to_uppercase().as_bytes(), &target, &[], "{}")
                .await?;
            if answer.status == StatusCode::NOT_FOUND
                && answer.json()["error"]["message"] == "route not found"
            {
                // The fallback's own entry in the table.
                continue;
            }
            if answer.status == StatusCode::METHOD_NOT_ALLOWED {
                assert_eq!(answer.json()["error"]["code"], "method-not-allowed");
                continue;
            }
            served.insert((method.to_owned(), path.clone()));
            if public(&doc, method, path) {
                // Webhooks take no token: their signature is the authentication.
                let expected = if path.starts_with("/v1/hooks/") {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                };
                assert_eq!(answer.status, expected, "{method} {path}");
                continue;
            }
            for token in [None, Some("Bearer wl_not_a_token")] {
                let headers: Vec<(&str, &str)> =
                    token.iter().map(|t| ("authorization", *t)).collect();
                let answer = server
                    .api
                    .send(method.to_uppercase().as_bytes(), &target, &headers, "{}")
                    .await?;
                assert_eq!(
                    (answer.status, answer.json()["error"]["code"].clone()),
                    (StatusCode::UNAUTHORIZED, "unauthorized".into()),
                    "{method} {target} {token:?}: {answer:?}"
                );
            }
        }
    }
    assert_eq!(
        served, operations,
        "the router serves exactly what the document lists"
    );
    Ok(())
}

#[tokio::test]
async fn every_body_parameter_and_answer_has_a_real_schema() -> anyhow::Result<()> {
    let server = server().await?;
    let doc = server
        .api
        .call("get", "/openapi.json", None, None)
        .await?
        .body;
    assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
    let mut integer_parameters = 0;
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][&method];
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let schema = &parameter["schema"];
            assert!(
                schema.get("type").is_some() || schema.get("$ref").is_some(),
                "{method} {path}: {parameter}"
            );
            if schema["type"] == "integer" {
                integer_parameters += 1;
            }
        }
        let responses = operation["responses"].as_object().unwrap();
        let ok = &responses
            .iter()
            .find(|(status, _)| status.starts_with('2'))
            .unwrap_or_else(|| panic!("{method} {path}: no success answer"))
            .1["content"];
        let media = ok
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: {ok}"));
        for (media_type, content) in media {
            assert!(
                content.get("schema").is_some(),
                "{method} {path} {media_type}: no schema"
            );
        }
        if ["put", "post"].contains(&method.as_str()) && !path.ends_with("/start") {
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            let is_action = [
                "/stop",
                "/restart",
                "/reload",
                "/rotate-key",
                "/cancel",
                "/webhook",
            ]
            .iter()
            .any(|a| path.ends_with(a));
            assert!(
                is_action || body.is_object(),
                "{method} {path}: no request body"
            );
        }
        let mut statuses: Vec<&String> =
            operation["responses"].as_object().unwrap().keys().collect();
        statuses.sort();
        for status in ["400", "404", "405", "414", "500", "503"] {
            assert!(
                statuses.contains(&&status.to_owned()),
                "{method} {path}: {statuses:?}"
            );
        }
        if !public(&doc, &method, &path) {
            for status in ["401", "403"] {
                assert!(statuses.contains(&&status.to_owned()), "{method} {path}");
            }
        }
    }
    assert!(integer_parameters >= 6, "integers typed as such");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "ServiceSpec",
        "StackSpec",
        "ManagedContainer",
        "ContainerInfo",
        "Event",
        "Error",
    ] {
        assert!(schemas.contains_key(name), "{name}: {:?}", schemas.keys());
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    Ok(())
}

#[tokio::test]
async fn the_document_passes_an_openapi_3_1_validator() -> anyhow::Result<()> {
    let validator = tool("WINDLASS_OPENAPI_VALIDATOR")?;
    let server = server().await?;
    let answer = server.api.send(b"GET", "/openapi.json", &[], "").await?;
    assert_eq!(answer.content_type(), "application/json");
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &answer.bytes)?;
    let output = std::process::Command::new(&validator)
        .args(["--schema", "3.1.0"])
        .arg(&file)
        .output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{}: {said}", validator.display());
    assert!(said.contains("OK"), "{said}");
    Ok(())
}
