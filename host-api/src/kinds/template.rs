//! The `stack-template` world.

use super::guest_call;
use crate::types::{PluginError, StackSpec, TemplateInfo};
use crate::{CallError, Plugin};

/// A stack template plugin: renders a stack from parameters.
#[derive(Debug, Clone)]
pub struct StackTemplate(pub(crate) Plugin);

impl StackTemplate {
    /// The plugin behind the handle.
    pub fn plugin(&self) -> &Plugin {
        &self.0
    }

    /// What the template is and which parameters it accepts.
    pub async fn describe(&self) -> Result<TemplateInfo, CallError> {
        guest_call!(self.0, StackTemplate, "describe", &[], |guest, store| guest
            .windlass_plugin_template()
            .call_describe(store))
    }

    /// Renders a stack. The outer error is the sandbox's; the inner one is the plugin's own
    /// answer (e.g. an invalid parameter, naming it).
    pub async fn render(
        &self,
        params: &[(String, String)],
    ) -> Result<Result<StackSpec, PluginError>, CallError> {
        guest_call!(self.0, StackTemplate, "render", &[], |guest, store| guest
            .windlass_plugin_template()
            .call_render(store, params))
    }
}
