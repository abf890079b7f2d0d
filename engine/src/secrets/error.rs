//! Why a secrets operation failed. No variant carries a value or key material: messages name
//! secrets, versions, key ids and files only.

use std::path::PathBuf;

/// An error of the secret store, key handling or injection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The engine was built without a secrets key.
    #[error("secrets are not configured: give the engine a key ([secrets] key_file or key_env)")]
    NotConfigured,
    /// A key could not be read, created or parsed.
    #[error("secrets key from {origin}: {reason}")]
    Key {
        /// Where the key was read from: a file or an environment variable.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store's values are sealed under another key than the one given.
    #[error(
        "wrong secrets key: the store's values are encrypted under key {stored}, but the key \
         given is {offered}; nothing was decrypted or changed (restore the right key file or \
         variable)"
    )]
    WrongKey {
        /// The id of the key the store was sealed under.
        stored: String,
        /// The ids of the keys offered (the key file and any pending rotated key).
        offered: String,
    },
    /// A stored value does not open: its ciphertext was damaged or replaced.
    #[error("secret {org}/{name} version {version} is corrupted: its ciphertext does not decrypt")]
    Corrupted {
        /// The secret's organisation.
        org: String,
        /// The secret's name.
        name: String,
        /// The version that does not open.
        version: u64,
    },
    /// A secret still used by services cannot be deleted.
    #[error("secret {org}/{name} is used by {}: remove the references first", services.join(", "))]
    InUse {
        /// The secret's organisation.
        org: String,
        /// The secret's name.
        name: String,
        /// The services using it, as `stack/service`, and the plugins granted it, as
        /// `plugin NAME`.
        services: Vec<String>,
    },
    /// A value was refused (empty or too large); the value itself is not repeated.
    #[error("invalid secret value: {0}")]
    InvalidValue(String),
    /// The key cannot be rotated by the engine (it comes from an environment variable).
    #[error("the secrets key comes from {0}: rotate it by giving the engine a new key")]
    NotRotatable(String),
    /// The directory secret files are written to is unusable (not a tmpfs, not writable).
    #[error("secrets runtime directory {}: {reason}", path.display())]
    RuntimeDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Secret files for a container could not be written.
    #[error("cannot inject secrets into {container}: {reason}")]
    Inject {
        /// The container's name.
        container: String,
        /// What failed.
        reason: String,
    },
}

impl SecretError {
    /// A stable machine-readable code, for APIs and events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "secrets-not-configured",
            Self::Key { .. } | Self::WrongKey { .. } => "secrets-key",
            Self::Corrupted { .. } => "secret-corrupted",
            Self::InUse { .. } => "secret-in-use",
            Self::InvalidValue(_) => "validation",
            Self::NotRotatable(_) => "conflict",
            Self::RuntimeDir { .. } | Self::Inject { .. } => "secret-injection",
        }
    }
}
