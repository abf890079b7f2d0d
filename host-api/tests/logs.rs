//! A plugin's log output is bounded per call and cannot forge the host's own lines: shown with
//! `plugins/hostile/log-flood`, which writes ~100 MB through `host.log` in one call, every
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
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn a_log_flood_is_cut_at_the_budget_with_one_marker_and_counted() {
    let (captured, _guard) = capture();
    let host = host();
    let limits = Limits {
        log_bytes: 16 << 10,
        log_lines: 100,
        ..Limits::default()
    };
    let spec =
        PluginSpec::from_file("flood", component("hostile-log-flood")).with_limits(limits.clone());
    let plugin = load_spec(&host, spec).await;
    let flood = plugin.stack_template().unwrap();

    let answer = flood.render(&[]).await.expect("the call itself succeeds");
    assert_eq!(answer.unwrap_err().code, "flooded");

    let text = captured.text();
    let plugin_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("plugin log") && !l.contains("truncated"))
        .collect();
    assert_eq!(
        plugin_lines.len(),
        100,
        "host.log keeps exactly its line budget"
    );
    let markers: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("plugin log truncated"))
        .collect();
    // One marker for host.log, one for stdout (10,000 lines against a budget of 100).
    assert_eq!(markers.len(), 2, "one marker per channel: {markers:#?}");
    assert!(markers.iter().any(|l| l.contains("channel=\"host.log\"")));
    assert!(markers.iter().any(|l| l.contains("channel=\"stdout\"")));
    // The whole log of a ~100 MB flood stays within the budgets plus the log's own framing.
    assert!(
        text.len() < 64 << 10,
        "the log grew to {} bytes for a 16 KiB budget",
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
    let spec = PluginSpec::from_file("flood", component("hostile-log-flood"));
    let flood = load_spec(&host, spec).await.stack_template().unwrap();
    flood.render(&[]).await.unwrap().unwrap_err();

    let text = captured.text();
    assert!(text.contains("admin token"), "the forged text is logged");
    for line in text.lines() {
        assert!(
            !line.starts_with("2026-12-02T00:00:00.000000Z"),
            "a plugin started a log line of its own: {line}"
        );
        if line.contains("admin token") {
            assert!(
                line.contains("windlass::plugin") && line.contains("plugin=flood"),
                "forged text outside a plugin event: {line}"
            );
            assert!(
                line.contains("text=flooding\\n2026-12-02") || line.contains("\\r2026-12-02"),
                "the control characters are escaped: {line}"
            );
        }
    }
    assert!(!text.contains('\r'), "no raw carriage return reaches the log");
}
