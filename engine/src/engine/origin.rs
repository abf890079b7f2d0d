//! Who declared a stack — the runner's config file or the API — and removing a stack only if
//! that origin still owns it. The runner uses this to make its file the truth (a stack dropped
//! from the file goes) without touching what was deployed through the API.

use super::Engine;
use crate::EngineError;

/// Who declared a stack last ([`Engine::deploy_stack_from`]); stored with the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StackOrigin {
    /// The runner's config file (`[[stacks]]`).
    File,
    /// The HTTP API, or a host application calling [`Engine::deploy_stack`].
    Api,
}

impl StackOrigin {
    /// The stored name: `file` or `api`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Api => "api",
        }
    }

    /// The origin stored as `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "file" => Some(Self::File),
            "api" => Some(Self::Api),
            _ => None,
        }
    }
}

impl std::fmt::Display for StackOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Engine {
    /// The (org, stack) pairs whose last declaration came from `origin`, ordered.
    pub async fn stacks_from(
        &self,
        origin: StackOrigin,
    ) -> Result<Vec<(String, String)>, EngineError> {
        Ok(self.inner.ctx.store.list_stacks_from(origin).await?)
    }

    /// Who declared `org/stack` last; `None` when nobody did (or before origins were stored).
    pub async fn stack_origin(
        &self,
        org: &str,
        stack: &str,
    ) -> Result<Option<StackOrigin>, EngineError> {
        Ok(self.inner.ctx.store.get_stack_origin(org, stack).await?)
    }

    /// Removes `org/stack` as [`Engine::remove_stack`] does, but only if `origin` declared it
    /// last: `None` (nothing removed) when someone else has declared it since — a stack the
    /// file dropped and the API then re-deployed stays. Otherwise the removed services.
    #[tracing::instrument(name = "engine.remove_stack_from", skip(self), fields(engine = %self.id()))]
    pub async fn remove_stack_from(
        &self,
        org: &str,
        stack: &str,
        origin: StackOrigin,
    ) -> Result<Option<Vec<String>>, EngineError> {
        if self.stack_origin(org, stack).await? != Some(origin) {
            return Ok(None);
        }
        self.remove_stack(org, stack).await.map(Some)
    }

    /// How long a container or network this process has not managed waits before it is
    /// removed (`with_orphan_grace`); the runner waits as long before pruning a stack.
    pub fn orphan_grace(&self) -> std::time::Duration {
        self.inner.ctx.settings.orphan_grace
    }
}
