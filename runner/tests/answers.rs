//! Every answer the runner gives is a JSON error with a stable code, whatever the request:
//! wrong methods, oversized bodies and targets, bad JSON and queries, unknown routes, names
//! Docker refuses, numbers at their limits, random headers and queries (a property test); a
//! role is checked before a body is read; another org's or engine's container is answered
//! exactly like a missing one.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use hyper::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use support::{fill, served_paths, server};
use windlass_runner::api::{MAX_BODY, MAX_URI, Role};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn code(answer: &windlass_test_support::http::RawAnswer) -> Value {
    answer.json()["error"]["code"].clone()
}

#[tokio::test]
async fn the_router_answers_in_the_api_error_format() -> anyhow::Result<()> {
    let server = server().await?;
    let admin = bearer(&server.admin().await?);
    let auth = [("authorization", admin.as_str())];

    let answer = server
        .api
        .send(b"PATCH", "/v1/containers", &auth, "")
        .await?;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&answer), "method-not-allowed");
    assert_eq!(answer.headers["allow"], "GET,HEAD");
    assert_eq!(answer.content_type(), "application/json");

    let answer = server
        .api
        .send(b"GET", "/v1/nothing/here", &auth, "")
        .await?;
    assert_eq!(
        (answer.status, code(&answer)),
        (StatusCode::NOT_FOUND, json!("not-found"))
    );

    let long = format!("/v1/containers/{}", "a".repeat(MAX_URI + 1));
    let answer = server.api.send(b"GET", &long, &auth, "").await?;
    assert_eq!(
        (answer.status, code(&answer)),
        (StatusCode::URI_TOO_LONG, json!("uri-too-long"))
    );

    let deploy = "/v1/orgs/acme/stacks/shop";
    let big = vec![b' '; MAX_BODY + 1];
    let answer = server.api.send(b"PUT", deploy, &auth, big).await?;
    assert_eq!(
        (answer.status, code(&answer)),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("payload-too-large"))
    );

    let answer = server.api.send(b"PUT", deploy, &auth, "{not json").await?;
    assert_eq!(
        (
            answer.status,
            code(&answer),
            answer.json()["error"]["field"].clone()
        ),
        (StatusCode::BAD_REQUEST, json!("validation"), json!("body"))
    );
    let answer = server
        .api
        .send(b"GET", "/v1/events?limit=x", &auth, "")
        .await?;
    assert_eq!(
        (
            answer.status,
            code(&answer),
            answer.json()["error"]["field"].clone()
        ),
        (StatusCode::BAD_REQUEST, json!("validation"), json!("query"))
    );
    let answer = server
        .api
        .send(b"GET", "/v1/containers/%FF%FE", &auth, "")
        .await?;
    assert_eq!(
        (answer.status, code(&answer)),
        (StatusCode::BAD_REQUEST, json!("validation"))
    );
    Ok(())
}

#[tokio::test]
async fn the_role_is_checked_before_the_body_is_read() -> anyhow::Result<()> {
    let server = server().await?;
    let read = bearer(&server.token("acme", Role::Read).await?);
    let ten_megabytes = vec![b'x'; 10 * 1024 * 1024];
    let started = Instant::now();
    let answer = server
        .api
        .send(
            b"PUT",
            "/v1/orgs/acme/stacks/shop",
            &[("authorization", &read)],
            ten_megabytes,
        )
        .await?;
    assert_eq!(
        (answer.status, code(&answer)),
        (StatusCode::FORBIDDEN, json!("forbidden"))
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() -> anyhow::Result<()> {
    let server = server().await?;
    let token = server.token("acme", Role::Read).await?;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let header = format!("{scheme} {token}");
        let answer = server
            .api
            .send(b"GET", "/v1/containers", &[("authorization", &header)], "")
            .await?;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}: {answer:?}");
    }
    let answer = server
        .api
        .send(
            b"GET",
            "/v1/containers",
            &[("authorization", &format!("Basic {token}"))],
            "",
        )
        .await?;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn another_orgs_or_engines_container_is_answered_like_a_missing_one() -> anyhow::Result<()> {
    let server = server().await?;
    let other = support::server().await?;
    let acme = bearer(&server.token("acme", Role::Deploy).await?);
    let globex = server.token("globex", Role::Deploy).await?;
    let spec = json!({
        "name": "web",
        "image": windlass_test_support::docker::BUSYBOX,
        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
    });
    // A container of org globex on this engine, and one of another engine.
    server
        .api
        .call(
            "put",
            "/v1/orgs/globex/stacks/shop/services/web",
            Some(&globex),
            Some(&spec),
        )
        .await?;
    server.engine.reconcile().await?;
    let other_admin = other.admin().await?;
    other
        .api
        .call(
            "put",
            "/v1/orgs/acme/stacks/shop/services/web",
            Some(&other_admin),
            Some(&spec),
        )
        .await?;
    other.engine.reconcile().await?;
    let theirs = server.engine.containers(&Default::default()).await?[0]
        .name
        .clone();
    let elsewhere = other.engine.containers(&Default::default()).await?[0]
        .name
        .clone();

    let auth = [("authorization", acme.as_str())];
    for (method, suffix) in [
        ("GET", ""),
        ("GET", "/health"),
        ("POST", "/stop"),
        ("GET", "/logs"),
    ] {
        let answer_for = |name: &str| format!("/v1/containers/{name}{suffix}");
        let missing = server
            .api
            .send(method.as_bytes(), &answer_for("wl_missing_x"), &auth, "")
            .await?;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{missing:?}");
        for name in [
            theirs.as_str(),
            elsewhere.as_str(),
            "%25",
            "%09",
            "a%20b",
            "-x",
        ] {
            let answer = server
                .api
                .send(method.as_bytes(), &answer_for(name), &auth, "")
                .await?;
            let shown = percent_encoding::percent_decode_str(name)
                .decode_utf8_lossy()
                .into_owned();
            let expected = String::from_utf8_lossy(&missing.bytes)
                .replace("wl_missing_x", &shown.replace('\t', "\\t"));
            assert_eq!(
                (
                    answer.status,
                    String::from_utf8_lossy(&answer.bytes).into_owned()
                ),
                (StatusCode::NOT_FOUND, expected),
                "{method} {name}{suffix}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn numbers_at_their_limits_do_not_panic_the_runner() -> anyhow::Result<()> {
    let server = server().await?;
    let admin = bearer(&server.admin().await?);
    let auth = ("authorization", admin.as_str());
    for id in [
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "1e3",
        "",
    ] {
        let answer = server
            .api
            .send(
                b"GET",
                "/v1/events/stream",
                &[auth, ("last-event-id", id)],
                "",
            )
            .await?;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{id}: {answer:?}");
        assert_eq!(answer.json()["error"]["field"], "Last-Event-ID");
    }
    for query in [
        "/v1/events?from=18446744073709551615",
        "/v1/events?from=18446744073709551615&limit=10000",
        "/v1/containers/x1/health/history?from_ms=-9223372036854775808&to_ms=9223372036854775807",
        "/v1/containers/x1/logs?tail=18446744073709551615&since=9223372036854775807",
    ] {
        let answer = server.api.send(b"GET", query, &[auth], "").await?;
        assert!(
            answer.status.is_success() || answer.status.is_client_error(),
            "{query}: {answer:?}"
        );
    }
    let answer = server
        .api
        .send(
            b"POST",
            "/v1/orgs/acme/stacks/shop/services/web/rollback",
            &[auth],
            r#"{"revision": 18446744073709551615}"#,
        )
        .await?;
    assert!(answer.status.is_client_error(), "{answer:?}");
    assert!(
        server
            .api
            .send(b"GET", "/healthz", &[], "")
            .await?
            .status
            .is_success()
    );
    Ok(())
}

/// A header name, value and a query string, each drawn at random.
fn request_parts() -> impl Strategy<Value = (String, Vec<u8>, String)> {
    (
        "[a-zA-Z][a-zA-Z0-9-]{0,20}",
        proptest::collection::vec(0x20u8..0x7f, 0..40),
        "[a-z_]{1,8}=[a-zA-Z0-9._~%+-]{0,30}(&[a-z_]{1,8}=[a-zA-Z0-9%+-]{0,20}){0,3}",
    )
}

#[test]
fn random_headers_and_queries_get_no_server_error_on_any_route() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(server())?;
    let admin = bearer(&runtime.block_on(server.admin())?);
    let paths = served_paths(server.state.clone());
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(request_parts(), 0..paths.len(), any::<bool>()),
            |((name, value, query), path, with_token)| {
                // Headers that frame the request itself are the HTTP client's business.
                prop_assume!(
                    ![
                        "host",
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "upgrade",
                        "te",
                        "expect",
                        "keep-alive",
                        "trailer",
                        "authorization",
                    ]
                    .contains(&name.to_ascii_lowercase().as_str())
                );
                let target = format!("{}?{query}", fill(&paths[path]));
                let value = String::from_utf8_lossy(&value).into_owned();
                let mut headers = vec![(name.as_str(), value.as_str())];
                if with_token {
                    headers.push(("authorization", admin.as_str()));
                }
                let answer = runtime
                    .block_on(server.api.send(b"GET", &target, &headers, ""))
                    .map_err(|e| TestCaseError::fail(format!("{target}: {e:#}")))?;
                prop_assert!(
                    answer.status.as_u16() < 500 && answer.content_type().contains("json")
                        || answer.status.is_success(),
                    "{target} {name}: {value:?} -> {answer:?}"
                );
                Ok(())
            },
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
