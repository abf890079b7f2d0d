//! Engine-side probes against real containers: HTTP (status range, body), TCP and exec, run
//! from the engine against the container's address on its stack network.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::docker::BUSYBOX;
use common::engine::EngineScope;
use windlass::health::Probe;
use windlass::{ContainerFilter, ServiceSpec};

const TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test]
async fn http_tcp_and_exec_probes_judge_a_real_container() -> anyhow::Result<()> {
    let scope = EngineScope::new();
    let engine = scope.engine().await?;
    // httpd serves /www on 8080; nothing listens on 9090.
    let page = "mkdir -p /www && echo 'all good' > /www/healthz && exec httpd -f -p 8080 -h /www";
    engine
        .apply(
            "acme",
            "probe",
            ServiceSpec::new("web", BUSYBOX).with_command(["sh", "-c", page]),
        )
        .await?;
    engine.reconcile().await?;
    let name = engine.containers(&ContainerFilter::default()).await?[0]
        .name
        .clone();

    // httpd needs a moment: the TCP probe tells when it listens.
    let mut listening = false;
    for _ in 0..50 {
        if engine
            .probe(&name, &Probe::Tcp { port: 8080 }, TIMEOUT)
            .await?
            .healthy
        {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listening, "httpd never accepted a connection");

    let ok = engine
        .probe(&name, &Probe::http(8080, "/healthz"), TIMEOUT)
        .await?;
    assert!(ok.healthy && ok.detail == "HTTP 200", "{ok:?}");
    let missing = engine
        .probe(&name, &Probe::http(8080, "/nope"), TIMEOUT)
        .await?;
    assert!(
        !missing.healthy && missing.detail == "HTTP 404",
        "{missing:?}"
    );
    let wrong_body = Probe::Http {
        port: 8080,
        path: "/healthz".into(),
        status: 200..=299,
        body_contains: Some("ready".into()),
    };
    let outcome = engine.probe(&name, &wrong_body, TIMEOUT).await?;
    assert!(
        !outcome.healthy && outcome.detail.contains("ready"),
        "{outcome:?}"
    );

    let closed = engine
        .probe(&name, &Probe::Tcp { port: 9090 }, TIMEOUT)
        .await?;
    assert!(!closed.healthy, "{closed:?}");

    let exec_ok = Probe::Exec {
        command: vec!["test".into(), "-f".into(), "/www/healthz".into()],
    };
    assert!(engine.probe(&name, &exec_ok, TIMEOUT).await?.healthy);
    let exec_fail = Probe::Exec {
        command: vec!["sh".into(), "-c".into(), "echo broken >&2; exit 3".into()],
    };
    let failed = engine.probe(&name, &exec_fail, TIMEOUT).await?;
    assert!(
        !failed.healthy && failed.detail == "exit code 3: broken",
        "{failed:?}"
    );

    // A stopped container has no address: unhealthy, saying why.
    engine.stop(&name).await?;
    let stopped = engine
        .probe(&name, &Probe::Tcp { port: 8080 }, TIMEOUT)
        .await?;
    assert!(
        !stopped.healthy && stopped.detail.contains("no network address"),
        "{stopped:?}"
    );
    Ok(())
}
