//! Targets: where containers run and where the inventory looks. `local` (the engine's Docker)
//! always exists; every other target is a cloud adapter plugin under a name the operator picks
//! (`[[targets]]` in the runner's file). Kept small and general: a name, a kind, the plugin,
//! and the operator's options for features that need more (deploy targets, inventory).

use std::collections::BTreeMap;

use serde::Serialize;
use windlass_host_api::CloudAdapter;

/// What kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// The engine's own Docker engine.
    Local,
    /// Another platform, driven by a cloud adapter plugin.
    Adapter,
}

/// A target the engine knows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Target {
    /// Its name (`local`, or the operator's).
    pub name: String,
    /// Its kind.
    pub kind: TargetKind,
    /// The adapter plugin's name (adapter targets).
    pub plugin: Option<String>,
    /// The operator's options for it (free-form; features read the keys they know).
    pub options: BTreeMap<String, String>,
    #[serde(skip)]
    adapter: Option<CloudAdapter>,
}

impl Target {
    /// The local Docker target.
    pub fn local() -> Self {
        Self {
            name: crate::inventory::LOCAL_TARGET.to_owned(),
            kind: TargetKind::Local,
            plugin: None,
            options: BTreeMap::new(),
            adapter: None,
        }
    }

    /// A target served by a loaded cloud adapter plugin.
    pub fn adapter(
        name: impl Into<String>,
        plugin: impl Into<String>,
        adapter: CloudAdapter,
    ) -> Self {
        Self {
            name: name.into(),
            kind: TargetKind::Adapter,
            plugin: Some(plugin.into()),
            options: BTreeMap::new(),
            adapter: Some(adapter),
        }
    }

    /// Sets an option.
    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    /// Replaces the options.
    pub fn with_options(mut self, options: BTreeMap<String, String>) -> Self {
        self.options = options;
        self
    }

    /// The adapter plugin (adapter targets).
    pub fn cloud_adapter(&self) -> Option<&CloudAdapter> {
        self.adapter.as_ref()
    }
}

/// The engine's targets, `local` first.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    list: Vec<Target>,
}

impl Targets {
    /// `local` and the given ones; refuses duplicates, bad names and a second `local`.
    pub(crate) fn new(extra: Vec<Target>) -> Result<Self, String> {
        let mut list = vec![Target::local()];
        for target in extra {
            crate::validate_name("target name", &target.name).map_err(|e| e.to_string())?;
            if list.iter().any(|t| t.name == target.name) {
                return Err(format!("target `{}` is defined twice", target.name));
            }
            list.push(target);
        }
        Ok(Self { list })
    }

    pub(crate) fn all(&self) -> &[Target] {
        &self.list
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Target> {
        self.list.iter().find(|t| t.name == name)
    }
}
