//! Windlass: an embeddable container orchestration engine whose policies are WebAssembly
//! plugins. (Bring-up: modules land one by one.)

pub use windlass_host_api as plugins;

pub mod resources;

pub mod events;
pub(crate) mod store;

pub use events::{
    Event, EventFilter, EventLog, EventLogConfig, EventLogError, EventStream, NewEvent,
    RetentionPolicy,
};
pub use store::{
    BackendKind, ContainerRecord, DesiredService, Scope, Store, StoreError, StoreOptions,
};
