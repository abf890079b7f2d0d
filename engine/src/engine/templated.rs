//! Which stacks were made from a stack template, and with which parameters: the runner records
//! them when it deploys a stack from `{template, params}` (or from its file), and re-renders
//! them when the template is reloaded. Stored, so a restarted runner still knows them.

use std::collections::BTreeMap;

use super::Engine;
use crate::EngineError;
use crate::TemplatedStack;

impl Engine {
    /// Records that `org/stack` was rendered by the template plugin `template` with `params`.
    pub async fn set_stack_template(
        &self,
        org: &str,
        stack: &str,
        template: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        Ok(self
            .inner
            .ctx
            .store
            .set_stack_template(org, stack, template, params)
            .await?)
    }

    /// The template and parameters `org/stack` was made with; `None` for a stack deployed
    /// from a spec (or removed).
    pub async fn stack_template(
        &self,
        org: &str,
        stack: &str,
    ) -> Result<Option<(String, BTreeMap<String, String>)>, EngineError> {
        Ok(self.inner.ctx.store.get_stack_template(org, stack).await?)
    }

    /// The stacks made from `template`: (org, stack, params), ordered.
    pub async fn stacks_of_template(
        &self,
        template: &str,
    ) -> Result<Vec<TemplatedStack>, EngineError> {
        Ok(self
            .inner
            .ctx
            .store
            .list_stacks_of_template(template)
            .await?)
    }

    /// Forgets that `org/stack` was made from a template (it is now deployed from a spec).
    /// [`Engine::remove_stack`] forgets it too.
    pub async fn forget_stack_template(&self, org: &str, stack: &str) -> Result<(), EngineError> {
        self.inner
            .ctx
            .store
            .delete_stack_template(org, stack)
            .await?;
        Ok(())
    }
}
