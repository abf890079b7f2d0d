//! API bearer tokens, scoped to an org and a role, kept in the engine's store.
//!
//! A token is `wl_` followed by 40 hex digits of randomness; the store keeps only its SHA-256,
//! so the database never holds a usable secret. A token belongs to one org (`*`: every org,
//! for operators) and has one role: `read` sees, `deploy` also changes containers and
//! services, `admin` also manages tokens and plugins.
//!
//! The engine only stores and checks tokens; serving them over HTTP (the `Authorization`
//! header, status codes) is the runner's business. They live here because they live in the
//! engine's store, beside the state they guard.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::EngineError;
use crate::store::{Store, TokenRow};

/// The org of a token that may act on every org.
pub const EVERY_ORG: &str = "*";

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Read containers, health, events and logs.
    Read,
    /// Also start, stop and restart containers; apply and remove services.
    Deploy,
    /// Also manage tokens and plugins.
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Deploy => "deploy",
            Self::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Read, Self::Deploy, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token just created: the only moment its secret is known.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    /// Its id (not secret).
    pub id: String,
    /// The bearer secret, to show once.
    pub secret: String,
    /// Its org (`*` for every org).
    pub org: String,
    /// Its role.
    pub role: Role,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("org", &self.org)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The holder of a valid token: its id, org and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    /// The token's id.
    pub token_id: String,
    /// The org it acts for (`*`: every org).
    pub org: String,
    /// Its role.
    pub role: Role,
    /// The token's name: the actor recorded in audit events.
    pub name: String,
}

/// Why a presented secret was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenRefused {
    /// No token has this secret.
    #[error("unknown token")]
    Unknown,
    /// The stored token has a role this engine does not know.
    #[error("token {0} has no usable role")]
    NoRole(String),
}

/// Creating and checking tokens.
#[derive(Debug, Clone)]
pub struct Tokens {
    store: Store,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Tokens {
    pub(crate) fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a token named `name` for `org` (`*`: every org) with `role`.
    pub async fn create(&self, name: &str, org: &str, role: Role) -> Result<NewToken, EngineError> {
        if org != EVERY_ORG {
            crate::spec::validate_name("org", org)?;
        }
        let secret = format!("wl_{}", hex::encode(rand::random::<[u8; 20]>()));
        let id = format!("tok_{}", &hash(&secret)[..12]);
        let row = TokenRow {
            id: id.clone(),
            name: name.to_owned(),
            org: org.to_owned(),
            role: role.as_str().to_owned(),
            created_ms: crate::store::now_ms(),
        };
        self.store.insert_token(&row, &hash(&secret)).await?;
        Ok(NewToken {
            id,
            secret,
            org: org.to_owned(),
            role,
        })
    }

    /// On first start (no token exists yet), creates an admin token for every org and returns
    /// it, to be shown once; afterwards `None`.
    pub async fn ensure_admin(&self) -> Result<Option<NewToken>, EngineError> {
        if self.store.count_tokens().await? > 0 {
            return Ok(None);
        }
        Ok(Some(
            self.create("initial admin", EVERY_ORG, Role::Admin).await?,
        ))
    }

    /// Who holds the token whose secret is `secret`.
    pub async fn verify(
        &self,
        secret: &str,
    ) -> Result<Result<TokenHolder, TokenRefused>, EngineError> {
        let Some(row) = self.store.token_by_hash(&hash(secret)).await? else {
            return Ok(Err(TokenRefused::Unknown));
        };
        let Some(role) = Role::parse(&row.role) else {
            return Ok(Err(TokenRefused::NoRole(row.id)));
        };
        Ok(Ok(TokenHolder {
            token_id: row.id,
            org: row.org,
            role,
            name: row.name,
        }))
    }
}

impl crate::Engine {
    /// The API tokens kept in the engine's store.
    pub fn tokens(&self) -> Tokens {
        Tokens::new(self.inner().ctx.store.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Admin > Role::Deploy && Role::Deploy > Role::Read);
        assert_eq!(Role::parse("deploy"), Some(Role::Deploy));
        assert_eq!(Role::parse("root"), None);
    }
}
