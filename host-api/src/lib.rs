//! The Windlass plugin host: loads WebAssembly components that implement the
//! `windlass:plugin` contract (see `wit/`; versions 0.1 and 0.2 side by side), sandboxes them, and calls them from tokio.
//!
//! ```no_run
//! use windlass_host_api::{PluginHost, PluginKind, PluginSpec};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let host = PluginHost::builder().with_cache_dir(".windlass/compiled").build()?;
//! let plugin = host
//!     .load(
//!         PluginSpec::from_file("web-postgres", "plugins/target/wasm32-wasip2/release/stack_web_postgres.wasm")
//!             .with_kind(PluginKind::StackTemplate),
//!     )
//!     .await?;
//! let template = plugin.stack_template().expect("checked at load");
//! let params = vec![("db_password".to_owned(), "s3cret".to_owned())];
//! match template.render(&params).await? {
//!     Ok(stack) => println!("{} services", stack.services.len()),
//!     Err(invalid) => eprintln!("{}: {}", invalid.code, invalid.message),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What the host guarantees, per call: a fresh store (nothing survives between calls), a memory
//! cap, a wall-clock deadline enforced by epoch interruption, optional fuel, a cap on the size of
//! the returned value, no filesystem, environment or network beyond the plugin's grants, and
//! guest output routed to `tracing` under the plugin's name. A failure is a [`CallError`] naming
//! the plugin; it never panics the host. Repeated failures disable the plugin until it is
//! reloaded ([`FailurePolicy`]), and every load, failure and disablement is a [`PluginEvent`].

mod bindings;
mod cache;
mod call;
mod contract;
mod convert;
mod error;
mod events;
mod guest_log;
mod host;
mod kinds;
mod memory;
#[cfg(feature = "openapi")]
#[doc(hidden)]
pub mod openapi;
mod plugin;
mod sandbox;
mod secret_config;
mod spec;
mod stdio;
mod types_ext;
mod unix_http;
mod worker;

pub use cache::CompileSource;
pub use contract::{CONTRACT_VERSION, SUPPORTED_CONTRACT_VERSIONS};
pub use error::{CallError, LoadError};
pub use events::{PluginEvent, PluginEventKind};
pub use host::{HostBuildError, PluginHost, PluginHostBuilder, Pooling};
pub use kinds::{BillingRule, BillingSession, BuildStrategy, CloudAdapter, StackTemplate};
pub use plugin::{Plugin, PluginStatus};
pub use secret_config::SecretConfig;
pub use spec::{FailurePolicy, Grants, Limits, PluginKind, PluginSource, PluginSpec};
pub use worker::{CompileWorker, run_compile_worker};

/// The data types of the contract, generated from `wit/0.2.0/` (a 0.1.0 component's values are
/// converted to and from these). Field names are the WIT names in snake case; every type is
/// `Clone`, `PartialEq` and serde-serialisable.
pub mod types {
    pub use crate::bindings::cloud_adapter::exports::windlass::plugin::adapter::{
        AdapterError, AdapterInfo, Capabilities, DeployRequest, DeploymentPhase, DeploymentRef,
        DeploymentStatus, FailureAction, Group, GroupPage, JoinInfo, LogLine, NodeAvailability,
        NodeInfo, NodeRole, TaskInfo, UpdateOrder, UpdatePolicy,
    };
    pub use crate::bindings::stack_template::exports::windlass::plugin::template::{
        Parameter, ParameterType, TemplateInfo,
    };
    pub use crate::bindings::types::*;
}

/// Re-exported so embedders never match versions by hand.
pub use secrecy;
/// Re-exported so embedders never match versions by hand.
pub use wasmtime;
