//! How a service refers to a secret: [`SecretRef`], part of a [`ServiceSpec`](crate::ServiceSpec).
//!
//! A reference names a secret of the service's org and says how it is injected: as the file
//! `/run/secrets/NAME` (the default) or as an environment variable. The version the service
//! runs is fixed when the service is applied (the pin, or the latest) and kept in
//! [`SecretRef::bound_version`]: it is part of the stored spec, so a rotation that rebinds it
//! is a new revision rolled out by the ordinary rolling update, and a restart of a replica
//! never silently picks up a newer value.

use serde::{Deserialize, Serialize};

use crate::spec::SpecError;

/// The directory file secrets appear in inside a container.
pub const SECRETS_MOUNT: &str = "/run/secrets";

/// The longest secret name.
pub const MAX_SECRET_NAME_LEN: usize = 64;

/// A service's use of one secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's name in the service's org.
    pub name: String,
    /// Inject as this environment variable instead of the file `/run/secrets/NAME`. Visible to
    /// whoever can inspect the container (`docker inspect`); prefer files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// With `env`: the variable's value around the secret, the secret's placeholder
    /// ([`param_placeholder`](crate::secrets::param_placeholder)) standing for the value, e.g.
    /// `postgres://app:__windlass_secret_…__@db/app`. Set by the engine when a template's
    /// secret parameter bound to a secret is part of a longer value; without it the variable
    /// is the value alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_template: Option<String>,
    /// Pin a version; without it the service follows the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// What a new version of the secret does to the service: roll it (`auto`, the default) or
    /// only record it until the service is next applied (`manual`).
    #[serde(default, skip_serializing_if = "SecretRestart::is_auto")]
    pub restart: SecretRestart,
    /// The version the service runs, set by the engine when the service is applied or the
    /// secret rotated. Whatever a caller sends here is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_version: Option<u64>,
}

/// What a new version of a secret does to a service using it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SecretRestart {
    /// Roll the service onto the new version (start-first, health-gated, rolled back on failure).
    #[default]
    Auto,
    /// Record the new version only; the service moves when it is next applied.
    Manual,
}

impl SecretRestart {
    /// Whether this is the default, [`SecretRestart::Auto`].
    pub fn is_auto(&self) -> bool {
        *self == SecretRestart::Auto
    }
}

impl SecretRef {
    /// A file reference to the latest version of `name`.
    pub fn file(name: impl Into<String>) -> Self {
        SecretRef {
            name: name.into(),
            env: None,
            env_template: None,
            version: None,
            restart: SecretRestart::Auto,
            bound_version: None,
        }
    }

    /// An environment variable reference to the latest version of `name`.
    pub fn env(name: impl Into<String>, var: impl Into<String>) -> Self {
        SecretRef {
            env: Some(var.into()),
            ..SecretRef::file(name)
        }
    }

    /// Pins the version.
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets what a new version does.
    pub fn with_restart(mut self, restart: SecretRestart) -> Self {
        self.restart = restart;
        self
    }

    /// The path of a file reference inside the container.
    pub fn path(&self) -> Option<String> {
        self.env
            .is_none()
            .then(|| format!("{SECRETS_MOUNT}/{}", self.name))
    }
}

/// Checks a secret name: 1 to 64 of `[A-Za-z0-9._-]`, starting with a letter or digit (it
/// becomes a file name under `/run/secrets`).
pub fn validate_secret_name(field: &str, name: &str) -> Result<(), SpecError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SECRET_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(SpecError::new(
            field,
            format!(
                "`{name}` is not a valid secret name: use 1 to {MAX_SECRET_NAME_LEN} letters, \
                 digits, `.`, `_` and `-`, starting with a letter or digit"
            ),
        ))
    }
}

/// Checks a service's references: valid names, no secret twice, no variable twice or also in
/// `env`.
pub(crate) fn validate_refs(
    refs: &[SecretRef],
    env: &std::collections::BTreeMap<String, String>,
) -> Result<(), SpecError> {
    let mut names = std::collections::BTreeSet::new();
    let mut vars = std::collections::BTreeSet::new();
    for (i, r) in refs.iter().enumerate() {
        validate_secret_name(&format!("secrets[{i}].name"), &r.name)?;
        // A secret can be several variables (a template may put one parameter in two), but
        // one file.
        if r.env.is_none() && !names.insert(r.name.as_str()) {
            return Err(SpecError::new(
                format!("secrets[{i}].name"),
                format!("secret `{}` is referenced twice", r.name),
            ));
        }
        if r.env_template.is_some() && r.env.is_none() {
            return Err(SpecError::new(
                format!("secrets[{i}].env_template"),
                "a template is for a variable: give `env` too",
            ));
        }
        if r.version == Some(0) {
            return Err(SpecError::new(
                format!("secrets[{i}].version"),
                "versions start at 1",
            ));
        }
        if let Some(var) = &r.env {
            if var.is_empty() || var.contains('=') || var.contains('\0') {
                return Err(SpecError::new(
                    format!("secrets[{i}].env"),
                    "a variable name must be non-empty, without `=`",
                ));
            }
            if env.contains_key(var) || !vars.insert(var.as_str()) {
                return Err(SpecError::new(
                    format!("secrets[{i}].env"),
                    format!("variable `{var}` is set twice"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_strictly_and_default_to_files() {
        let r: SecretRef = serde_json::from_str(r#"{"name":"db-password"}"#).expect("parses");
        assert_eq!(r, SecretRef::file("db-password"));
        assert_eq!(r.path().as_deref(), Some("/run/secrets/db-password"));
        let e: SecretRef =
            serde_json::from_str(r#"{"name":"k","env":"API_KEY","version":2,"restart":"manual"}"#)
                .expect("parses");
        assert_eq!(e.env.as_deref(), Some("API_KEY"));
        assert_eq!(e.path(), None);
        assert!(serde_json::from_str::<SecretRef>(r#"{"name":"k","colour":1}"#).is_err());
    }

    #[test]
    fn bad_references_name_the_field() {
        let env = std::collections::BTreeMap::from([("TAKEN".to_owned(), "x".to_owned())]);
        let cases = [
            (vec![SecretRef::file("../etc")], "secrets[0].name"),
            (
                vec![SecretRef::file("a"), SecretRef::file("a")],
                "secrets[1].name",
            ),
            (vec![SecretRef::env("a", "TAKEN")], "secrets[0].env"),
            (
                vec![SecretRef::file("a").with_version(0)],
                "secrets[0].version",
            ),
        ];
        for (refs, field) in cases {
            assert_eq!(
                validate_refs(&refs, &env).expect_err("refused").field,
                field
            );
        }
    }
}
