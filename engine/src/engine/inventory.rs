//! The inventory and the targets, as the engine exposes them.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Engine;
use crate::inventory::{
    AdapterSource, CacheSize, Inventory, InventoryConfig, InventoryQuery, InventoryReport,
    InventorySource, LocalSource, Progress, QueryError,
};
use crate::runtime::DockerRuntime;
use crate::targets::{Target, Targets};

/// The inventory's sources: `local`, then the host application's.
pub(super) fn build(
    config: &InventoryConfig,
    targets: &Targets,
    extra: Vec<Arc<dyn InventorySource>>,
    runtime: &DockerRuntime,
    engine_id: &str,
) -> Result<Inventory, String> {
    let mut sources: Vec<Arc<dyn InventorySource>> = vec![Arc::new(LocalSource::new(
        runtime.clone(),
        engine_id.to_owned(),
    ))];
    for target in targets.all() {
        if let Some(adapter) = target.cloud_adapter()
            && target.inventory
        {
            sources.push(Arc::new(AdapterSource::new(
                target.name.clone(),
                adapter.clone(),
            )));
        }
    }
    for source in extra {
        let name = source.target();
        if sources.iter().any(|s| s.target() == name) {
            return Err(format!("inventory source `{name}` is defined twice"));
        }
        if targets
            .get(name)
            .is_some_and(|t| t.name != crate::inventory::LOCAL_TARGET)
        {
            return Err(format!(
                "inventory source `{name}` has the name of a configured target"
            ));
        }
        sources.push(source);
    }
    Ok(Inventory::new(config, sources))
}

impl Engine {
    /// The containers of every target (or those `query` names) with statistics: partial
    /// results when some groups fail (their errors are in `stats.errors`), answered from the
    /// cache within its TTL. Only a malformed query fails.
    pub async fn inventory(&self, query: &InventoryQuery) -> Result<InventoryReport, QueryError> {
        self.inner.inventory.run(query, None).await
    }

    /// [`inventory`](Self::inventory), sending progress (stage, done, total) in order while it
    /// runs; the channel closes when it is done.
    pub async fn inventory_with_progress(
        &self,
        query: &InventoryQuery,
        progress: mpsc::UnboundedSender<Progress>,
    ) -> Result<InventoryReport, QueryError> {
        self.inner.inventory.run(query, Some(progress)).await
    }

    /// Refuses a malformed inventory query without running it (what `inventory` refuses).
    pub fn check_inventory_query(&self, query: &InventoryQuery) -> Result<(), QueryError> {
        self.inner.inventory.check(query)
    }

    /// Drops cached inventory for `target` (none: all) and `group` (a group's id; none: every
    /// group and the listings). Returns how many entries were dropped.
    pub fn invalidate_inventory(&self, target: Option<&str>, group: Option<&str>) -> usize {
        self.inner.inventory.invalidate(target, group)
    }

    /// How much the inventory cache holds.
    pub fn inventory_cache_size(&self) -> CacheSize {
        self.inner.inventory.cache_size()
    }

    /// The targets an inventory can ask.
    pub fn inventory_targets(&self) -> Vec<String> {
        self.inner.inventory.targets()
    }

    /// Every target, `local` first.
    pub fn targets(&self) -> &[Target] {
        self.inner.targets.all()
    }

    /// One target by name.
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.inner.targets.get(name)
    }

    /// Whether a deploy, scale, remove or rollback may go to `target`: an unknown target is
    /// `NotFound`, a read-only one is refused with the adapter's reason
    /// ([`EngineError::ReadOnlyTarget`](crate::EngineError::ReadOnlyTarget)).
    pub fn check_target_writable(&self, target: &str) -> Result<&Target, crate::EngineError> {
        let found = self
            .target(target)
            .ok_or_else(|| crate::EngineError::NotFound {
                what: format!("target {target}"),
            })?;
        found.check_writable()?;
        Ok(found)
    }
}
