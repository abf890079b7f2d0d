//! The plugin's configuration, as the operator wrote it (the `host.config-*` imports).
//!
//! Values are strings; parsing them is the plugin's business, and a bad value should be reported
//! as [`PluginError::invalid_config`](crate::types::PluginError::invalid_config) naming the key.
//!
//! ```
//! let currency = windlass_plugin_sdk::config::get("currency").unwrap_or_else(|| "EUR".into());
//! # assert_eq!(currency, "EUR");
//! ```
//!
//! Off wasm32 (native unit tests) there is no host: the values come from a per-thread map that
//! tests set with `set_for_tests`, empty by default.

/// Reads configuration value `key`, if the operator set it.
pub fn get(key: &str) -> Option<String> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::stack_template::windlass::plugin::host::config_get(key);
    #[cfg(not(target_arch = "wasm32"))]
    return native::get(key);
}

/// Reads the whole configuration, sorted by key.
pub fn all() -> Vec<(String, String)> {
    #[cfg(target_arch = "wasm32")]
    return crate::bindings::stack_template::windlass::plugin::host::config_all();
    #[cfg(not(target_arch = "wasm32"))]
    return native::all();
}

/// Replaces this thread's configuration (off wasm32 only, for unit tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn set_for_tests(pairs: &[(&str, &str)]) {
    native::set(pairs);
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        static CONFIG: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub(super) fn get(key: &str) -> Option<String> {
        CONFIG.with(|c| c.borrow().get(key).cloned())
    }

    pub(super) fn all() -> Vec<(String, String)> {
        CONFIG.with(|c| {
            c.borrow()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    pub(super) fn set(pairs: &[(&str, &str)]) {
        CONFIG.with(|c| {
            *c.borrow_mut() = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        });
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    #[test]
    fn native_config_is_per_test() {
        assert_eq!(super::get("a"), None);
        super::set_for_tests(&[("b", "2"), ("a", "1")]);
        assert_eq!(super::get("a").as_deref(), Some("1"));
        assert_eq!(
            super::all(),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
    }
}
