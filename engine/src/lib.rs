//! Windlass: an embeddable container orchestration engine whose policies are WebAssembly
//! plugins. (Bring-up: modules land one by one.)

pub use windlass_host_api as plugins;

mod control;
mod engine;
mod error;
pub mod lifecycle;
mod naming;
mod reconcile;
mod spec;

pub use engine::{ContainerFilter, Engine, EngineBuilder, ManagedContainer};
pub use error::EngineError;
pub use reconcile::ReconcileReport;
pub use spec::{ServiceSpec, SpecError};

pub mod resources;
pub(crate) mod runtime;
pub use runtime::{
    AssignedPort, ContainerInfo, ContainerSpec, ContainerStatus, ContainerSummary, DockerRuntime,
    ExecOutput, ManagedLabels, NetworkInfo, NetworkSpec, PortSpec, Protocol, RuntimeAction,
    RuntimeError, RuntimeEvent, RuntimeEventStream, StatsSnapshot, VolumeInfo, VolumeMount,
    VolumeSpec, config_hash, labels,
};

pub mod events;
pub(crate) mod store;

pub use events::{
    Event, EventFilter, EventLog, EventLogConfig, EventLogError, EventStream, NewEvent,
    RetentionPolicy,
};
pub use store::{
    BackendKind, ContainerRecord, DesiredService, Scope, Store, StoreError, StoreOptions,
};
