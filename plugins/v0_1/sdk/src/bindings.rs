//! The bindings `wit-bindgen` generates from the contract in `wit/`, one module per world.
//!
//! `stack_template` generates the shared interfaces (`windlass:plugin/types` and `host`); the
//! other worlds reuse them through `with:`, so every plugin kind sees the same Rust types.

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

/// The `stack-template` world; also home of the shared `types` and `host` bindings.
pub mod stack_template {
    wit_bindgen::generate!({
        world: "stack-template",
        path: "../../../wit/0.1.0",
        generate_unused_types: true,
        additional_derives: [PartialEq, Eq],
        pub_export_macro: true,
        export_macro_name: "__export_stack_template_world",
        runtime_path: "::windlass_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// The `build-strategy` world.
pub mod build_strategy {
    wit_bindgen::generate!({
        world: "build-strategy",
        path: "../../../wit/0.1.0",
        with: {
            "windlass:plugin/types@0.1.0": crate::bindings::stack_template::windlass::plugin::types,
            "windlass:plugin/host@0.1.0": crate::bindings::stack_template::windlass::plugin::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_build_strategy_world",
        runtime_path: "::windlass_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// The `billing-rule` world.
pub mod billing_rule {
    wit_bindgen::generate!({
        world: "billing-rule",
        path: "../../../wit/0.1.0",
        with: {
            "windlass:plugin/types@0.1.0": crate::bindings::stack_template::windlass::plugin::types,
            "windlass:plugin/host@0.1.0": crate::bindings::stack_template::windlass::plugin::host,
        },
        pub_export_macro: true,
        export_macro_name: "__export_billing_rule_world",
        runtime_path: "::windlass_plugin_sdk::__private::wit_bindgen::rt",
    });
}

/// The `cloud-adapter` world, with the WASI HTTP bindings it imports.
pub mod cloud_adapter {
    wit_bindgen::generate!({
        world: "cloud-adapter",
        path: "../../../wit/0.1.0",
        with: {
            "windlass:plugin/types@0.1.0": crate::bindings::stack_template::windlass::plugin::types,
            "windlass:plugin/host@0.1.0": crate::bindings::stack_template::windlass::plugin::host,
        },
        // Not `additional_derives`: WASI resources cannot derive `PartialEq`.
        additional_type_attributes: {
            "windlass:plugin/adapter@0.1.0/adapter-error": [#[derive(PartialEq, Eq)]],
            "windlass:plugin/adapter@0.1.0/deployment-ref": [#[derive(PartialEq, Eq)]],
            "windlass:plugin/adapter@0.1.0/deployment-status": [#[derive(PartialEq, Eq)]],
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_cloud_adapter_world",
        runtime_path: "::windlass_plugin_sdk::__private::wit_bindgen::rt",
    });
}
