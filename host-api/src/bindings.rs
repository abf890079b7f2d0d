//! The generated bindings: one private `bindgen!` per world.
//!
//! The shared `types` and `host` interfaces are generated once, with the `stack-template` world,
//! and every other world maps them with `with:` so that embedders see a single set of types.

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

pub(crate) mod stack_template {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "windlass:plugin/stack-template",
        // Host functions are synchronous (logging and config lookups never wait) and trappable,
        // so the host can stop a guest that abuses them.
        imports: { default: trappable },
        // Exports run on a fiber so a call can be interrupted and awaited from tokio.
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
    });
}

pub(crate) mod build_strategy {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "windlass:plugin/build-strategy",
        imports: { default: trappable },
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "windlass:plugin/types": super::stack_template::windlass::plugin::types,
            "windlass:plugin/host": super::stack_template::windlass::plugin::host,
        },
    });
}

pub(crate) mod billing_rule {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "windlass:plugin/billing-rule",
        imports: { default: trappable },
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "windlass:plugin/types": super::stack_template::windlass::plugin::types,
            "windlass:plugin/host": super::stack_template::windlass::plugin::host,
        },
    });
}

pub(crate) mod cloud_adapter {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "windlass:plugin/cloud-adapter",
        imports: { default: trappable },
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "windlass:plugin/types": super::stack_template::windlass::plugin::types,
            "windlass:plugin/host": super::stack_template::windlass::plugin::host,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

pub(crate) use stack_template::windlass::plugin::host;
pub(crate) use stack_template::windlass::plugin::types;
