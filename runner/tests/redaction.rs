//! Token secrets never leave the answer that creates them: with every log line of every crate
//! recorded at TRACE, tokens are created, used, listed, refused and revoked through the HTTP
//! API of a real engine, and each secret is searched for in the log, in every API answer but
//! the creating one, in the event history and in `/metrics`.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use serde_json::{Value, json};
use windlass_runner::api::ApiState;
use windlass_test_support::engine::EngineScope;
use windlass_test_support::http::Api;

/// Everything logged, from every thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_secrets_never_show_in_logs_answers_events_or_metrics() -> anyhow::Result<()> {
    let log = Captured::default();
    let writer = log.clone();
    // Installed before anything else logs: the only subscriber of this test process.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    tracing::info!("capturing");

    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    let state = ApiState::new(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(windlass_runner::api::serve(
        listener,
        windlass_runner::api::router(state.clone()),
        async {
            stopped.await.ok();
        },
    ));
    let api = Api::new(address);
    let admin = state.tokens.ensure_admin().await?.unwrap();
    let mut secrets = vec![admin.secret.clone()];
    let mut answers: Vec<Value> = Vec::new();

    let created = api
        .call(
            "post",
            "/v1/tokens",
            Some(&admin.secret),
            Some(&json!({"name": "ci", "org": "globex", "role": "deploy"})),
        )
        .await?;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap().to_owned();
    secrets.push(secret.clone());

    for (method, path, token) in [
        ("get", "/v1/tokens/current", secret.as_str()),
        ("get", "/v1/containers", secret.as_str()),
        ("get", "/v1/stacks", secret.as_str()),
        ("get", "/v1/tokens", admin.secret.as_str()),
        ("get", "/v1/events", admin.secret.as_str()),
        ("delete", &format!("/v1/tokens/{id}"), admin.secret.as_str()),
        ("get", "/v1/containers", secret.as_str()),
        ("get", "/v1/tokens", admin.secret.as_str()),
    ] {
        let answer = api.call(method, path, Some(token), None).await?;
        answers
            .push(json!({ "path": path, "status": answer.status.as_u16(), "body": answer.body }));
    }
    // The revoked token was refused as such: the flow above did what it says.
    assert_eq!(
        answers[6]["body"]["error"]["code"], "token-revoked",
        "{answers:?}"
    );
    let metrics = api
        .call("get", "/metrics", Some(&admin.secret), None)
        .await?;
    answers.push(metrics.body);

    let logged = String::from_utf8(log.0.lock().unwrap().clone())?;
    // The log is there, at every level, with the fields of the token events.
    assert!(
        logged.contains("api token created") && logged.contains(&id),
        "the log was captured"
    );
    assert!(logged.contains("api token revoked"));
    assert!(
        logged.contains(" TRACE ") && logged.contains(" DEBUG "),
        "trace and debug lines"
    );
    let answered = serde_json::to_string(&answers)?;
    for secret in &secrets {
        // The secret, and enough of it to be half of one.
        let half = &secret[..secret.len() / 2 + 2];
        assert!(!logged.contains(half), "a token secret is in the log");
        assert!(
            !answered.contains(half),
            "a token secret is in an answer: {answered}"
        );
    }
    Ok(())
}
