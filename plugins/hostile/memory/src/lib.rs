//! `hostile-memory`: a stack template whose `render` allocates until it dies.
//!
//! `render` allocates 1 MiB blocks, writes to every page of each (so the memory is really
//! used), and keeps them all, until an allocation fails and the guest traps. `describe` works
//! normally. Host tests use this plugin to prove that the memory limit holds.

use windlass_plugin_sdk::types::{PluginError, StackSpec, TemplateInfo};

/// The template.
struct Hungry;

const BLOCK: usize = 1 << 20;
const PAGE: usize = 4096;

impl windlass_plugin_sdk::StackTemplate for Hungry {
    fn describe() -> TemplateInfo {
        TemplateInfo {
            name: "hostile-memory".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Test plugin: render allocates memory until the host stops it.".into(),
            parameters: Vec::new(),
        }
    }

    fn render(_params: Vec<(String, String)>) -> Result<StackSpec, PluginError> {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        let mut round: u8 = 0;
        loop {
            let mut block = vec![0u8; BLOCK];
            round = round.wrapping_add(1);
            for byte in block.iter_mut().step_by(PAGE) {
                *byte = round;
            }
            kept.push(std::hint::black_box(block));
        }
    }
}

windlass_plugin_sdk::export_stack_template!(Hungry);
