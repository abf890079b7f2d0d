//! Windlass: an embeddable container orchestration engine whose policies are WebAssembly
//! plugins. (Bring-up: modules land one by one.)

pub use windlass_host_api as plugins;
