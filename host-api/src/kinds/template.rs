//! The `stack-template` world.

use super::guest_call;
use crate::convert::convert;
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
        guest_call!(self.0, "describe", &[], {
            StackTemplate => |guest, store| guest.windlass_plugin_template().call_describe(store),
            StackTemplateV0_1 => |guest, store| async move {
                convert(&guest.windlass_plugin_template().call_describe(store).await?)
            },
        })
    }

    /// Renders a stack. The outer error is the sandbox's; the inner one is the plugin's own
    /// answer (e.g. an invalid parameter, naming it).
    pub async fn render(
        &self,
        params: &[(String, String)],
    ) -> Result<Result<StackSpec, PluginError>, CallError> {
        guest_call!(self.0, "render", &[], {
            StackTemplate => |guest, store| guest.windlass_plugin_template().call_render(store, params),
            StackTemplateV0_1 => |guest, store| async move {
                convert(&guest.windlass_plugin_template().call_render(store, params).await?)
            },
        })
    }
}
