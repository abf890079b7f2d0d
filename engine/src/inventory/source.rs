//! Where an inventory's containers come from: one [`InventorySource`] per target. The engine
//! has one for its local Docker and one per adapter target; a host application can add its own
//! ([`EngineBuilder::with_inventory_source`](crate::EngineBuilder::with_inventory_source)).
//!
//! A source only answers single calls; fan-out, caching, retries and statistics are the
//! engine's (`inventory::fetch`), so every source gets them the same way.

use futures::future::BoxFuture;

use super::types::{Group, GroupPage, SourceContainer};

/// Why a source's call failed. Only [`SourceError::RateLimited`] is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Slow down: retry after this many ms (0: the platform did not say; the engine backs off).
    #[error("rate limited (retry after {0} ms)")]
    RateLimited(u32),
    /// The platform's quota is used up: retrying will not help.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The group is not there (or the token may not see it).
    #[error("not found: {0}")]
    NotFound(String),
    /// The platform refused the credentials.
    #[error("denied: {0}")]
    Denied(String),
    /// The platform failed or could not be reached.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The source cannot do this (e.g. an adapter without the inventory capability).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Anything else (a plugin that trapped, a malformed answer).
    #[error("{0}")]
    Other(String),
}

impl SourceError {
    /// A stable code for the API and the statistics.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::RateLimited(_) => "rate-limited",
            SourceError::QuotaExceeded(_) => "quota-exceeded",
            SourceError::NotFound(_) => "not-found",
            SourceError::Denied(_) => "denied",
            SourceError::Unavailable(_) => "unavailable",
            SourceError::Unsupported(_) => "unsupported",
            SourceError::Other(_) => "failed",
        }
    }
}

/// One target's containers, a group at a time.
pub trait InventorySource: Send + Sync + 'static {
    /// The target's name (`local`, or the configured target's).
    fn target(&self) -> &str;

    /// One page of groups in `scope` (`None`: the source's default, or all), from `cursor`.
    fn list_groups<'a>(
        &'a self,
        scope: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<GroupPage, SourceError>>;

    /// The containers of one group.
    fn list_group_containers<'a>(
        &'a self,
        group: &'a Group,
    ) -> BoxFuture<'a, Result<Vec<SourceContainer>, SourceError>>;
}
