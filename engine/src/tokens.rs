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
use crate::spec::SpecError;
use crate::store::{Store, TokenRow};

/// The org of a token that may act on every org.
pub const EVERY_ORG: &str = "*";

/// What a token may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Everything else about it, as [`Tokens::list`] will show it.
    pub info: TokenInfo,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("secret", &"***")
            .field("org", &self.org)
            .field("role", &self.role)
            .field("info", &self.info)
            .finish()
    }
}

/// What is known about a token, never its secret: what listing tokens shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub struct TokenInfo {
    /// Its id, `tok_…` (not secret: it names the token to revoke).
    pub id: String,
    /// What it is for, as its creator named it.
    pub name: String,
    /// Its org (`*`: every org).
    pub org: String,
    /// Its role.
    pub role: Role,
    /// When it was made, in ms since the Unix epoch.
    pub created_ms: i64,
    /// When it stops working (ms since the Unix epoch); `None`: never.
    pub expires_ms: Option<i64>,
    /// When it was last presented (to the minute: recorded at most once a minute); `None`:
    /// never.
    pub last_used_ms: Option<i64>,
    /// When it was revoked; `None`: it is not.
    pub revoked_ms: Option<i64>,
}

impl TokenInfo {
    fn from_row(row: TokenRow) -> Result<Self, TokenRefused> {
        let role = Role::parse(&row.role).ok_or_else(|| TokenRefused::NoRole(row.id.clone()))?;
        Ok(Self {
            id: row.id,
            name: row.name,
            org: row.org,
            role,
            created_ms: row.created_ms,
            expires_ms: row.expires_ms,
            last_used_ms: row.last_used_ms,
            revoked_ms: row.revoked_ms,
        })
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
    /// The token expired.
    #[error("token {id} expired at {expires_ms} ms since the epoch")]
    Expired {
        /// The token's id.
        id: String,
        /// When it expired.
        expires_ms: i64,
    },
    /// The token was revoked.
    #[error("token {id} was revoked")]
    Revoked {
        /// The token's id.
        id: String,
    },
}

/// The longest token name.
pub const MAX_TOKEN_NAME_LEN: usize = 100;

/// How often a token's last use is written at most (a busy token must not write per request).
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// Creating, listing, revoking and checking tokens.
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

    /// Creates a token named `name` for `org` (`*`: every org) with `role` that never expires.
    pub async fn create(&self, name: &str, org: &str, role: Role) -> Result<NewToken, EngineError> {
        self.create_expiring(name, org, role, None).await
    }

    /// Creates a token named `name` for `org` (`*`: every org) with `role`, working until
    /// `expires_ms` (ms since the Unix epoch; `None`: forever).
    pub async fn create_expiring(
        &self,
        name: &str,
        org: &str,
        role: Role,
        expires_ms: Option<i64>,
    ) -> Result<NewToken, EngineError> {
        if org != EVERY_ORG {
            crate::spec::validate_name("org", org)?;
        }
        if name.trim().is_empty()
            || name.chars().count() > MAX_TOKEN_NAME_LEN
            || name.chars().any(char::is_control)
        {
            return Err(SpecError::new(
                "name",
                format!(
                    "a token name is 1 to {MAX_TOKEN_NAME_LEN} characters without control characters"
                ),
            )
            .into());
        }
        let now = crate::store::now_ms();
        if let Some(expires) = expires_ms
            && expires <= now
        {
            return Err(SpecError::new("expires", "the expiry is not in the future").into());
        }
        let secret = format!("wl_{}", hex::encode(rand::random::<[u8; 20]>()));
        let id = format!("tok_{}", &hash(&secret)[..12]);
        let row = TokenRow {
            id: id.clone(),
            name: name.to_owned(),
            org: org.to_owned(),
            role: role.as_str().to_owned(),
            created_ms: now,
            expires_ms,
            last_used_ms: None,
            revoked_ms: None,
        };
        self.store.insert_token(&row, &hash(&secret)).await?;
        tracing::info!(token = %id, %org, %role, ?expires_ms, "api token created");
        Ok(NewToken {
            id,
            secret,
            org: org.to_owned(),
            role,
            info: TokenInfo {
                id: row.id,
                name: row.name,
                org: row.org,
                role,
                created_ms: row.created_ms,
                expires_ms,
                last_used_ms: None,
                revoked_ms: None,
            },
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

    /// Every token (`org` `None`) or only those of `org` (exactly: `Some("*")` lists the
    /// tokens of every org, not every token), oldest first. Never their secrets: the store
    /// does not have them.
    pub async fn list(&self, org: Option<&str>) -> Result<Vec<TokenInfo>, EngineError> {
        Ok(self
            .store
            .list_tokens(org)
            .await?
            .into_iter()
            .filter_map(|row| TokenInfo::from_row(row).ok())
            .collect())
    }

    /// The token with this id, revoked or not.
    pub async fn get(&self, id: &str) -> Result<Option<TokenInfo>, EngineError> {
        Ok(self
            .store
            .token_by_id(id)
            .await?
            .and_then(|row| TokenInfo::from_row(row).ok()))
    }

    /// Revokes the token with this id: from now on it is refused with
    /// [`TokenRefused::Revoked`]. Revoking a revoked token changes nothing.
    pub async fn revoke(&self, id: &str) -> Result<TokenInfo, EngineError> {
        let not_found = || EngineError::NotFound {
            what: format!("token {id}"),
        };
        if !self.store.revoke_token(id, crate::store::now_ms()).await? {
            return Err(not_found());
        }
        tracing::info!(token = %id, "api token revoked");
        self.get(id).await?.ok_or_else(not_found)
    }

    /// Who holds the token whose secret is `secret`; records its use.
    pub async fn verify(
        &self,
        secret: &str,
    ) -> Result<Result<TokenHolder, TokenRefused>, EngineError> {
        let Some(row) = self.store.token_by_hash(&hash(secret)).await? else {
            return Ok(Err(TokenRefused::Unknown));
        };
        let info = match TokenInfo::from_row(row) {
            Ok(info) => info,
            Err(refused) => return Ok(Err(refused)),
        };
        let now = crate::store::now_ms();
        if info.revoked_ms.is_some() {
            return Ok(Err(TokenRefused::Revoked { id: info.id }));
        }
        if let Some(expires_ms) = info.expires_ms
            && expires_ms <= now
        {
            return Ok(Err(TokenRefused::Expired {
                id: info.id,
                expires_ms,
            }));
        }
        self.store
            .touch_token(&info.id, now, now - LAST_USED_GRANULARITY_MS)
            .await?;
        Ok(Ok(TokenHolder {
            token_id: info.id,
            org: info.org,
            role: info.role,
            name: info.name,
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
