//! Who is calling: the bearer token of a request, checked against the engine's tokens
//! ([`windlass::tokens`]).
//!
//! A resource of another org is answered like a missing one (404), so a token cannot probe
//! which names exist elsewhere; naming another org in a path is a 403.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use windlass::tokens::{EVERY_ORG, Role, TokenRefused, Tokens};

use super::{ApiError, ApiState};

/// Who is calling: the token's org and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id.
    pub token_id: String,
    /// The org it acts for (`*`: every org).
    pub org: String,
    /// Its role.
    pub role: Role,
    /// The token's name: the actor of audit events.
    pub name: String,
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

    /// Refuses (403) a caller that is not an operator admin (the admin role, for every org):
    /// what concerns the platform rather than one org, e.g. `what` = "top-ups".
    pub fn require_operator(&self, what: &str) -> Result<(), ApiError> {
        self.require(Role::Admin)?;
        if self.org == EVERY_ORG {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{what} needs an operator admin token (org \"*\")"
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

/// The caller an `Authorization: Bearer …` header names.
pub(crate) async fn authenticate(
    tokens: &Tokens,
    header: Option<&str>,
) -> Result<Caller, ApiError> {
    let header = header
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    // RFC 7235: the scheme is case-insensitive.
    let secret = header
        .trim_start()
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, secret)| secret.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
        })?;
    let holder = tokens
        .verify(secret)
        .await?
        .map_err(|refused| match refused {
            TokenRefused::Expired { .. } => ApiError::token_expired(refused.to_string()),
            TokenRefused::Revoked { .. } => ApiError::token_revoked(refused.to_string()),
            other => ApiError::unauthorized(other.to_string()),
        })?;
    Ok(Caller {
        token_id: holder.token_id,
        org: holder.org,
        role: holder.role,
        name: holder.name,
    })
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or_default());
        authenticate(&state.tokens, header).await
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
            name: "t".into(),
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
