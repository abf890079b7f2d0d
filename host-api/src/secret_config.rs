//! Configuration values that are secrets: filled (and replaced when the secret is rotated) by
//! whoever resolves them — the engine, from its secret store — and read by the plugin through
//! `config-get` / `config-all` on its next call.
//!
//! The host never learns where a value comes from and never formats one: the `Debug` of a
//! [`SecretConfig`] shows its keys only, and values live as [`SecretString`]s (wiped on drop)
//! until the one call that copies them into the guest.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};

/// The secret configuration values of one plugin: a handle shared by every clone, so the
/// resolver can keep updating the values of a loaded plugin. Keys are disjoint from the
/// plugin's plain `config` (a key in both answers the secret).
#[derive(Clone, Default)]
pub struct SecretConfig {
    values: Arc<RwLock<BTreeMap<String, SecretString>>>,
}

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.keys().into_iter().map(|k| (k, "***")))
            .finish()
    }
}

impl PartialEq for SecretConfig {
    /// Two handles are equal when they share their values.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.values, &other.values)
    }
}

impl Eq for SecretConfig {}

impl SecretConfig {
    /// An empty set of values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) the value of `key`; the plugin's next call sees it.
    pub fn set(&self, key: impl Into<String>, value: SecretString) {
        self.write().insert(key.into(), value);
    }

    /// Removes `key`: `config-get` answers none for it from the next call on.
    pub fn remove(&self, key: &str) {
        self.write().remove(key);
    }

    /// The keys that have a value.
    pub fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Whether `key` has a value.
    pub fn contains(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }

    /// The value of `key`, copied out for the guest.
    pub(crate) fn expose(&self, key: &str) -> Option<String> {
        self.read().get(key).map(|v| v.expose_secret().to_owned())
    }

    /// Every value, copied out for the guest.
    pub(crate) fn expose_all(&self) -> Vec<(String, String)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, SecretString>> {
        self.values.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, SecretString>> {
        self.values.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_values_and_debug_shows_keys_only() {
        let config = SecretConfig::new();
        let clone = config.clone();
        config.set("token", SecretString::from("s3cret-value"));
        assert_eq!(clone.expose("token").as_deref(), Some("s3cret-value"));
        let shown = format!("{clone:?}");
        assert!(
            shown.contains("token") && !shown.contains("s3cret"),
            "{shown}"
        );
        clone.set("token", SecretString::from("rotated"));
        assert_eq!(
            config.expose_all(),
            vec![("token".into(), "rotated".into())]
        );
        config.remove("token");
        assert!(!clone.contains("token"));
    }
}
