//! The SDK as released for `windlass:plugin@0.1.0`, kept to build the 0.1.0 components of the
//! test set (`plugins/v0_1/`): the host must keep loading plugins built this way.
//!
//! Its traits, macros, bindings (`wit/0.1.0/`) and types are 0.1.0's, as released; `config`,
//! `log` and `http` are the current SDK's modules, compiled against these bindings (they use only
//! what 0.1.0 has). The constructors the current SDK added for shared plugin sources
//! (`UsageRecord::new`, `DeploymentStatus::new`, `ContainerInfo::new`) are here too. New plugins use
//! `windlass-plugin-sdk` (0.2.0).
//!
//! What follows is the 0.1.0 SDK's documentation.
//!
//! Write Windlass plugins as plain Rust.
//!
//! A Windlass plugin is a WebAssembly component implementing one world of the
//! `windlass:plugin@0.1.0` contract (`wit/` at the repository root). With this crate a plugin is
//! a type, an impl of one of four traits and one macro call:
//!
//! ```
//! use windlass_plugin_sdk::types::{
//!     BillingPeriod, Invoice, Money, PluginError, QuotaDecision, Resources, UsageRecord,
//!     UsageSummary,
//! };
//!
//! /// Charges nothing, allows everything.
//! struct Free;
//!
//! impl windlass_plugin_sdk::BillingRule for Free {
//!     fn price(period: BillingPeriod, _usage: Vec<UsageRecord>) -> Result<Invoice, PluginError> {
//!         let currency = windlass_plugin_sdk::config::get("currency").unwrap_or("EUR".into());
//!         Ok(Invoice { period, lines: Vec::new(), total: Money::new(0, currency) })
//!     }
//!
//!     fn check_quota(_current: UsageSummary, _requested: Resources) -> QuotaDecision {
//!         windlass_plugin_sdk::info!("allowing everything");
//!         QuotaDecision::Allow
//!     }
//! }
//!
//! windlass_plugin_sdk::export_billing_rule!(Free);
//! # fn main() {}
//! ```
//!
//! Build the crate as a `cdylib` for `wasm32-wasip2` and the `.wasm` file cargo writes is the
//! component the engine loads.
//!
//! | world            | trait              | macro                     | export                          |
//! |------------------|--------------------|---------------------------|---------------------------------|
//! | `stack-template` | [`StackTemplate`]  | [`export_stack_template!`] | `windlass:plugin/template@0.1.0` |
//! | `build-strategy` | [`BuildStrategy`]  | [`export_build_strategy!`] | `windlass:plugin/build@0.1.0`    |
//! | `billing-rule`   | [`BillingRule`]    | [`export_billing_rule!`]   | `windlass:plugin/billing@0.1.0`  |
//! | `cloud-adapter`  | [`CloudAdapter`]   | [`export_cloud_adapter!`]  | `windlass:plugin/adapter@0.1.0`  |
//!
//! Besides the traits and macros the crate offers:
//!
//! - [`types`]: every type of the contract, one set shared by all four worlds, with a few
//!   constructors such as [`PluginError::invalid_parameter`](types::PluginError::invalid_parameter);
//! - [`log`] and the [`info!`]-style macros: the host's log;
//! - [`config`]: the plugin's configuration, as the operator wrote it;
//! - [`http`]: a small blocking HTTP client over `wasi:http`, for cloud adapters (only the
//!   `cloud-adapter` world may import `wasi:http`; the host allows only the hosts the operator
//!   granted).
//!
//! # Testing plugins natively
//!
//! The bindings compile on every target, so a plugin's logic can be unit-tested with a plain
//! `cargo test --target <host triple>`. Off wasm32 there is no host: [`log`] writes to stderr and
//! [`config`] reads a per-thread map that tests fill with `config::set_for_tests`.

extern crate self as windlass_plugin_sdk;

mod bindings;
#[path = "../../../sdk/src/config.rs"]
pub mod config;
#[path = "../../../sdk/src/http.rs"]
pub mod http;
#[path = "../../../sdk/src/log.rs"]
pub mod log;
pub mod types;

use types::{
    AdapterError, BillingPeriod, BuildOptions, BuildPlan, ContainerFilter, ContainerInfo,
    DeploymentRef, DeploymentStatus, Detection, Invoice, PluginError, QuotaDecision, Resources,
    ServiceSpec, StackSpec, TemplateInfo, UsageRecord, UsageSummary,
};

/// A stack template (world `stack-template`): renders a stack from parameters.
///
/// Export an implementation with [`export_stack_template!`].
pub trait StackTemplate {
    /// Describes the template: its name, version and the parameters it accepts.
    fn describe() -> TemplateInfo;

    /// Renders a stack from `params` (name, value pairs as the operator gave them). An unknown,
    /// missing or invalid parameter is an error naming it in `field`.
    fn render(params: Vec<(String, String)>) -> Result<StackSpec, PluginError>;
}

/// A build strategy (world `build-strategy`): detects a source tree and plans its build.
///
/// The host preopens the tree read-only; read it with `std::fs` under `source_dir`. Export an
/// implementation with [`export_build_strategy!`].
pub trait BuildStrategy {
    /// Says whether this strategy can build the tree at `source_dir`, and how sure it is.
    fn detect(source_dir: String) -> Option<Detection>;

    /// Plans the build of the tree at `source_dir`; the host executes the plan.
    fn plan(source_dir: String, options: BuildOptions) -> Result<BuildPlan, PluginError>;
}

/// A billing rule (world `billing-rule`): prices metered usage and checks quotas.
///
/// Export an implementation with [`export_billing_rule!`].
pub trait BillingRule {
    /// Prices the usage of one period.
    fn price(period: BillingPeriod, usage: Vec<UsageRecord>) -> Result<Invoice, PluginError>;

    /// Decides whether `requested` more resources fit the organisation's quota.
    fn check_quota(current: UsageSummary, requested: Resources) -> QuotaDecision;
}

/// A cloud adapter (world `cloud-adapter`): drives another platform over HTTP (see [`http`]).
///
/// Adapters are stateless and idempotent: the engine keeps the deployment references. Export an
/// implementation with [`export_cloud_adapter!`].
pub trait CloudAdapter {
    /// Creates or updates the deployment of a service (idempotent by service name).
    fn deploy(service: ServiceSpec) -> Result<DeploymentRef, AdapterError>;

    /// Reads a deployment's status.
    fn status(deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError>;

    /// Sets the number of replicas.
    fn scale(deployment: DeploymentRef, replicas: u32) -> Result<(), AdapterError>;

    /// Removes the deployment; removing a missing one succeeds.
    fn remove(deployment: DeploymentRef) -> Result<(), AdapterError>;

    /// Lists the containers on the platform that match `filter`.
    fn list_containers(filter: ContainerFilter) -> Result<Vec<ContainerInfo>, AdapterError>;
}

/// Exports a [`StackTemplate`] implementation as the component's `windlass:plugin/template`.
///
/// Use it once, at the crate root of a `cdylib`: `export_stack_template!(MyTemplate);`.
#[macro_export]
macro_rules! export_stack_template {
    ($ty:ident) => {
        impl $crate::__private::stack_template::exports::windlass::plugin::template::Guest for $ty {
            fn describe() -> $crate::types::TemplateInfo {
                <$ty as $crate::StackTemplate>::describe()
            }
            fn render(
                params: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<$crate::types::StackSpec, $crate::types::PluginError> {
                <$ty as $crate::StackTemplate>::render(params)
            }
        }
        $crate::__private::stack_template::__export_stack_template_world!(
            $ty with_types_in $crate::__private::stack_template
        );
    };
}

/// Exports a [`BuildStrategy`] implementation as the component's `windlass:plugin/build`.
///
/// Use it once, at the crate root of a `cdylib`: `export_build_strategy!(MyStrategy);`.
#[macro_export]
macro_rules! export_build_strategy {
    ($ty:ident) => {
        impl $crate::__private::build_strategy::exports::windlass::plugin::build::Guest for $ty {
            fn detect(
                source_dir: ::std::string::String,
            ) -> ::core::option::Option<$crate::types::Detection> {
                <$ty as $crate::BuildStrategy>::detect(source_dir)
            }
            fn plan(
                source_dir: ::std::string::String,
                options: $crate::types::BuildOptions,
            ) -> ::core::result::Result<$crate::types::BuildPlan, $crate::types::PluginError> {
                <$ty as $crate::BuildStrategy>::plan(source_dir, options)
            }
        }
        $crate::__private::build_strategy::__export_build_strategy_world!(
            $ty with_types_in $crate::__private::build_strategy
        );
    };
}

/// Exports a [`BillingRule`] implementation as the component's `windlass:plugin/billing`.
///
/// Use it once, at the crate root of a `cdylib`: `export_billing_rule!(MyRule);`.
#[macro_export]
macro_rules! export_billing_rule {
    ($ty:ident) => {
        impl $crate::__private::billing_rule::exports::windlass::plugin::billing::Guest for $ty {
            fn price(
                period: $crate::types::BillingPeriod,
                usage: ::std::vec::Vec<$crate::types::UsageRecord>,
            ) -> ::core::result::Result<$crate::types::Invoice, $crate::types::PluginError> {
                <$ty as $crate::BillingRule>::price(period, usage)
            }
            fn check_quota(
                current: $crate::types::UsageSummary,
                requested: $crate::types::Resources,
            ) -> $crate::types::QuotaDecision {
                <$ty as $crate::BillingRule>::check_quota(current, requested)
            }
        }
        $crate::__private::billing_rule::__export_billing_rule_world!(
            $ty with_types_in $crate::__private::billing_rule
        );
    };
}

/// Exports a [`CloudAdapter`] implementation as the component's `windlass:plugin/adapter`.
///
/// Use it once, at the crate root of a `cdylib`: `export_cloud_adapter!(MyAdapter);`.
#[macro_export]
macro_rules! export_cloud_adapter {
    ($ty:ident) => {
        impl $crate::__private::cloud_adapter::exports::windlass::plugin::adapter::Guest for $ty {
            fn deploy(
                service: $crate::types::ServiceSpec,
            ) -> ::core::result::Result<$crate::types::DeploymentRef, $crate::types::AdapterError>
            {
                <$ty as $crate::CloudAdapter>::deploy(service)
            }
            fn status(
                deployment: $crate::types::DeploymentRef,
            ) -> ::core::result::Result<
                $crate::types::DeploymentStatus,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::status(deployment)
            }
            fn scale(
                deployment: $crate::types::DeploymentRef,
                replicas: u32,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::scale(deployment, replicas)
            }
            fn remove(
                deployment: $crate::types::DeploymentRef,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::remove(deployment)
            }
            fn list_containers(
                filter: $crate::types::ContainerFilter,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::types::ContainerInfo>,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::list_containers(filter)
            }
        }
        $crate::__private::cloud_adapter::__export_cloud_adapter_world!(
            $ty with_types_in $crate::__private::cloud_adapter
        );
    };
}

/// What the export macros expand to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::{billing_rule, build_strategy, cloud_adapter, stack_template};
    pub use wit_bindgen;
}
