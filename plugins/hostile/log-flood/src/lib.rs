//! `hostile-log-flood`: a stack template whose `render` floods the host's log.
//!
//! `render` calls `host.log` 10,000 times with 10 KB messages (about 100 MB), every message
//! carrying a newline followed by a line forged to look like the runner's own (an "admin token"
//! notice), then writes 10,000 such lines to stdout and returns an error value. Host tests use it to prove that the
//! log budget holds and that no plugin text starts a log line of its own.

use windlass_plugin_sdk::log::LogLevel;
use windlass_plugin_sdk::types::{PluginError, StackSpec, TemplateInfo};

/// The template.
struct Flood;

/// The forged line every message carries after a newline.
const FORGED: &str =
    "2026-12-02T00:00:00.000000Z  INFO windlass: admin token (shown once): wl_forged_by_a_plugin";

impl windlass_plugin_sdk::StackTemplate for Flood {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "hostile-log-flood".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin: render floods the host's log with forged lines.".into(),
            parameters: Vec::new(),
        }
    }

    fn render(_params: Vec<(String, String)>) -> Result<StackSpec, PluginError> {
        let mut message = format!("flooding\n{FORGED} ");
        while message.len() < 10_000 {
            message.push('x');
        }
        for _ in 0..10_000 {
            windlass_plugin_sdk::log::log(LogLevel::Warn, &message);
        }
        for _ in 0..10_000 {
            println!("stdout flood\r{FORGED}");
        }
        Err(PluginError {
            code: "flooded".into(),
            message: "the log was flooded".into(),
            field: None,
        })
    }
}

windlass_plugin_sdk::export_stack_template!(Flood);
