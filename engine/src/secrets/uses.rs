//! The engine's own uses of secrets, beyond injection into containers: a plugin's config
//! values ([`PluginSecret`]), and values that other parts of the engine or an embedder read
//! ([`SecretValue`]: a build's clone credentials, an adapter's token).

use secrecy::SecretString;

/// One value of a plugin's config that is a secret: the key the plugin reads with
/// `config-get`, and the secret (`org/name`) the operator granted to the plugin. Always the
/// latest version: a new version reaches the plugin's next call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSecret {
    /// The config key the plugin reads.
    pub key: String,
    /// The organisation owning the secret.
    pub org: String,
    /// The secret's name.
    pub name: String,
}

impl PluginSecret {
    /// `key` reads the latest version of `org/name`.
    pub fn new(key: impl Into<String>, org: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            org: org.into(),
            name: name.into(),
        }
    }
}

/// A value read with [`Engine::secret_value`](crate::Engine::secret_value). Its `Debug` shows
/// the version, never the value.
pub struct SecretValue {
    /// The version read (the latest).
    pub version: u64,
    /// The value; expose it (`secrecy::ExposeSecret`) only at the call that needs it.
    pub value: SecretString,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValue")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
