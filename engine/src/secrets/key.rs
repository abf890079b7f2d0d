//! The key that encrypts secret values at rest: where it comes from (a key file created on
//! first start with mode 0600, or an environment variable), how it is identified, and the file
//! dance of a key rotation (`<key_file>.new` until the store has committed under it).
//!
//! Key material lives in a [`SecretBox`]: no `Debug`, wiped on drop. Only the key id (a hash of
//! the key, safe to log and store) ever leaves this module.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use super::SecretError;

/// The key length of XChaCha20-Poly1305.
pub(crate) const KEY_LEN: usize = 32;

/// A 256-bit key for secret values. No `Debug` of the material: its [`SecretsKey::id`] stands
/// for it.
#[derive(Clone)]
pub struct SecretsKey {
    material: std::sync::Arc<SecretBox<[u8; KEY_LEN]>>,
    id: String,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretsKey {
    /// A fresh random key.
    pub fn generate() -> SecretsKey {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        SecretsKey::from_boxed(bytes)
    }

    fn from_boxed(bytes: Box<[u8; KEY_LEN]>) -> SecretsKey {
        let id = key_id(bytes.as_ref());
        SecretsKey {
            material: std::sync::Arc::new(SecretBox::new(bytes)),
            id,
        }
    }

    /// Parses a key written as 64 hexadecimal digits (surrounding whitespace ignored), the form
    /// of a key file and of the environment variable. `origin` names where the text came from
    /// for the error (never the text itself).
    pub fn from_hex(text: &str, origin: &str) -> Result<SecretsKey, SecretError> {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        let trimmed = text.trim();
        if trimmed.len() != KEY_LEN * 2 || hex::decode_to_slice(trimmed, bytes.as_mut()).is_err() {
            bytes.zeroize();
            return Err(SecretError::Key {
                origin: origin.to_owned(),
                reason: format!("a key is {} hexadecimal digits", KEY_LEN * 2),
            });
        }
        Ok(SecretsKey::from_boxed(bytes))
    }

    /// Reads the key from the environment variable `var`; a missing or malformed value is an
    /// error naming the variable.
    pub fn from_env(var: &str) -> Result<SecretsKey, SecretError> {
        let origin = format!("environment variable {var}");
        let mut text = std::env::var(var).map_err(|_| SecretError::Key {
            origin: origin.clone(),
            reason: "not set (or not UTF-8)".into(),
        })?;
        let key = SecretsKey::from_hex(&text, &origin);
        text.zeroize();
        key
    }

    /// Reads the key file at `path`, creating it with a fresh key (mode 0600) when it does not
    /// exist. A file that its group or others can read or write is refused.
    pub fn load_or_create(path: &Path) -> Result<SecretsKey, SecretError> {
        match read_key_file(path)? {
            Some(key) => Ok(key),
            None => {
                let key = SecretsKey::generate();
                write_key_file(path, &key)?;
                tracing::info!(path = %path.display(), key_id = %key.id, "created a secrets key file");
                Ok(key)
            }
        }
    }

    /// A short stable name of the key: the first 16 hex digits of a SHA-256 over it. Stored
    /// beside each ciphertext so a reader knows which key to use, and safe to show.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        self.material.expose_secret()
    }

    fn to_hex(&self) -> String {
        hex::encode(self.bytes())
    }
}

fn key_id(bytes: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"windlass-secrets-key-id\0")
        .chain_update(bytes)
        .finalize();
    hex::encode(&digest[..8])
}

fn origin(path: &Path) -> String {
    format!("key file {}", path.display())
}

/// The key in `path`, or `None` when there is no such file.
pub(crate) fn read_key_file(path: &Path) -> Result<Option<SecretsKey>, SecretError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SecretError::Key {
                origin: origin(path),
                reason: e.to_string(),
            });
        }
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Key {
            origin: origin(path),
            reason: format!(
                "mode {mode:04o} lets others read it: allow only its owner (chmod 600 {})",
                path.display()
            ),
        });
    }
    let mut text = std::fs::read_to_string(path).map_err(|e| SecretError::Key {
        origin: origin(path),
        reason: e.to_string(),
    })?;
    let key = SecretsKey::from_hex(&text, &origin(path));
    text.zeroize();
    key.map(Some)
}

/// Writes `key` to a new file at `path` with mode 0600 (refusing to replace one), synced.
pub(crate) fn write_key_file(path: &Path, key: &SecretsKey) -> Result<(), SecretError> {
    let fail = |e: std::io::Error| SecretError::Key {
        origin: origin(path),
        reason: format!("cannot write it: {e}"),
    };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    let mut text = key.to_hex();
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    text.zeroize();
    written.map_err(fail)?;
    sync_dir(path);
    Ok(())
}

/// Where a rotation writes the next key before the store has committed under it.
pub(crate) fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Makes the pending key the key file (an atomic rename).
pub(crate) fn promote_pending(path: &Path) -> Result<(), SecretError> {
    std::fs::rename(pending_path(path), path).map_err(|e| SecretError::Key {
        origin: origin(path),
        reason: format!("cannot replace it with the rotated key: {e}"),
    })?;
    sync_dir(path);
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        dir.sync_all().ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keys/secrets.key");
        let key = SecretsKey::load_or_create(&path).expect("create");
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let again = SecretsKey::load_or_create(&path).expect("read");
        assert_eq!(again.id(), key.id());
        assert_eq!(again.bytes(), key.bytes());
    }

    #[test]
    fn a_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.key");
        SecretsKey::load_or_create(&path).expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = SecretsKey::load_or_create(&path).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("0644") && message.contains("secrets.key"),
            "{message}"
        );
    }

    #[test]
    fn a_malformed_key_names_its_origin_not_its_text() {
        let error = SecretsKey::from_hex("not-a-key-at-all", "environment variable K")
            .expect_err("malformed");
        let message = error.to_string();
        assert!(message.contains("environment variable K"), "{message}");
        assert!(!message.contains("not-a-key-at-all"), "{message}");
        let debug = format!("{:?}", SecretsKey::generate());
        assert!(
            debug.contains("id") && !debug.contains("material"),
            "{debug}"
        );
    }
}
