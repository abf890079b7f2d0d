//! Windlass: an embeddable container orchestration engine whose policies are WebAssembly
//! plugins.
//!
//! The engine keeps the containers of declared services running on a real Docker engine: it
//! stores desired state (an SQLite file by default, PostgreSQL by URL), reconciles it with what
//! Docker reports under its own labels, restarts what dies according to a restart policy, and
//! records every transition in an indexed event log. After a crash, the next start adopts what
//! runs and repairs the rest.
//!
//! ```no_run
//! use windlass::{ContainerFilter, Engine, PortSpec, ServiceSpec};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let engine = Engine::builder()
//!     .with_engine_id("dev-1")
//!     .with_store_url("sqlite://.windlass/windlass.db")
//!     .build()
//!     .await?;
//! let web = ServiceSpec::new("web", "windlass-test/busybox:1")
//!     .with_command(["httpd", "-f", "-p", "8080"])
//!     .with_port(PortSpec::tcp(8080))
//!     .with_replicas(2);
//! engine.apply("acme", "shop", web).await?;
//! let _events = engine.subscribe(0); // replayed from the start, then live
//! engine.reconcile().await?; // or keep reconciling: engine.run(shutdown).await
//! for container in engine.containers(&ContainerFilter::default()).await? {
//!     println!("{} {}", container.name, container.status);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Plugins are hosted by [`plugins`] (the `windlass-host-api` crate), re-exported here so an
//! embedder never matches versions by hand; so are the crates whose types appear in this API
//! ([`serde_json`] for event payloads, [`futures`] for streams).

pub use futures;
pub use serde_json;
pub use windlass_host_api as plugins;

pub mod billing;
pub mod builds;
mod clock;
mod control;
mod engine;
mod error;
mod failpoint;
pub mod health;
pub mod inventory;
pub mod lifecycle;
mod naming;
#[cfg(feature = "openapi")]
mod openapi;
pub mod placement;
pub mod policy;
mod reconcile;
pub mod secrets;
mod spec;
pub mod stacks;
pub mod targets;
pub mod tokens;
pub mod workers;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    BuildRequest, ContainerFilter, EmbeddedSwarm, Engine, EngineBuilder, LogStream,
    ManagedContainer, ServiceStatus, StackDeployment, StackOrigin, StackStatus,
};
pub use error::EngineError;
pub use failpoint::FAILPOINTS_ENV;
pub use reconcile::ReconcileReport;
pub use spec::{ServiceSpec, SpecError, validate_name};

pub mod resources;
pub(crate) mod runtime;
pub use runtime::{
    AssignedPort, ContainerInfo, ContainerSpec, ContainerStatus, ContainerSummary, DockerRuntime,
    ExecOutput, Hardening, LogLine, LogOptions, LogSource, ManagedLabels, NetworkInfo, NetworkSpec,
    PortSpec, Protocol, RuntimeAction, RuntimeError, RuntimeEvent, RuntimeEventStream, SecretMount,
    StatsSnapshot, VolumeInfo, VolumeMount, VolumeSpec, config_hash, labels,
};

pub mod events;
pub(crate) mod store;

pub use events::{
    Event, EventFilter, EventLog, EventLogConfig, EventLogError, EventStream, NewEvent,
    RetentionPolicy,
};
pub use store::redact_url as redact_store_url;
pub use store::{
    BackendKind, ContainerRecord, DesiredService, Placement, Rollout, Scope, ServiceRevision,
    Store, StoreError, StoreOptions, TemplatedStack,
};
