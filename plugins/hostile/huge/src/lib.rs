//! `hostile-huge`: a stack template whose `render` returns a huge stack.
//!
//! The stack has one service whose environment values total about `bytes` bytes (plugin
//! config `bytes`, default 8388608 = 8 MiB), in 64 KiB values. Host tests use this plugin to
//! prove that the host bounds what it accepts from a plugin.

use windlass_plugin_sdk::types::{PluginError, ServiceSpec, StackSpec, TemplateInfo};

/// The template.
struct Huge;

const DEFAULT_BYTES: usize = 8 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// A stack whose strings total about `bytes` bytes (never less).
fn huge_stack(bytes: usize) -> StackSpec {
    let mut service = ServiceSpec::new("huge", "local/huge:1");
    let mut left = bytes.saturating_sub(service.name.len() + service.image.len());
    let mut i = 0usize;
    while left > 0 {
        let key = format!("HUGE_{i}");
        let len = left.saturating_sub(key.len()).clamp(1, CHUNK);
        left = left.saturating_sub(key.len() + len);
        service.env.push((key, "x".repeat(len)));
        i += 1;
    }
    StackSpec {
        services: vec![service],
        volumes: Vec::new(),
    }
}

impl windlass_plugin_sdk::StackTemplate for Huge {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "hostile-huge".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin: render returns a stack of about `bytes` bytes.".into(),
            parameters: Vec::new(),
        }
    }

    fn render(_params: Vec<(String, String)>) -> Result<StackSpec, PluginError> {
        let bytes = match windlass_plugin_sdk::config::get("bytes") {
            None => DEFAULT_BYTES,
            Some(text) => text.trim().parse().map_err(|_| {
                PluginError::invalid_config(
                    "bytes",
                    format!("config `bytes` must be a whole number, not `{text}`"),
                )
            })?,
        };
        Ok(huge_stack(bytes))
    }
}

windlass_plugin_sdk::export_stack_template!(Huge);

#[cfg(test)]
mod tests {
    fn total(stack: &windlass_plugin_sdk::types::StackSpec) -> usize {
        stack
            .services
            .iter()
            .map(|s| {
                s.name.len()
                    + s.image.len()
                    + s.env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            })
            .sum()
    }

    #[test]
    fn sizes() {
        for bytes in [0, 1, 100, 65_536, 1_000_000, super::DEFAULT_BYTES] {
            let t = total(&super::huge_stack(bytes));
            assert!(t >= bytes && t <= bytes + 16, "{bytes}: {t}");
        }
    }
}
