//! Secrets: values encrypted at rest per organisation, injected into containers as tmpfs
//! files or environment variables, rotated through the ordinary rolling update.
//!
//! This module owns the key ring (which key seals new values, which keys still open old ones),
//! sealing and opening, the references a service makes ([`SecretRef`]) and writing secret files
//! onto a host tmpfs that a container gets read-only at `/run/secrets`. The SQL is the store's
//! (`store::secrets`); the operations an embedder calls are on [`Engine`](crate::Engine)
//! (`engine/secrets.rs`). Values are [`SecretString`]s from the moment they arrive: they are
//! never formatted, logged, put in an event or an error.

mod crypto;
mod error;
pub(crate) mod inject;
mod key;
mod param;
mod reference;
mod uses;

use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;

pub use error::SecretError;
pub use key::SecretsKey;
pub(crate) use key::{
    pending_path as pending_key_path, promote_pending as promote_pending_key, write_key_file,
};
pub(crate) use reference::validate_refs;
pub use reference::{
    MAX_SECRET_NAME_LEN, SECRETS_MOUNT, SecretRef, SecretRestart, validate_secret_name,
};

pub(crate) use param::bind_placeholders;
pub use param::{param_placeholder, placeholder_secret};
pub use secrecy;
pub use uses::{PluginSecret, SecretValue};

use crate::store::Store;
use crate::store::secrets::{KEY_ID_META, SealedRow};

/// The largest accepted value.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// How long versions that are no longer the latest are kept by default (30 days).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where the key comes from.
#[derive(Debug, Clone)]
enum KeySource {
    /// A key file, created (mode 0600) when absent; the engine can rotate it.
    File(PathBuf),
    /// An environment variable holding 64 hex digits.
    Env(String),
    /// A key the embedder holds.
    Given(SecretsKey),
}

/// How an engine keeps secrets: the key, where secret files are written, how long old versions
/// are kept. Give it to [`EngineBuilder::with_secrets`](crate::EngineBuilder::with_secrets).
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    key: KeySource,
    runtime_dir: Option<PathBuf>,
    retention: Duration,
}

impl SecretsConfig {
    /// The key is in `path` (64 hex digits), created with mode 0600 on first start when absent
    /// and refused when its group or others may read it.
    pub fn key_file(path: impl Into<PathBuf>) -> Self {
        Self::with_source(KeySource::File(path.into()))
    }

    /// The key is in the environment variable `var` (64 hex digits).
    pub fn key_env(var: impl Into<String>) -> Self {
        Self::with_source(KeySource::Env(var.into()))
    }

    /// The key is `key`.
    pub fn key(key: SecretsKey) -> Self {
        Self::with_source(KeySource::Given(key))
    }

    fn with_source(key: KeySource) -> Self {
        SecretsConfig {
            key,
            runtime_dir: None,
            retention: DEFAULT_RETENTION,
        }
    }

    /// The host directory (on a tmpfs) under which each container's secret files are written.
    /// Default: `/run/windlass/<engine id>/secrets` when `/run` is a tmpfs, else
    /// `/dev/shm/windlass-<engine id>-secrets`.
    pub fn with_runtime_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.runtime_dir = Some(dir.into());
        self
    }

    /// How long a version that is no longer the latest is kept (default 30 days). Versions a
    /// service pins or runs are kept regardless.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }
}

/// One secret as listed: names, versions, times and users, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SecretInfo {
    /// The organisation.
    pub org: String,
    /// The secret's name.
    pub name: String,
    /// The newest version.
    pub latest_version: u64,
    /// When the secret was created, ms since the Unix epoch.
    pub created_ms: i64,
    /// When its latest version was set.
    pub updated_ms: i64,
    /// The kept versions, oldest first.
    pub versions: Vec<SecretVersionInfo>,
    /// The services referring to it.
    pub used_by: Vec<SecretUse>,
}

/// One kept version of a secret (without its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SecretVersionInfo {
    /// The version number, from 1.
    pub version: u64,
    /// When it was set.
    pub created_ms: i64,
    /// Who set it (the API token's name, or `engine`).
    pub created_by: String,
    /// `ok`, or `corrupted` when its ciphertext does not decrypt (checked at every listing;
    /// other secrets are unaffected).
    pub status: &'static str,
}

/// A service's use of a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SecretUse {
    /// The service's stack.
    pub stack: String,
    /// The service.
    pub service: String,
    /// The version it runs.
    pub version: Option<u64>,
    /// Whether that version is pinned.
    pub pinned: bool,
    /// What a new version does to it.
    pub restart: SecretRestart,
    /// `file` or `env`, or `build-credentials` for a build source's credentials (read at each
    /// fetch, always the latest version: `version` is none and a new version rolls nothing).
    pub injection: &'static str,
}

/// The result of setting a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct SecretSet {
    /// The organisation.
    pub org: String,
    /// The secret.
    pub name: String,
    /// The version just created.
    pub version: u64,
    /// Services rolled onto it, as `stack/service`.
    pub rolled: Vec<String>,
    /// Services that only recorded it (`restart = "manual"`), as `stack/service`.
    pub recorded: Vec<String>,
}

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct KeyRotation {
    /// The id of the key values were sealed under.
    pub old_key_id: String,
    /// The id of the key they are sealed under now.
    pub new_key_id: String,
    /// How many stored versions were re-encrypted.
    pub reencrypted: usize,
}

struct Ring {
    current: SecretsKey,
    /// Keys that still open values (the one before a rotation, until the process ends).
    previous: Vec<SecretsKey>,
}

/// The engine's key ring and secrets settings.
pub(crate) struct Vault {
    ring: RwLock<Ring>,
    /// The key file, when the key comes from one (the engine can then rotate it).
    key_file: Option<PathBuf>,
    source: String,
    /// Held shared by setters and exclusively by a key rotation.
    pub(crate) rotation: tokio::sync::RwLock<()>,
    pub(crate) runtime_dir: PathBuf,
    pub(crate) retention: Duration,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.current_key_id())
            .field("source", &self.source)
            .field("runtime_dir", &self.runtime_dir)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Loads the key, checks it against the store (and finishes a rotation that committed
    /// before the process died), and prepares the runtime directory.
    pub(crate) async fn open(
        config: SecretsConfig,
        store: &Store,
        engine_id: &str,
    ) -> Result<Vault, crate::EngineError> {
        let (candidates, key_file, source) = match config.key {
            KeySource::File(path) => {
                let mut keys = vec![SecretsKey::load_or_create(&path)?];
                if let Some(pending) = key::read_key_file(&key::pending_path(&path))? {
                    keys.push(pending);
                }
                let source = format!("key file {}", path.display());
                (keys, Some(path), source)
            }
            KeySource::Env(var) => (
                vec![SecretsKey::from_env(&var)?],
                None,
                format!("environment variable {var}"),
            ),
            KeySource::Given(key) => (vec![key], None, "the embedding application".to_owned()),
        };
        let current = choose_key(store, candidates, key_file.as_deref()).await?;
        let runtime_dir = match config.runtime_dir {
            Some(dir) => dir,
            None => default_runtime_dir(engine_id),
        };
        inject::prepare_runtime_dir(&runtime_dir)?;
        tracing::info!(key_id = %current.id(), %source, runtime_dir = %runtime_dir.display(), "secrets ready");
        Ok(Vault {
            ring: RwLock::new(Ring {
                current,
                previous: Vec::new(),
            }),
            key_file,
            source,
            rotation: tokio::sync::RwLock::new(()),
            runtime_dir,
            retention: config.retention,
        })
    }

    pub(crate) fn current_key_id(&self) -> String {
        self.ring
            .read()
            .map(|r| r.current.id().to_owned())
            .unwrap_or_default()
    }

    pub(crate) fn current_key(&self) -> SecretsKey {
        match self.ring.read() {
            Ok(ring) => ring.current.clone(),
            Err(poisoned) => poisoned.into_inner().current.clone(),
        }
    }

    /// Seals `value` for `org/name/version` under the current key.
    pub(crate) fn seal(
        &self,
        key: &SecretsKey,
        org: &str,
        name: &str,
        version: u64,
        value: &SecretString,
    ) -> Vec<u8> {
        crypto::seal(key, org, name, version, value)
    }

    /// Opens a stored version with the key it names.
    pub(crate) fn open_row(&self, row: &SealedRow) -> Result<SecretString, SecretError> {
        let version = u64::try_from(row.version).unwrap_or(0);
        let corrupted = || SecretError::Corrupted {
            org: row.org.clone(),
            name: row.name.clone(),
            version,
        };
        let ring = match self.ring.read() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        };
        let key = std::iter::once(&ring.current)
            .chain(ring.previous.iter())
            .find(|k| k.id() == row.key_id)
            .ok_or_else(corrupted)?;
        crypto::open(key, &row.org, &row.name, version, &row.ciphertext).ok_or_else(corrupted)
    }

    /// Makes `new` the current key; the old one keeps opening values read meanwhile.
    pub(crate) fn install(&self, new: SecretsKey) {
        let mut ring = match self.ring.write() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        };
        let old = std::mem::replace(&mut ring.current, new);
        ring.previous.push(old);
    }

    /// The key file, when the engine may rotate the key itself.
    pub(crate) fn rotatable(&self) -> Result<&Path, SecretError> {
        self.key_file
            .as_deref()
            .ok_or_else(|| SecretError::NotRotatable(self.source.clone()))
    }
}

/// Picks, among the offered keys, the one the store's values are sealed under.
async fn choose_key(
    store: &Store,
    mut candidates: Vec<SecretsKey>,
    key_file: Option<&Path>,
) -> Result<SecretsKey, crate::EngineError> {
    let first = candidates[0].id().to_owned();
    let stored = store.get_or_insert_meta(KEY_ID_META, &first).await?;
    if let Some(at) = candidates.iter().position(|k| k.id() == stored) {
        let key = candidates.swap_remove(at);
        if let Some(path) = key_file {
            let pending = key::pending_path(path);
            if at == 1 {
                // The rotation committed, then the process died before renaming the file.
                key::promote_pending(path)?;
                tracing::warn!(key_id = %key.id(), "finished a key rotation interrupted after its commit");
            } else if pending.exists() {
                // The rotation never committed: its key sealed nothing.
                std::fs::remove_file(&pending).ok();
                tracing::warn!("discarded the key of a key rotation that did not commit");
            }
        }
        return Ok(key);
    }
    if store.count_secret_versions().await? == 0 {
        // Nothing is sealed under the recorded key: adopt the new one, losing nothing.
        store.set_meta(KEY_ID_META, &first).await?;
        return Ok(candidates.swap_remove(0));
    }
    Err(SecretError::WrongKey {
        stored,
        offered: candidates
            .iter()
            .map(|k| k.id().to_owned())
            .collect::<Vec<_>>()
            .join(", "),
    }
    .into())
}

fn default_runtime_dir(engine_id: &str) -> PathBuf {
    if inject::is_tmpfs(Path::new("/run")) {
        PathBuf::from(format!("/run/windlass/{engine_id}/secrets"))
    } else {
        PathBuf::from(format!("/dev/shm/windlass-{engine_id}-secrets"))
    }
}

/// Checks a value before it is sealed (never repeating it).
pub(crate) fn check_value(value: &SecretString) -> Result<(), SecretError> {
    use secrecy::ExposeSecret;
    let len = value.expose_secret().len();
    if len == 0 {
        return Err(SecretError::InvalidValue("the value is empty".into()));
    }
    if len > MAX_VALUE_BYTES {
        return Err(SecretError::InvalidValue(format!(
            "the value is {len} bytes; at most {MAX_VALUE_BYTES}"
        )));
    }
    Ok(())
}
