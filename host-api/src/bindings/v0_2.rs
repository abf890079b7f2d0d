//! The bindings of `windlass:plugin@0.2.0` (`wit/0.2.0/`): one private `bindgen!` per world.
//!
//! The shared `types` and `host` interfaces are generated once, with the `stack-template` world,
//! and every other world maps them with `with:`.

#![allow(missing_docs, missing_debug_implementations, clippy::all)]

pub(crate) mod stack_template {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "windlass:plugin/stack-template@0.2.0",
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
        path: "../wit/0.2.0",
        world: "windlass:plugin/build-strategy@0.2.0",
        imports: { default: trappable },
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "windlass:plugin/types@0.2.0": super::stack_template::windlass::plugin::types,
            "windlass:plugin/host@0.2.0": super::stack_template::windlass::plugin::host,
        },
    });
}

pub(crate) mod billing_rule {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "windlass:plugin/billing-rule@0.2.0",
        imports: { default: trappable },
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "windlass:plugin/types@0.2.0": super::stack_template::windlass::plugin::types,
            "windlass:plugin/host@0.2.0": super::stack_template::windlass::plugin::host,
        },
    });
}

pub(crate) mod cloud_adapter {
    wasmtime::component::bindgen!({
        path: "../wit/0.2.0",
        world: "windlass:plugin/cloud-adapter@0.2.0",
        imports: { default: trappable },
        exports: { default: async },
        ownership: Owning,
        require_store_data_send: true,
        additional_derives: [PartialEq, Eq, serde::Serialize, serde::Deserialize],
        with: {
            "windlass:plugin/types@0.2.0": super::stack_template::windlass::plugin::types,
            "windlass:plugin/host@0.2.0": super::stack_template::windlass::plugin::host,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}
