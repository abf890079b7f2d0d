//! Copies the plugin host's announcements into the engine's event log, so a plugin's load,
//! failures and disablement are events every client sees (`GET /v1/events`, the stream), like
//! any lifecycle transition.
//!
//! Kinds: `plugin-loaded` (with `pool_unavailable` when instances are allocated on demand),
//! `plugin-call-failed` (the error's stable `code` and its message), `plugin-disabled`, and
//! `plugin-pool-unavailable` once at start-up when the pooling allocator could not be had.

use serde_json::json;
use tokio::sync::broadcast;
use windlass::Engine;
use windlass::events::NewEvent;
use windlass::plugins::{PluginEvent, PluginEventKind, PluginHost};

/// The event-log record of one plugin event.
fn record(event: &PluginEvent) -> Option<NewEvent> {
    let (kind, payload) = match &event.kind {
        PluginEventKind::Loaded {
            kind,
            contract_version,
            sha256,
            compiled,
            reload,
            pool_unavailable,
        } => (
            "plugin-loaded",
            json!({
                "plugin": event.plugin,
                "kind": kind,
                "contract_version": contract_version,
                "sha256": sha256,
                "compiled": compiled.compiled_now(),
                "reload": reload,
                "pool_unavailable": pool_unavailable,
            }),
        ),
        PluginEventKind::CallFailed {
            function,
            error,
            consecutive_failures,
        } => (
            "plugin-call-failed",
            json!({
                "plugin": event.plugin,
                "function": function,
                "code": error.code(),
                "message": error.to_string(),
                "consecutive_failures": consecutive_failures,
            }),
        ),
        PluginEventKind::Disabled {
            failures,
            last_error,
        } => (
            "plugin-disabled",
            json!({
                "plugin": event.plugin,
                "failures": failures,
                "last_error": last_error,
            }),
        ),
        _ => return None,
    };
    Some(NewEvent::new(kind).with_payload(payload))
}

/// Appends what `events` received so far and everything after, until the host is dropped.
/// Subscribe before loading the plugins so their `plugin-loaded` events are kept.
pub fn forward_plugin_events(
    host: &PluginHost,
    mut events: broadcast::Receiver<PluginEvent>,
    engine: Engine,
) {
    let pool_unavailable = host.pooling_unavailable().map(str::to_owned);
    tokio::spawn(async move {
        if let Some(reason) = pool_unavailable {
            let event =
                NewEvent::new("plugin-pool-unavailable").with_payload(json!({ "reason": reason }));
            if let Err(error) = engine.event_log().append(event).await {
                tracing::warn!(%error, "cannot record plugin-pool-unavailable");
            }
        }
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "plugin events dropped before reaching the event log"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let Some(record) = record(&event)
                && let Err(error) = engine.event_log().append(record).await
            {
                tracing::warn!(plugin = %event.plugin, %error, "cannot record a plugin event");
            }
        }
    });
}
