//! The generated bindings, one set per contract version the host speaks.
//!
//! [`v0_2`] is the current version: its types are the host's public types (`crate::types`).
//! [`v0_1`] is the released 0.1.0, kept so that components built against it still load; its
//! values are converted to and from 0.2.0 at the call boundary (`crate::convert`).

pub(crate) mod v0_1;
pub(crate) mod v0_2;

pub(crate) use v0_2::stack_template::windlass::plugin::host;
pub(crate) use v0_2::stack_template::windlass::plugin::types;
pub(crate) use v0_2::{billing_rule, build_strategy, cloud_adapter, stack_template};
