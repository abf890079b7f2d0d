//! Secrets the engine reads for its own use rather than for a container: a plugin's granted
//! config values (kept current across rotations) and [`Engine::secret_value`] for builds,
//! adapters and embedders. Every read is a `secret-read` audit event naming its purpose.

use serde_json::json;
use windlass_host_api::SecretConfig;

use super::Engine;
use crate::secrets::{PluginSecret, SecretError, SecretValue, validate_secret_name};
use crate::spec::validate_name;
use crate::{EngineError, NewEvent};

/// One plugin's granted secrets and the handle its calls read them from.
pub(crate) struct PluginGrant {
    plugin: String,
    secrets: Vec<PluginSecret>,
    values: SecretConfig,
}

impl Engine {
    /// Reads the latest version of `org/name` for the engine's own use — a build's clone
    /// credentials, a webhook's signing secret, an adapter's token — or an embedder's.
    /// `purpose` (e.g. `build-clone`, `adapter-token`) is recorded in the `secret-read` audit
    /// event with the version; the value is in no event, log line or error. Hold the value as
    /// briefly as the use allows.
    pub async fn secret_value(
        &self,
        org: &str,
        name: &str,
        purpose: &str,
    ) -> Result<SecretValue, EngineError> {
        self.read_latest(org, name, json!({ "purpose": purpose }))
            .await
    }

    async fn read_latest(
        &self,
        org: &str,
        name: &str,
        mut audit: serde_json::Value,
    ) -> Result<SecretValue, EngineError> {
        validate_name("org", org)?;
        validate_secret_name("name", name)?;
        let ctx = &self.inner.ctx;
        if ctx.secrets.is_none() {
            return Err(SecretError::NotConfigured.into());
        }
        let version = ctx
            .store
            .list_secrets(org)
            .await?
            .into_iter()
            .find(|row| row.name == name)
            .and_then(|row| u64::try_from(row.latest_version).ok())
            .ok_or_else(|| EngineError::NotFound {
                what: format!("secret {org}/{name}"),
            })?;
        let value = super::read_secret(ctx, org, name, version).await?;
        if let Some(fields) = audit.as_object_mut() {
            fields.insert("secret".into(), name.into());
            fields.insert("version".into(), version.into());
            fields.insert("actor".into(), "engine".into());
        }
        ctx.emit(
            NewEvent::new("secret-read")
                .with_org(org)
                .with_payload(audit),
        )
        .await;
        Ok(SecretValue { version, value })
    }

    /// Gives the plugin `plugin` the values of the secrets the operator granted it: each
    /// [`PluginSecret`]'s latest version is set in `values` under its key (the handle the
    /// plugin was loaded with, [`PluginSpec::secret_config`](windlass_host_api::PluginSpec)),
    /// now and again whenever the secret is set, so the plugin's next call sees a new version.
    /// A secret that does not exist yet (or does not open) leaves its key unset — the plugin
    /// reads none — and is reported as a `plugin-secret-unavailable` event; setting it later
    /// fills it. While granted, deleting the secret is refused (409, naming the plugin).
    ///
    /// Call it once per plugin; a second call for the same plugin replaces the first.
    pub async fn grant_plugin_secrets(
        &self,
        plugin: &str,
        secrets: Vec<PluginSecret>,
        values: SecretConfig,
    ) -> Result<(), EngineError> {
        for secret in &secrets {
            validate_name("org", &secret.org)?;
            validate_secret_name("name", &secret.name)?;
        }
        let grant = PluginGrant {
            plugin: plugin.to_owned(),
            secrets,
            values,
        };
        for secret in &grant.secrets {
            self.fill(&grant, secret).await;
        }
        let mut grants = self.plugin_grants();
        grants.retain(|g| g.plugin != plugin);
        grants.push(grant);
        Ok(())
    }

    fn plugin_grants(&self) -> std::sync::MutexGuard<'_, Vec<PluginGrant>> {
        self.inner
            .plugin_secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Refreshes every plugin value that reads `org/name` (after a new version was set).
    pub(crate) async fn refresh_plugin_secrets(&self, org: &str, name: &str) {
        let affected: Vec<(String, PluginSecret, SecretConfig)> = self
            .plugin_grants()
            .iter()
            .flat_map(|g| {
                g.secrets
                    .iter()
                    .filter(|s| s.org == org && s.name == name)
                    .map(|s| (g.plugin.clone(), s.clone(), g.values.clone()))
            })
            .collect();
        for (plugin, secret, values) in affected {
            let grant = PluginGrant {
                plugin,
                secrets: Vec::new(),
                values,
            };
            self.fill(&grant, &secret).await;
        }
    }

    /// The plugins granted `org/name`, for refusing its deletion.
    pub(crate) fn plugins_using(&self, org: &str, name: &str) -> Vec<String> {
        self.plugin_grants()
            .iter()
            .filter(|g| g.secrets.iter().any(|s| s.org == org && s.name == name))
            .map(|g| format!("plugin {}", g.plugin))
            .collect()
    }

    async fn fill(&self, grant: &PluginGrant, secret: &PluginSecret) {
        let audit = json!({
            "purpose": "plugin-config",
            "plugin": grant.plugin,
            "key": secret.key,
        });
        match self.read_latest(&secret.org, &secret.name, audit).await {
            Ok(read) => grant.values.set(&secret.key, read.value),
            Err(error) => {
                grant.values.remove(&secret.key);
                tracing::warn!(plugin = %grant.plugin, key = %secret.key, org = %secret.org, secret = %secret.name, %error, "a plugin's granted secret is unavailable");
                self.inner
                    .ctx
                    .emit(
                        NewEvent::new("plugin-secret-unavailable")
                            .with_org(&secret.org)
                            .with_payload(json!({
                                "plugin": grant.plugin,
                                "key": secret.key,
                                "secret": secret.name,
                                "reason": error.to_string(),
                            })),
                    )
                    .await;
            }
        }
    }
}
