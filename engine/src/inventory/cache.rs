//! The inventory's TTL cache: per target and scope the groups listed, per target and group the
//! containers found — already judged and keyed for sorting, behind an `Arc`, so a query within
//! the TTL neither calls a source nor copies what it only filters and sorts. Entries are
//! dropped explicitly ([`InventoryCache::invalidate`]) or when they are read after expiring.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::types::{Group, InventoryContainer};

/// How big the cache is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CacheSize {
    /// Cached group listings (one per target and scope).
    pub listings: usize,
    /// Cached groups' container lists (one per target and group).
    pub groups: usize,
    /// Containers held over all cached groups.
    pub containers: usize,
}

/// A container as a run keeps it: judged, with the key it sorts (and pages) by.
#[derive(Debug)]
pub(crate) struct Keyed {
    pub key: String,
    pub container: InventoryContainer,
}

impl Keyed {
    pub(crate) fn new(container: InventoryContainer) -> Self {
        Keyed {
            key: container.sort_key(),
            container,
        }
    }
}

/// One group's containers, shared between the cache and the runs that read them.
pub(crate) type Found = Arc<[Keyed]>;

type ListingKey = (String, Option<String>);

#[derive(Debug, Default)]
struct Entries {
    listings: HashMap<ListingKey, (Instant, Arc<[Group]>)>,
    /// Target → group id → containers: looked up by `&str`, without building a key.
    groups: HashMap<String, HashMap<String, (Instant, Found)>>,
}

/// The cache; shared by every query of an engine.
#[derive(Debug)]
pub(crate) struct InventoryCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl InventoryCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }

    pub(crate) fn listing(&self, target: &str, scope: Option<&str>) -> Option<Arc<[Group]>> {
        let key = (target.to_owned(), scope.map(str::to_owned));
        let mut entries = self.lock();
        match entries.listings.get(&key) {
            Some((at, groups)) if self.fresh(*at) => Some(groups.clone()),
            Some(_) => {
                entries.listings.remove(&key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put_listing(&self, target: &str, scope: Option<&str>, groups: Arc<[Group]>) {
        if self.ttl.is_zero() {
            return;
        }
        let key = (target.to_owned(), scope.map(str::to_owned));
        self.lock().listings.insert(key, (Instant::now(), groups));
    }

    /// The fresh cached containers of each of `groups` (in order; none where not cached), under
    /// one lock.
    pub(crate) fn groups<'g>(
        &self,
        target: &str,
        groups: impl IntoIterator<Item = &'g Group>,
    ) -> Vec<Option<Found>> {
        let mut entries = self.lock();
        let Some(cached) = entries.groups.get_mut(target) else {
            return groups.into_iter().map(|_| None).collect();
        };
        groups
            .into_iter()
            .map(|group| match cached.get(&group.id) {
                Some((at, found)) if self.fresh(*at) => Some(found.clone()),
                Some(_) => {
                    cached.remove(&group.id);
                    None
                }
                None => None,
            })
            .collect()
    }

    pub(crate) fn put_group(&self, target: &str, group: &str, found: Found) {
        if self.ttl.is_zero() {
            return;
        }
        self.lock()
            .groups
            .entry(target.to_owned())
            .or_default()
            .insert(group.to_owned(), (Instant::now(), found));
    }

    /// Drops what is cached for `target` (none: every target) and `group` (none: every group
    /// and the listings). Returns how many entries were dropped.
    pub(crate) fn invalidate(&self, target: Option<&str>, group: Option<&str>) -> usize {
        let mut entries = self.lock();
        let target_ok = |t: &String| target.is_none_or(|want| want == t);
        let mut dropped = 0;
        if group.is_none() {
            let before = entries.listings.len();
            entries.listings.retain(|(t, _), _| !target_ok(t));
            dropped += before - entries.listings.len();
        }
        for (_, cached) in entries.groups.iter_mut().filter(|(t, _)| target_ok(t)) {
            let before = cached.len();
            match group {
                Some(g) => {
                    cached.remove(g);
                }
                None => cached.clear(),
            }
            dropped += before - cached.len();
        }
        entries.groups.retain(|_, cached| !cached.is_empty());
        dropped
    }

    pub(crate) fn size(&self) -> CacheSize {
        let entries = self.lock();
        let groups = entries.groups.values().flat_map(|g| g.values());
        CacheSize {
            listings: entries.listings.len(),
            groups: entries.groups.values().map(HashMap::len).sum(),
            containers: groups.map(|(_, found)| found.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::types::SourceContainer;

    fn group(id: &str) -> Group {
        Group {
            id: id.to_owned(),
            name: id.to_owned(),
            scope: "prod".to_owned(),
            kind: "standard".to_owned(),
            suspended: false,
        }
    }

    fn found(g: &Group, n: usize) -> Found {
        (0..n)
            .map(|_| {
                Keyed::new(InventoryContainer::from_source(
                    "cpln",
                    g,
                    SourceContainer::default(),
                ))
            })
            .collect()
    }

    fn cached(cache: &InventoryCache, target: &str, g: &Group) -> bool {
        cache.groups(target, [g])[0].is_some()
    }

    #[test]
    fn entries_expire_and_invalidate() {
        let cache = InventoryCache::new(Duration::from_secs(60));
        let (web, api) = (group("web"), group("api"));
        cache.put_group("cpln", "web", found(&web, 1));
        cache.put_group("cpln", "api", found(&api, 0));
        cache.put_group("local", "web", found(&web, 0));
        cache.put_listing("cpln", None, Arc::from(vec![web.clone()]));
        assert!(cached(&cache, "cpln", &web));
        assert!(!cached(&cache, "elsewhere", &web));
        assert_eq!(
            cache.size(),
            CacheSize {
                listings: 1,
                groups: 3,
                containers: 1
            }
        );
        assert_eq!(cache.invalidate(Some("cpln"), Some("web")), 1);
        assert!(!cached(&cache, "cpln", &web));
        assert!(cache.listing("cpln", None).is_some());
        assert_eq!(cache.invalidate(Some("cpln"), None), 2);
        assert_eq!(cache.size().groups, 1);
        assert_eq!(cache.invalidate(None, None), 1);
        assert_eq!(cache.size(), CacheSize::default());
        let expired = InventoryCache::new(Duration::ZERO);
        expired.put_group("cpln", "web", found(&web, 0));
        assert!(!cached(&expired, "cpln", &web));
    }
}
