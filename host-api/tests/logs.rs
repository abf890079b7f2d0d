//! A plugin's log output is bounded per call and cannot forge the host's own lines: shown with
//! `plugins/hostile/log-flood`, which writes ~100 MB through `host.log` in one call (10,000 messages of 10 KB), every
//! message carrying a newline and a line dressed as the runner's "admin token" notice.

// A test that cannot go on panics with the reason: that is its failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{component, host, load_spec};
use windlass_host_api::{Limits, PluginSpec};

/// Everything the subscriber writes, as the runner's log file would hold it.
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

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Installs a text subscriber (the runner's default format) for this test's thread.
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        // Debug, as an operator turning on verbose logs would: at trace wasmtime-wasi logs every
        // host call of the guest with its arguments (its own spans, not the plugin log).
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_log_flood_is_cut_at_the_budget_with_one_marker_and_counted() {
    let (captured, _guard) = capture();
    let host = host();
    // The default budget: 64 KiB and 1,000 lines per channel and call.
    let limits = Limits {
        timeout: std::time::Duration::from_secs(20),
        ..Limits::default()
    };
    assert_eq!((limits.log_bytes, limits.log_lines), (64 << 10, 1_000));
    let spec =
        PluginSpec::from_file("flood", component("hostile-log-flood")).with_limits(limits.clone());
    let plugin = load_spec(&host, spec).await;
    let flood = plugin.stack_template().unwrap();

    let answer = flood.render(&[]).await.expect("the call itself succeeds");
    assert_eq!(answer.unwrap_err().code, "flooded");

    let text = captured.text();
    let kept = |what: &str| {
        text.lines()
            .filter(|l| l.contains(what) && !l.contains("truncated"))
            .count()
    };
    // host.log: 10 KB messages, six of which fit 64 KiB; stdout: 10,000 short lines.
    assert_eq!(
        kept("plugin log"),
        6,
        "host.log keeps what fits its byte budget"
    );
    let stdout_lines = kept("plugin output");
    assert!(
        (100..=1_000).contains(&stdout_lines),
        "stdout keeps what fits: {stdout_lines} lines"
    );
    let markers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("plugin log truncated"))
        .collect();
    assert_eq!(
        markers.len(),
        2,
        "one marker per channel: {:?}",
        markers.len()
    );
    assert!(markers.iter().any(|l| l.contains("channel=\"host.log\"")));
    assert!(markers.iter().any(|l| l.contains("channel=\"stdout\"")));
    // ~100 MB written; the log holds the two budgets and the events' own framing.
    assert!(
        text.len() < 256 << 10,
        "the log grew to {} bytes for a 64 KiB budget",
        text.len()
    );
    assert_eq!(plugin.status().log_truncations, 2);

    // A second call gets a fresh budget, and is counted again.
    flood.render(&[]).await.unwrap().unwrap_err();
    assert_eq!(plugin.status().log_truncations, 4);
}

#[tokio::test]
async fn no_plugin_text_starts_a_line_of_its_own() {
    let (captured, _guard) = capture();
    let host = host();
    let spec = PluginSpec::from_file("flood", component("hostile-log-flood")).with_limits(Limits {
        timeout: std::time::Duration::from_secs(20),
        ..Limits::default()
    });
    let flood = load_spec(&host, spec).await.stack_template().unwrap();
    flood.render(&[]).await.unwrap().unwrap_err();

    let text = captured.text();
    assert!(text.contains("admin token"), "the forged text is logged");
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-12-02T00:00:00.000000Z"),
            "a plugin started a log line of its own: {}",
            &line[..line.len().min(300)]
        );
        if line.contains("admin token") {
            assert!(
                line.contains("windlass::plugin") && line.contains("plugin=flood"),
                "forged text outside a plugin event: {}",
                &line[..line.len().min(300)]
            );
            assert!(
                line.contains("text=flooding\\n2026-12-02") || line.contains("\\r2026-12-02"),
                "the control characters are escaped: {}",
                &line[..line.len().min(300)]
            );
        }
    }
    assert!(
        !text.contains('\r'),
        "no raw carriage return reaches the log"
    );
}
