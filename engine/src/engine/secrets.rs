//! The secret store's operations: set (a new version, rolling the services that follow it),
//! list, delete (refused while in use), rotate the key; binding a service's references to
//! versions when it is applied; reading a value for injection.
//!
//! Every change is an audit event with its actor; no event, log line or error carries a value.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::json;

use super::Ctx;
use super::Engine;
use crate::secrets::{
    KeyRotation, SecretError, SecretInfo, SecretRef, SecretRestart, SecretSet, SecretUse,
    SecretVersionInfo, SecretsKey, Vault, check_value, validate_secret_name,
};
use crate::spec::{SpecError, validate_name};
use crate::store::Scope;
use crate::{DesiredService, EngineError, NewEvent, ServiceSpec};

fn vault(ctx: &Ctx) -> Result<&Vault, EngineError> {
    ctx.secrets
        .as_deref()
        .ok_or(EngineError::Secret(SecretError::NotConfigured))
}

fn not_found(org: &str, name: &str) -> EngineError {
    EngineError::NotFound {
        what: format!("secret {org}/{name}"),
    }
}

/// Decrypts one version for the engine's own use (injection, plugin config).
pub(crate) async fn read_secret(
    ctx: &Ctx,
    org: &str,
    name: &str,
    version: u64,
) -> Result<SecretString, EngineError> {
    let vault = vault(ctx)?;
    let row = ctx
        .store
        .sealed_secret(org, name, version)
        .await?
        .ok_or_else(|| EngineError::NotFound {
            what: format!("secret {org}/{name} version {version}"),
        })?;
    Ok(vault.open_row(&row)?)
}

/// The services of `org` whose spec refers to `name`, with the reference.
fn users<'a>(
    services: &'a [(DesiredService, ServiceSpec)],
    name: &'a str,
) -> impl Iterator<Item = (&'a DesiredService, &'a ServiceSpec, &'a SecretRef)> + 'a {
    services
        .iter()
        .filter_map(move |(d, s)| s.secrets.iter().find(|r| r.name == name).map(|r| (d, s, r)))
}

/// Every use of secret `name` by `services`: injected references, and build sources whose
/// credentials it is.
fn uses(services: &[(DesiredService, ServiceSpec)], name: &str) -> Vec<SecretUse> {
    let injected = users(services, name).map(|(d, _, r)| SecretUse {
        stack: d.stack.clone(),
        service: d.service.clone(),
        version: r.bound_version,
        pinned: r.version.is_some(),
        restart: r.restart,
        injection: if r.env.is_some() { "env" } else { "file" },
    });
    let clones = services
        .iter()
        .filter(|(_, s)| {
            s.build
                .as_ref()
                .and_then(|b| b.credentials.as_ref())
                .is_some_and(|c| c.secret == name)
        })
        .map(|(d, _)| SecretUse {
            stack: d.stack.clone(),
            service: d.service.clone(),
            // Read at each fetch: always the latest, and a new version rolls nothing.
            version: None,
            pinned: false,
            restart: SecretRestart::Manual,
            injection: BUILD_CREDENTIALS,
        });
    injected.chain(clones).collect()
}

/// [`SecretUse::injection`] of a build source's credentials.
const BUILD_CREDENTIALS: &str = "build-credentials";

impl Engine {
    async fn org_services(
        &self,
        org: &str,
    ) -> Result<Vec<(DesiredService, ServiceSpec)>, EngineError> {
        let desired = self
            .inner
            .ctx
            .store
            .list_desired_services(Scope::Org(org))
            .await?;
        Ok(desired
            .into_iter()
            .filter_map(|d| {
                let spec = serde_json::from_value::<ServiceSpec>(d.spec.clone()).ok()?;
                Some((d, spec))
            })
            .collect())
    }

    /// Sets a secret's value: version 1 creates it, any later call adds the next version.
    /// Services following the latest version are rolled onto it (the ordinary rolling update);
    /// those with `restart = "manual"` only record it; pinned ones are untouched. `actor` (an
    /// API token's name) is recorded with the version and in the `secret-created` or
    /// `secret-updated` event; the value never leaves the store, sealed.
    #[tracing::instrument(name = "engine.set_secret", skip(self, value), fields(engine = %self.id()))]
    pub async fn set_secret(
        &self,
        org: &str,
        name: &str,
        value: SecretString,
        actor: &str,
    ) -> Result<SecretSet, EngineError> {
        validate_name("org", org)?;
        validate_secret_name("name", name)?;
        check_value(&value)?;
        let ctx = &self.inner.ctx;
        let vault = vault(ctx)?;
        let version = {
            // Held against a key rotation: a value sealed under a key the rotation is
            // replacing would be lost with that key.
            let _shared = vault.rotation.read().await;
            let key = vault.current_key();
            ctx.store
                .insert_secret_version(org, name, key.id(), actor, ctx.now_ms(), |version| {
                    vault.seal(&key, org, name, version, &value)
                })
                .await?
        };
        drop(value);
        let kind = if version == 1 {
            "secret-created"
        } else {
            "secret-updated"
        };
        ctx.emit(
            NewEvent::new(kind)
                .with_org(org)
                .with_payload(json!({ "secret": name, "version": version, "actor": actor })),
        )
        .await;
        // Plugins granted this secret read the new version from their next call.
        self.refresh_plugin_secrets(org, name).await;

        let services = self.org_services(org).await?;
        let mut rolled = Vec::new();
        let mut recorded = Vec::new();
        let mut keep = Vec::new();
        for (desired, spec, reference) in users(&services, name) {
            let who = format!("{}/{}", desired.stack, desired.service);
            if reference.version.is_some() {
                keep.extend(reference.bound_version);
                continue;
            }
            if reference.restart == SecretRestart::Manual {
                keep.extend(reference.bound_version);
                ctx.emit(
                    NewEvent::new("secret-rotation-recorded")
                        .with_org(org)
                        .with_stack(&desired.stack)
                        .with_service(&desired.service)
                        .with_payload(json!({
                            "secret": name,
                            "version": version,
                            "running_version": reference.bound_version,
                        })),
                )
                .await;
                recorded.push(who);
                continue;
            }
            let mut next = spec.clone();
            for r in &mut next.secrets {
                if r.name == name {
                    r.bound_version = Some(version);
                }
            }
            let applied = self.store_service(org, &desired.stack, next).await?;
            ctx.emit(
                NewEvent::new("secret-rotation-started")
                    .with_org(org)
                    .with_stack(&desired.stack)
                    .with_service(&desired.service)
                    .with_payload(json!({
                        "secret": name,
                        "version": version,
                        "revision": applied.revision,
                    })),
            )
            .await;
            rolled.push(who);
        }
        // Old versions go after the retention time, unless a service still runs or pins them.
        let before = ctx.now_ms() - i64::try_from(vault.retention.as_millis()).unwrap_or(i64::MAX);
        let pruned = ctx
            .store
            .prune_secret_versions(org, name, before, &keep)
            .await?;
        if !pruned.is_empty() {
            ctx.emit(
                NewEvent::new("secret-versions-pruned")
                    .with_org(org)
                    .with_payload(json!({ "secret": name, "versions": pruned })),
            )
            .await;
        }
        Ok(SecretSet {
            org: org.to_owned(),
            name: name.to_owned(),
            version,
            rolled,
            recorded,
        })
    }

    /// The secrets of `org`: names, versions, times, users; never values.
    pub async fn secrets(&self, org: &str) -> Result<Vec<SecretInfo>, EngineError> {
        let ctx = &self.inner.ctx;
        let rows = ctx.store.list_secrets(org).await?;
        // Each value is opened (and dropped at once) so that a damaged ciphertext shows as
        // `corrupted` on its own version, and nowhere else.
        let mut corrupted = std::collections::HashSet::new();
        if let Some(vault) = ctx.secrets.as_deref() {
            for row in ctx.store.sealed_secrets(org).await? {
                if vault.open_row(&row).is_err() {
                    corrupted.insert((row.name.clone(), row.version));
                }
            }
        }
        let mut versions: BTreeMap<String, Vec<SecretVersionInfo>> = BTreeMap::new();
        for v in ctx.store.list_secret_versions(org).await? {
            let status = if corrupted.contains(&(v.name.clone(), v.version)) {
                "corrupted"
            } else {
                "ok"
            };
            versions
                .entry(v.name.clone())
                .or_default()
                .push(SecretVersionInfo {
                    version: u64::try_from(v.version).unwrap_or(0),
                    created_ms: v.created_ms,
                    created_by: v.created_by,
                    status,
                });
        }
        let services = self.org_services(org).await?;
        Ok(rows
            .into_iter()
            .map(|row| SecretInfo {
                used_by: uses(&services, &row.name),
                versions: versions.remove(&row.name).unwrap_or_default(),
                org: row.org,
                latest_version: u64::try_from(row.latest_version).unwrap_or(0),
                created_ms: row.created_ms,
                updated_ms: row.updated_ms,
                name: row.name,
            })
            .collect())
    }

    /// One secret of `org`, as listed by [`Engine::secrets`].
    pub async fn secret(&self, org: &str, name: &str) -> Result<SecretInfo, EngineError> {
        self.secrets(org)
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| not_found(org, name))
    }

    /// Deletes a secret with all its versions. Refused with [`SecretError::InUse`] (naming the
    /// services and plugins) while any service refers to it or a plugin is granted it.
    #[tracing::instrument(name = "engine.delete_secret", skip(self), fields(engine = %self.id()))]
    pub async fn delete_secret(
        &self,
        org: &str,
        name: &str,
        actor: &str,
    ) -> Result<(), EngineError> {
        let ctx = &self.inner.ctx;
        vault(ctx)?;
        let services = self.org_services(org).await?;
        let mut using: Vec<String> = uses(&services, name)
            .into_iter()
            .map(|u| match u.injection {
                BUILD_CREDENTIALS => format!("{}/{} (build credentials)", u.stack, u.service),
                _ => format!("{}/{}", u.stack, u.service),
            })
            .collect();
        using.extend(self.plugins_using(org, name));
        if !using.is_empty() {
            return Err(SecretError::InUse {
                org: org.to_owned(),
                name: name.to_owned(),
                services: using,
            }
            .into());
        }
        if !ctx.store.delete_secret(org, name).await? {
            return Err(not_found(org, name));
        }
        ctx.emit(
            NewEvent::new("secret-deleted")
                .with_org(org)
                .with_payload(json!({ "secret": name, "actor": actor })),
        )
        .await;
        Ok(())
    }

    /// Re-encrypts every stored value under a fresh key, in one transaction, and replaces the
    /// key file (the new key is written beside it first, as `<key_file>.new`, and renamed over
    /// it once the store has committed; a restart after a crash at any point finds every value
    /// under exactly one key). Only for a key file: a key from an environment variable or the
    /// embedder is rotated with [`Engine::rotate_secrets_key_to`].
    pub async fn rotate_secrets_key(&self, actor: &str) -> Result<KeyRotation, EngineError> {
        let ctx = &self.inner.ctx;
        let vault = vault(ctx)?;
        let path = vault.rotatable()?.to_owned();
        let _exclusive = vault.rotation.write().await;
        let new = SecretsKey::generate();
        let pending = crate::secrets::pending_key_path(&path);
        if pending.exists() {
            std::fs::remove_file(&pending).map_err(|e| SecretError::Key {
                origin: format!("key file {}", pending.display()),
                reason: format!("cannot remove a stale pending key: {e}"),
            })?;
        }
        crate::secrets::write_key_file(&pending, &new)?;
        let rotation = self.reseal(vault, new, actor).await;
        match &rotation {
            Ok(_) => crate::secrets::promote_pending_key(&path)?,
            Err(_) => {
                std::fs::remove_file(&pending).ok();
            }
        }
        rotation
    }

    /// Re-encrypts every stored value under `new` in one transaction. The caller must give the
    /// engine `new` on its next start (the old key no longer opens anything once this returns).
    pub async fn rotate_secrets_key_to(
        &self,
        new: SecretsKey,
        actor: &str,
    ) -> Result<KeyRotation, EngineError> {
        let vault = vault(&self.inner.ctx)?;
        let _exclusive = vault.rotation.write().await;
        self.reseal(vault, new, actor).await
    }

    async fn reseal(
        &self,
        vault: &Vault,
        new: SecretsKey,
        actor: &str,
    ) -> Result<KeyRotation, EngineError> {
        let ctx = &self.inner.ctx;
        let old_key_id = vault.current_key_id();
        let reencrypted = ctx
            .store
            .reseal_all_secrets(new.id(), |row| -> Result<Vec<u8>, EngineError> {
                let value = vault.open_row(row)?;
                let version = u64::try_from(row.version).unwrap_or(0);
                Ok(vault.seal(&new, &row.org, &row.name, version, &value))
            })
            .await?;
        let rotation = KeyRotation {
            old_key_id,
            new_key_id: new.id().to_owned(),
            reencrypted,
        };
        vault.install(new);
        ctx.emit(NewEvent::new("secrets-key-rotated").with_payload(json!({
            "old_key_id": rotation.old_key_id,
            "new_key_id": rotation.new_key_id,
            "reencrypted": rotation.reencrypted,
            "actor": actor,
        })))
        .await;
        Ok(rotation)
    }

    /// Binds each reference of `spec` to a version: the pin, the version a `manual` reference
    /// already carries, or the latest. A reference to a secret (or version) that does not exist
    /// is refused, naming it.
    pub(crate) async fn bind_secrets(
        &self,
        org: &str,
        spec: &mut ServiceSpec,
    ) -> Result<(), EngineError> {
        // Template parameters bound to secrets arrive as placeholders in env values.
        crate::secrets::bind_placeholders(spec)?;
        crate::secrets::validate_refs(&spec.secrets, &spec.env)?;
        let credentials = spec.build.as_ref().and_then(|b| b.credentials.as_ref());
        if spec.secrets.is_empty() && credentials.is_none() {
            return Ok(());
        }
        let ctx = &self.inner.ctx;
        vault(ctx)?;
        if let Some(credentials) = credentials
            && !ctx
                .store
                .list_secrets(org)
                .await?
                .iter()
                .any(|row| row.name == credentials.secret)
        {
            return Err(SpecError::new(
                "build.credentials.secret",
                format!(
                    "secret `{}` does not exist in org {org}",
                    credentials.secret
                ),
            )
            .into());
        }
        let kept: BTreeMap<String, Vec<u64>> = {
            let mut map: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for v in ctx.store.list_secret_versions(org).await? {
                map.entry(v.name)
                    .or_default()
                    .push(u64::try_from(v.version).unwrap_or(0));
            }
            map
        };
        for (i, r) in spec.secrets.iter_mut().enumerate() {
            let Some(versions) = kept.get(&r.name) else {
                return Err(SpecError::new(
                    format!("secrets[{i}].name"),
                    format!("secret `{}` does not exist in org {org}", r.name),
                )
                .into());
            };
            let latest = versions.iter().copied().max().unwrap_or(0);
            let bound = match (r.version, r.restart, r.bound_version) {
                (Some(pin), _, _) => pin,
                (None, SecretRestart::Manual, Some(kept)) if versions.contains(&kept) => kept,
                _ => latest,
            };
            if !versions.contains(&bound) {
                return Err(SpecError::new(
                    format!("secrets[{i}].version"),
                    format!(
                        "secret `{}` has no version {bound} (kept: {versions:?})",
                        r.name
                    ),
                )
                .into());
            }
            r.bound_version = Some(bound);
        }
        Ok(())
    }
}
