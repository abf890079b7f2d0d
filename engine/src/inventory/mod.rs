//! The container inventory across every target: "what is running, where, and is it healthy?"
//!
//! - `source`: [`InventorySource`], one per target: the local Docker (`local`), each adapter
//!   target with the inventory capability, and any a host application adds;
//! - `fetch`: one run — list every target's groups (workloads, services) page by page and
//!   fetch each group's containers as soon as its page is in, with at most `concurrency` calls
//!   in flight for both; a failed page or group is an error in the statistics and the rest is
//!   returned;
//! - `cache`: per target and group (and per target and scope for listings), a TTL cache
//!   (default 300 s) with explicit invalidation and size reporting; it holds containers judged
//!   and keyed, shared with the runs, so a repeat only filters, sorts and copies its page;
//! - `retry`: only rate-limited calls are retried: after the platform's `Retry-After`, else
//!   from 1 s doubling, up to a number of attempts;
//! - `query`: filters, a limit and a cursor, and `count`;
//! - `report`: statistics, per-group errors and progress (stage, done, total).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

mod adapter;
mod cache;
mod fetch;
mod local;
mod query;
mod report;
mod retry;
mod source;
mod types;

pub use cache::CacheSize;
pub use local::LOCAL_TARGET;
pub use query::{InventoryQuery, QueryError};
pub use report::{InventoryError, InventoryReport, InventoryStats, Progress, Stage};
pub use retry::RetryPolicy;
pub use source::{InventorySource, SourceError};
pub use types::{Group, GroupPage, Health, InventoryContainer, Restarts, SourceContainer};

pub(crate) use adapter::AdapterSource;
pub(crate) use local::LocalSource;

/// How inventories fetch and cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InventoryConfig {
    /// Calls in flight at once over all targets (default 5).
    pub concurrency: usize,
    /// How long a listing or a group's containers stay cached (default 300 s; zero: no cache).
    pub ttl: Duration,
    /// Retries of rate-limited calls.
    pub retry: RetryPolicy,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            concurrency: 5,
            ttl: Duration::from_secs(300),
            retry: RetryPolicy::default(),
        }
    }
}

impl InventoryConfig {
    /// Calls in flight at once (at least 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The cache's TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The retry policy of rate-limited calls.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// The engine's inventory: its sources, its cache.
pub(crate) struct Inventory {
    sources: Vec<Arc<dyn InventorySource>>,
    cache: cache::InventoryCache,
    settings: fetch::FetchSettings,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("targets", &self.targets())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Inventory {
    pub(crate) fn new(config: &InventoryConfig, sources: Vec<Arc<dyn InventorySource>>) -> Self {
        Self {
            sources,
            cache: cache::InventoryCache::new(config.ttl),
            settings: fetch::FetchSettings {
                concurrency: config.concurrency.max(1),
                retry: config.retry,
            },
        }
    }

    /// The targets an inventory can ask, in order.
    pub(crate) fn targets(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.target().to_owned()).collect()
    }

    /// Refuses a malformed query (the same checks `run` makes first).
    pub(crate) fn check(&self, query: &InventoryQuery) -> Result<(), QueryError> {
        query::Matcher::new(query)?;
        self.select(query).map(|_| ())
    }

    pub(crate) async fn run(
        &self,
        query: &InventoryQuery,
        progress: Option<mpsc::UnboundedSender<Progress>>,
    ) -> Result<InventoryReport, QueryError> {
        let matcher = query::Matcher::new(query)?;
        let sources = self.select(query)?;
        Ok(fetch::Run {
            sources,
            cache: &self.cache,
            settings: &self.settings,
            matcher,
            progress,
        }
        .run()
        .await)
    }

    /// The sources a query asks.
    fn select(&self, query: &InventoryQuery) -> Result<Vec<Arc<dyn InventorySource>>, QueryError> {
        Ok(if query.targets.is_empty() {
            self.sources.clone()
        } else {
            let mut chosen = Vec::new();
            for name in &query.targets {
                let source = self.sources.iter().find(|s| s.target() == name);
                match source {
                    Some(s)
                        if !chosen
                            .iter()
                            .any(|c: &Arc<dyn InventorySource>| c.target() == name) =>
                    {
                        chosen.push(s.clone());
                    }
                    Some(_) => {}
                    None => {
                        return Err(QueryError {
                            field: "targets",
                            reason: format!(
                                "no target `{name}` with an inventory (targets: {})",
                                self.targets().join(", ")
                            ),
                        });
                    }
                }
            }
            chosen
        })
    }

    pub(crate) fn invalidate(&self, target: Option<&str>, group: Option<&str>) -> usize {
        self.cache.invalidate(target, group)
    }

    pub(crate) fn cache_size(&self) -> CacheSize {
        self.cache.size()
    }
}
