//! The `api_tokens` table: API bearer tokens by the SHA-256 of their secret.

use super::Store;
use super::error::{QueryContext, StoreError};

/// A stored API token (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: String,
    pub name: String,
    pub org: String,
    pub role: String,
    pub created_ms: i64,
}

impl Store {
    /// Stores a token by the hash of its secret.
    pub(crate) async fn insert_token(
        &self,
        token: &TokenRow,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, org, role, secret_hash, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&token.id)
            .bind(&token.name)
            .bind(&token.org)
            .bind(&token.role)
            .bind(secret_hash)
            .bind(token.created_ms)
            .execute(pool)
            .await
            .op("insert api token")?;
        });
        Ok(())
    }

    /// The token whose secret hashes to `secret_hash`.
    pub(crate) async fn token_by_hash(
        &self,
        secret_hash: &str,
    ) -> Result<Option<TokenRow>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, name, org, role, created_ms FROM api_tokens WHERE secret_hash = $1",
            )
            .bind(secret_hash)
            .fetch_optional(pool)
            .await
            .op("find api token")?
        }))
    }

    /// How many tokens exist.
    pub(crate) async fn count_tokens(&self) -> Result<i64, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
                .fetch_one(pool)
                .await
                .op("count api tokens")?
        }))
    }
}
