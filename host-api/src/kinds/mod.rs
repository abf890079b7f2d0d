//! Typed handles, one per plugin kind. Each method is one guest export; every call runs in a
//! fresh sandbox (see `sandbox`) created from the pre-instantiated component.

mod adapter;
mod billing;
mod build;
mod template;

pub use adapter::CloudAdapter;
pub use billing::{BillingRule, BillingSession};
pub use build::BuildStrategy;
pub use template::StackTemplate;

/// Runs one guest export: starts the call, instantiates the pre-instantiated component in the
/// call's fresh store, calls the export under the deadline, and finishes (classifying errors,
/// checking the output size, feeding the failure policy).
///
/// One arm per `Pre` variant the function exists for (a 0.2.0 arm and, where 0.1.0 has the
/// function, a `V0_1` arm converting its arguments and answer); each arm's expression is a
/// future of `wasmtime::Result<T>` with the same `T`.
macro_rules! guest_call {
    ($plugin:expr, $function:literal, $dirs:expr, {
        $( $variant:ident => |$guest:ident, $store:ident| $call:expr ),+ $(,)?
    }) => {{
        let mut call = $plugin.start_call($function, $dirs)?;
        let loaded = call.loaded.clone();
        if !matches!(&loaded.pre, $(crate::plugin::Pre::$variant(_))|+) {
            return Err(call.wrong_kind());
        }
        let timeout = call.timeout();
        let outcome = tokio::time::timeout(timeout, async {
            match &loaded.pre {
                $(crate::plugin::Pre::$variant(pre) => {
                    let $guest = pre.instantiate_async(&mut call.store).await?;
                    let $store = &mut call.store;
                    $call.await
                })+
                _ => unreachable!("the variant was checked above"),
            }
        })
        .await;
        call.finish(outcome)
    }};
}
pub(crate) use guest_call;

use crate::{Plugin, PluginKind};

impl Plugin {
    /// This plugin as a stack template, if it is one.
    pub fn stack_template(&self) -> Option<StackTemplate> {
        (self.kind() == PluginKind::StackTemplate).then(|| StackTemplate(self.clone()))
    }

    /// This plugin as a build strategy, if it is one.
    pub fn build_strategy(&self) -> Option<BuildStrategy> {
        (self.kind() == PluginKind::BuildStrategy).then(|| BuildStrategy(self.clone()))
    }

    /// This plugin as a billing rule, if it is one.
    pub fn billing_rule(&self) -> Option<BillingRule> {
        (self.kind() == PluginKind::BillingRule).then(|| BillingRule(self.clone()))
    }

    /// This plugin as a cloud adapter, if it is one.
    pub fn cloud_adapter(&self) -> Option<CloudAdapter> {
        (self.kind() == PluginKind::CloudAdapter).then(|| CloudAdapter(self.clone()))
    }
}
