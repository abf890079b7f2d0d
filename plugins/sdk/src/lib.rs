//! Write Windlass plugins as plain Rust.
//!
//! A Windlass plugin is a WebAssembly component implementing one world of the
//! `windlass:plugin@0.2.0` contract (`wit/0.2.0/` at the repository root). With this crate a plugin is
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
//! | `stack-template` | [`StackTemplate`]  | [`export_stack_template!`] | `windlass:plugin/template@0.2.0` |
//! | `build-strategy` | [`BuildStrategy`]  | [`export_build_strategy!`] | `windlass:plugin/build@0.2.0`    |
//! | `billing-rule`   | [`BillingRule`]    | [`export_billing_rule!`]   | `windlass:plugin/billing@0.2.0`  |
//! | `cloud-adapter`  | [`CloudAdapter`]   | [`export_cloud_adapter!`]  | `windlass:plugin/adapter@0.2.0`  |
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
pub mod config;
pub mod http;
pub mod log;
pub mod types;

use types::{
    AdapterError, AdapterInfo, BillingPeriod, BuildOptions, BuildPlan, ContainerFilter,
    ContainerInfo, DeployRequest, DeploymentRef, DeploymentStatus, Detection, Group, GroupPage,
    Invoice, JoinInfo, LogLine, NodeAvailability, NodeInfo, NodeRole, PluginError, QuotaDecision,
    Resources, StackSpec, TemplateInfo, UsageRecord, UsageSummary,
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
/// Adapters are stateless and idempotent: the engine keeps the deployment references. The
/// required methods are what every adapter does; the others default to
/// [`AdapterError::unsupported`], so an adapter implements what its platform has and says so in
/// [`describe`](CloudAdapter::describe)'s capabilities. Export an implementation with
/// [`export_cloud_adapter!`].
pub trait CloudAdapter {
    /// What the adapter is and which optional parts it implements.
    fn describe() -> AdapterInfo;

    /// Creates or updates the deployment of `request.service` (idempotent by org, stack and
    /// service name), putting `request.labels` on everything it creates.
    fn deploy(request: DeployRequest) -> Result<DeploymentRef, AdapterError>;

    /// Reads a deployment's status.
    fn status(deployment: DeploymentRef) -> Result<DeploymentStatus, AdapterError>;

    /// Sets the number of replicas.
    fn scale(deployment: DeploymentRef, replicas: u32) -> Result<(), AdapterError>;

    /// Removes the deployment; removing a missing one succeeds.
    fn remove(deployment: DeploymentRef) -> Result<(), AdapterError>;

    /// Lists the containers on the platform that match `filter`.
    fn list_containers(filter: ContainerFilter) -> Result<Vec<ContainerInfo>, AdapterError>;

    /// Goes back to the deployment's previous version (capability `rollback`).
    fn rollback(deployment: DeploymentRef) -> Result<(), AdapterError> {
        let _ = deployment;
        Err(AdapterError::unsupported("rollback"))
    }

    /// The deployments carrying all of `labels` (adoption after a restart).
    fn list_deployments(labels: Vec<(String, String)>) -> Result<Vec<DeploymentRef>, AdapterError> {
        let _ = labels;
        Err(AdapterError::unsupported("list-deployments"))
    }

    /// The last `tail` lines the deployment's containers wrote, oldest first (capability `logs`).
    fn logs(deployment: DeploymentRef, tail: u32) -> Result<Vec<LogLine>, AdapterError> {
        let _ = (deployment, tail);
        Err(AdapterError::unsupported("logs"))
    }

    /// Creates `org`'s network if it is missing; returns its platform name (capability
    /// `networks`).
    fn ensure_network(org: String) -> Result<String, AdapterError> {
        let _ = org;
        Err(AdapterError::unsupported("ensure-network"))
    }

    /// Removes `org`'s network; removing a missing one succeeds (capability `networks`).
    fn remove_network(org: String) -> Result<(), AdapterError> {
        let _ = org;
        Err(AdapterError::unsupported("remove-network"))
    }

    /// The platform's nodes (capability `nodes`).
    fn nodes() -> Result<Vec<NodeInfo>, AdapterError> {
        Err(AdapterError::unsupported("nodes"))
    }

    /// Sets whether a node takes tasks (capability `nodes`).
    fn set_availability(
        node_id: String,
        availability: NodeAvailability,
    ) -> Result<(), AdapterError> {
        let _ = (node_id, availability);
        Err(AdapterError::unsupported("set-availability"))
    }

    /// Removes a node from the cluster (capability `nodes`).
    fn remove_node(node_id: String, force: bool) -> Result<(), AdapterError> {
        let _ = (node_id, force);
        Err(AdapterError::unsupported("remove-node"))
    }

    /// How a new node of `role` joins the cluster (capability `nodes`).
    fn join_instructions(role: NodeRole) -> Result<JoinInfo, AdapterError> {
        let _ = role;
        Err(AdapterError::unsupported("join-instructions"))
    }

    /// Replaces the join token of `role` (capability `nodes`).
    fn rotate_join_token(role: NodeRole) -> Result<(), AdapterError> {
        let _ = role;
        Err(AdapterError::unsupported("rotate-join-token"))
    }

    /// One page of the groups in `scope` (none: the configured default), from `cursor`
    /// (capability `inventory`).
    fn list_groups(
        scope: Option<String>,
        cursor: Option<String>,
    ) -> Result<GroupPage, AdapterError> {
        let _ = (scope, cursor);
        Err(AdapterError::unsupported("list-groups"))
    }

    /// The containers of one group (capability `inventory`).
    fn list_group_containers(group: Group) -> Result<Vec<ContainerInfo>, AdapterError> {
        let _ = group;
        Err(AdapterError::unsupported("list-group-containers"))
    }
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
            fn describe() -> $crate::types::AdapterInfo {
                <$ty as $crate::CloudAdapter>::describe()
            }
            fn deploy(
                request: $crate::types::DeployRequest,
            ) -> ::core::result::Result<$crate::types::DeploymentRef, $crate::types::AdapterError>
            {
                <$ty as $crate::CloudAdapter>::deploy(request)
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
            fn rollback(
                deployment: $crate::types::DeploymentRef,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::rollback(deployment)
            }
            fn list_deployments(
                labels: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::types::DeploymentRef>,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::list_deployments(labels)
            }
            fn logs(
                deployment: $crate::types::DeploymentRef,
                tail: u32,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::types::LogLine>,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::logs(deployment, tail)
            }
            fn list_containers(
                filter: $crate::types::ContainerFilter,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::types::ContainerInfo>,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::list_containers(filter)
            }
            fn ensure_network(
                org: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::ensure_network(org)
            }
            fn remove_network(
                org: ::std::string::String,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::remove_network(org)
            }
            fn nodes() -> ::core::result::Result<
                ::std::vec::Vec<$crate::types::NodeInfo>,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::nodes()
            }
            fn set_availability(
                node_id: ::std::string::String,
                availability: $crate::types::NodeAvailability,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::set_availability(node_id, availability)
            }
            fn remove_node(
                node_id: ::std::string::String,
                force: bool,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::remove_node(node_id, force)
            }
            fn join_instructions(
                role: $crate::types::NodeRole,
            ) -> ::core::result::Result<$crate::types::JoinInfo, $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::join_instructions(role)
            }
            fn rotate_join_token(
                role: $crate::types::NodeRole,
            ) -> ::core::result::Result<(), $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::rotate_join_token(role)
            }
            fn list_groups(
                scope: ::core::option::Option<::std::string::String>,
                cursor: ::core::option::Option<::std::string::String>,
            ) -> ::core::result::Result<$crate::types::GroupPage, $crate::types::AdapterError> {
                <$ty as $crate::CloudAdapter>::list_groups(scope, cursor)
            }
            fn list_group_containers(
                group: $crate::types::Group,
            ) -> ::core::result::Result<
                ::std::vec::Vec<$crate::types::ContainerInfo>,
                $crate::types::AdapterError,
            > {
                <$ty as $crate::CloudAdapter>::list_group_containers(group)
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
