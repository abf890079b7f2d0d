//! Targets: where containers run and where the inventory looks. `local` (the engine's Docker)
//! always exists; every other target is a cloud adapter plugin under a name the operator picks
//! (`[[targets]]` in the runner's file). Kept small and general: a name, a kind, the plugin,
//! and the operator's options for features that need more (deploy targets, inventory).

use std::collections::BTreeMap;

use serde::Serialize;
use windlass_host_api::CloudAdapter;
use windlass_host_api::types::AdapterError;

use crate::EngineError;

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
    /// What the adapter said it is (`describe`, asked when the engine is built); none for
    /// `local` or when `describe` failed.
    pub platform: Option<String>,
    /// The adapter only reads: deploy, scale, remove and rollback are refused by the engine.
    pub read_only: bool,
    /// The adapter answers `list-groups` and `list-group-containers` (the inventory asks it).
    pub inventory: bool,
    #[serde(skip)]
    adapter: Option<CloudAdapter>,
    #[serde(skip)]
    info: Option<windlass_host_api::types::AdapterInfo>,
}

impl Target {
    /// The local Docker target.
    pub fn local() -> Self {
        Self {
            name: crate::inventory::LOCAL_TARGET.to_owned(),
            kind: TargetKind::Local,
            plugin: None,
            options: BTreeMap::new(),
            platform: Some("docker".to_owned()),
            read_only: false,
            inventory: true,
            adapter: None,
            info: None,
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
            platform: None,
            read_only: false,
            inventory: false,
            adapter: Some(adapter),
            info: None,
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

    /// The adapter's `describe` answer (adapter targets, once the engine is built).
    pub fn adapter_info(&self) -> Option<&windlass_host_api::types::AdapterInfo> {
        self.info.as_ref()
    }

    /// Asks the adapter what it is; a failing `describe` leaves the target with no
    /// capabilities (and is logged).
    pub(crate) async fn describe(&mut self) {
        let Some(adapter) = &self.adapter else {
            return;
        };
        match adapter.describe().await {
            Ok(info) => {
                self.platform = Some(info.platform.clone());
                self.read_only = info.capabilities.read_only;
                self.inventory = info.capabilities.inventory;
                self.info = Some(info);
            }
            Err(error) => {
                tracing::warn!(target = %self.name, %error, "the adapter's describe failed");
            }
        }
    }

    /// Refuses a change (deploy, scale, remove, rollback) to a read-only target, with the
    /// adapter's reason.
    pub fn check_writable(&self) -> Result<(), crate::EngineError> {
        if !self.read_only {
            return Ok(());
        }
        let (name, platform) = self.info.as_ref().map_or(("adapter", "its platform"), |i| {
            (i.name.as_str(), i.platform.as_str())
        });
        Err(crate::EngineError::ReadOnlyTarget {
            target: self.name.clone(),
            reason: format!(
                "adapter `{name}` is read-only toward {platform}: it creates and changes nothing there"
            ),
        })
    }
}

/// The engine's targets, `local` first.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    list: Vec<Target>,
}

impl Targets {
    /// `local` and the given ones; refuses duplicates, bad names and a second `local`.
    pub(crate) async fn new(extra: Vec<Target>) -> Result<Self, String> {
        let mut list = vec![Target::local()];
        for target in extra {
            crate::validate_name("target name", &target.name).map_err(|e| e.to_string())?;
            if list.iter().any(|t| t.name == target.name) {
                return Err(format!("target `{}` is defined twice", target.name));
            }
            let mut target = target;
            target.describe().await;
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

/// An adapter's answer as the engine's error: the platform unreachable or slowing us down is
/// `TargetUnavailable`, a refusal `TargetRefused`, a missing object `NotFound`, and a plugin
/// that failed (contained by the host) `AdapterFailed`.
pub(crate) fn adapter_answer<T>(
    target: &str,
    answer: Result<Result<T, AdapterError>, windlass_host_api::CallError>,
) -> Result<T, EngineError> {
    let target = target.to_owned();
    match answer {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(AdapterError::Unavailable(message))) => {
            Err(EngineError::TargetUnavailable { target, message })
        }
        Ok(Err(AdapterError::RateLimited(ms))) => Err(EngineError::TargetUnavailable {
            target,
            message: format!("the platform asks to slow down (retry after {ms} ms)"),
        }),
        Ok(Err(AdapterError::NotFound(what))) => Err(EngineError::NotFound {
            what: format!("{what} (on target `{target}`)"),
        }),
        Ok(Err(
            AdapterError::Invalid(message)
            | AdapterError::Denied(message)
            | AdapterError::QuotaExceeded(message)
            | AdapterError::Unsupported(message),
        )) => Err(EngineError::TargetRefused { target, message }),
        Err(error) => Err(EngineError::AdapterFailed {
            target,
            message: error.to_string(),
        }),
    }
}
