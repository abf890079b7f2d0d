//! Bearer tokens scoped to an org and a role.
//!
//! A token is `wl_` followed by 40 hex digits of randomness; the store keeps only its SHA-256,
//! so the database never holds a usable secret. A token belongs to one org (`*`: every org,
//! for operators) and has one role: `read` sees, `deploy` also changes containers and
//! services, `admin` also manages tokens and plugins. A resource of another org is answered
//! like a missing one (404), so a token cannot probe which names exist elsewhere; naming
//! another org in a path is a 403.

use std::fmt;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{ApiError, ApiState};
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

/// Who is calling: the token's org and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id.
    pub token_id: String,
    /// The org it acts for (`*`: every org).
    pub org: String,
    /// Its role.
    pub role: Role,
}

impl Caller {
    /// Whether the caller may see `org`'s resources.
    pub fn sees(&self, org: &str) -> bool {
        self.org == EVERY_ORG || self.org == org
    }

    /// Refuses (403) a caller below `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role; the token has {}",
                self.role
            )))
        }
    }

    /// Refuses (403) a caller acting on another org named in the request.
    pub fn require_org(&self, org: &str) -> Result<(), ApiError> {
        if self.sees(org) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "the token belongs to org {:?}, not {org:?}",
                self.org
            )))
        }
    }
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

    /// Creates a token for `org` (`*`: every org) with `role`.
    pub async fn create(
        &self,
        name: &str,
        org: &str,
        role: Role,
    ) -> Result<NewToken, crate::EngineError> {
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
    pub async fn ensure_admin(&self) -> Result<Option<NewToken>, crate::EngineError> {
        if self.store.count_tokens().await? > 0 {
            return Ok(None);
        }
        Ok(Some(
            self.create("initial admin", EVERY_ORG, Role::Admin).await?,
        ))
    }

    /// The caller an `Authorization: Bearer …` header names.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Caller, ApiError> {
        let header = header.ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <token>` header")
        })?;
        let secret = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
            })?;
        let row = self
            .store
            .token_by_hash(&hash(secret))
            .await
            .map_err(crate::EngineError::from)?
            .ok_or_else(|| ApiError::unauthorized("unknown token"))?;
        let role = Role::parse(&row.role).ok_or_else(|| {
            ApiError::unauthorized(format!("token {} has no usable role", row.id))
        })?;
        Ok(Caller {
            token_id: row.id,
            org: row.org,
            role,
        })
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        state.tokens.authenticate(header).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_before_them() {
        let caller = |role| Caller {
            token_id: "t".into(),
            org: "acme".into(),
            role,
        };
        assert!(caller(Role::Admin).require(Role::Deploy).is_ok());
        assert!(caller(Role::Deploy).require(Role::Deploy).is_ok());
        let refused = caller(Role::Read).require(Role::Deploy).unwrap_err();
        assert_eq!(refused.code, "forbidden");
        assert!(caller(Role::Read).sees("acme") && !caller(Role::Read).sees("globex"));
        assert_eq!(Role::parse("deploy"), Some(Role::Deploy));
        assert_eq!(Role::parse("root"), None);
    }
}
