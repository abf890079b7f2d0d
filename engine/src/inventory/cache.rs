//! The inventory's TTL cache: per target and scope the groups listed, per target and group the
//! containers found. A query within the TTL makes no call for what is cached; entries are
//! dropped explicitly ([`InventoryCache::invalidate`]) or when they are read after expiring.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::types::{Group, SourceContainer};

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

type ListingKey = (String, Option<String>);
type GroupKey = (String, String);

#[derive(Debug, Default)]
struct Entries {
    listings: HashMap<ListingKey, (Instant, Vec<Group>)>,
    groups: HashMap<GroupKey, (Instant, Vec<SourceContainer>)>,
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

    pub(crate) fn listing(&self, target: &str, scope: Option<&str>) -> Option<Vec<Group>> {
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

    pub(crate) fn put_listing(&self, target: &str, scope: Option<&str>, groups: Vec<Group>) {
        if self.ttl.is_zero() {
            return;
        }
        let key = (target.to_owned(), scope.map(str::to_owned));
        self.lock().listings.insert(key, (Instant::now(), groups));
    }

    pub(crate) fn group(&self, target: &str, group: &str) -> Option<Vec<SourceContainer>> {
        let key = (target.to_owned(), group.to_owned());
        let mut entries = self.lock();
        match entries.groups.get(&key) {
            Some((at, containers)) if self.fresh(*at) => Some(containers.clone()),
            Some(_) => {
                entries.groups.remove(&key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put_group(&self, target: &str, group: &str, containers: Vec<SourceContainer>) {
        if self.ttl.is_zero() {
            return;
        }
        let key = (target.to_owned(), group.to_owned());
        self.lock().groups.insert(key, (Instant::now(), containers));
    }

    /// Drops what is cached for `target` (none: every target) and `group` (none: every group
    /// and the listings). Returns how many entries were dropped.
    pub(crate) fn invalidate(&self, target: Option<&str>, group: Option<&str>) -> usize {
        let mut entries = self.lock();
        let before = entries.listings.len() + entries.groups.len();
        let target_ok = |t: &String| target.is_none_or(|want| want == t);
        if group.is_none() {
            entries.listings.retain(|(t, _), _| !target_ok(t));
        }
        entries
            .groups
            .retain(|(t, g), _| !(target_ok(t) && group.is_none_or(|want| want == g)));
        before - entries.listings.len() - entries.groups.len()
    }

    pub(crate) fn size(&self) -> CacheSize {
        let entries = self.lock();
        CacheSize {
            listings: entries.listings.len(),
            groups: entries.groups.len(),
            containers: entries.groups.values().map(|(_, c)| c.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let cache = InventoryCache::new(Duration::from_secs(60));
        cache.put_group("cpln", "web", vec![SourceContainer::default()]);
        cache.put_group("cpln", "api", vec![]);
        cache.put_group("local", "web", vec![]);
        cache.put_listing("cpln", None, vec![]);
        assert!(cache.group("cpln", "web").is_some());
        assert_eq!(
            cache.size(),
            CacheSize {
                listings: 1,
                groups: 3,
                containers: 1
            }
        );
        assert_eq!(cache.invalidate(Some("cpln"), Some("web")), 1);
        assert!(cache.group("cpln", "web").is_none());
        assert!(cache.listing("cpln", None).is_some());
        assert_eq!(cache.invalidate(Some("cpln"), None), 2);
        assert_eq!(cache.size().groups, 1);
        let expired = InventoryCache::new(Duration::ZERO);
        expired.put_group("cpln", "web", vec![]);
        assert!(expired.group("cpln", "web").is_none());
    }
}
