//! `hostile-panic`: a stack template whose `render` always panics.
//!
//! The panic message is `hostile-panic: render always panics`; it goes to the guest's stderr
//! and the guest traps (plugins build with `panic = "abort"`). `describe` works normally. Host
//! tests use this plugin to prove that a trap is reported and the instance is not reused.

use windlass_plugin_sdk::types::{PluginError, StackSpec, TemplateInfo};

/// The template.
struct Panics;

impl windlass_plugin_sdk::StackTemplate for Panics {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "hostile-panic".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin: render always panics.".into(),
            parameters: Vec::new(),
        }
    }

    fn render(_params: Vec<(String, String)>) -> Result<StackSpec, PluginError> {
        panic!("hostile-panic: render always panics")
    }
}

windlass_plugin_sdk::export_stack_template!(Panics);
