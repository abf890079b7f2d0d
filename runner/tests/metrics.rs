//! `/metrics` with bounded label values (10 000 requests with random methods and paths do not
//! make the page grow) and in a form `promtool check metrics` accepts (from the Debian package
//! `prometheus`, installed by `scripts/setup-api-checks.sh`).

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write as _;

use hyper::StatusCode;
use rand::Rng as _;
use support::{server, tool};

/// Random request methods and paths, of every kind a client could send.
fn random_request(rng: &mut impl rand::Rng) -> (Vec<u8>, String) {
    let method: Vec<u8> = match rng.random_range(0..4) {
        0 => b"GET".to_vec(),
        1 => b"DELETE".to_vec(),
        // `X…`: never a method the API knows.
        _ => std::iter::once(b'X')
            .chain((0..rng.random_range(1..12)).map(|_| rng.random_range(b'A'..=b'Z')))
            .collect(),
    };
    let segments: Vec<String> = (0..rng.random_range(1..5))
        .map(|_| format!("{:x}", rng.random::<u64>()))
        .collect();
    let path = match rng.random_range(0..3) {
        0 => format!("/v1/containers/{}", segments[0]),
        1 => format!(
            "/v1/orgs/{}/stacks/{}",
            segments[0],
            segments[segments.len() - 1]
        ),
        _ => format!("/{}", segments.join("/")),
    };
    (method, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_requests_do_not_grow_the_metrics_page() -> anyhow::Result<()> {
    let server = server().await?;
    let admin = format!("Bearer {}", server.admin().await?);
    let auth = [("authorization", admin.as_str())];
    let page = async || -> anyhow::Result<String> {
        let answer = server.api.send(b"GET", "/metrics", &auth, "").await?;
        assert_eq!(answer.status, StatusCode::OK);
        Ok(String::from_utf8(answer.bytes.to_vec())?)
    };
    let send_random = async |n: usize| -> anyhow::Result<()> {
        let mut requests: Vec<(Vec<u8>, String, bool)> = {
            let mut rng = rand::rng();
            (0..n)
                .map(|_| {
                    let (method, path) = random_request(&mut rng);
                    (method, path, rng.random_bool(0.5))
                })
                .collect()
        };
        for chunk in requests.chunks_mut(50) {
            let sends = chunk.iter().map(|(method, path, with_token)| {
                let headers: &[(&str, &str)] = if *with_token { &auth } else { &[] };
                server.api.send(method, path, headers, "")
            });
            for answer in futures::future::join_all(sends).await {
                assert!(answer?.status.is_client_error());
            }
        }
        Ok(())
    };
    // Every label value that can exist exists after a first round…
    send_random(2_000).await?;
    page().await?; // the page's own request is counted once it has answered
    let before = page().await?;
    // …and 10 000 more random requests add none.
    send_random(10_000).await?;
    let after = page().await?;
    let series = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
            .collect()
    };
    assert_eq!(series(&before), series(&after), "{after}");
    assert!(
        after.len() <= before.len() + before.len() / 10,
        "{} -> {} bytes",
        before.len(),
        after.len()
    );
    assert!(
        after.contains(
            r#"windlass_api_requests_total{method="other",route="unmatched",status="404"}"#
        ),
        "{after}"
    );
    Ok(())
}

#[tokio::test]
async fn promtool_accepts_the_metrics_page() -> anyhow::Result<()> {
    let promtool = tool("WINDLASS_PROMTOOL")?;
    let server = server().await?;
    let admin = format!("Bearer {}", server.admin().await?);
    let auth = [("authorization", admin.as_str())];
    for path in ["/v1/containers", "/v1/nope", "/v1/events?limit=0"] {
        server.api.send(b"GET", path, &auth, "").await?;
    }
    let answer = server.api.send(b"GET", "/metrics", &auth, "").await?;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.content_type(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(answer.bytes.to_vec())?;
    for family in [
        "# TYPE windlass_probe_lag_seconds histogram",
        "# HELP windlass_probe_lag_seconds Delay from a health probe's due time to its start.",
        "windlass_probe_lag_seconds_bucket{le=\"+Inf\"}",
        "# TYPE windlass_api_requests_total counter",
    ] {
        assert!(text.contains(family), "{family}:\n{text}");
    }
    let mut child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().unwrap().write_all(&answer.bytes)?;
    let output = child.wait_with_output()?;
    assert!(
        output.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
