//! The `api_tokens` table: API bearer tokens by the SHA-256 of their secret, with their
//! expiry, last use and revocation.

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
    pub expires_ms: Option<i64>,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

const COLUMNS: &str = "id, name, org, role, created_ms, expires_ms, last_used_ms, revoked_ms";

impl Store {
    /// Stores a token by the hash of its secret.
    pub(crate) async fn insert_token(
        &self,
        token: &TokenRow,
        secret_hash: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, org, role, secret_hash, created_ms, expires_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&token.id)
            .bind(&token.name)
            .bind(&token.org)
            .bind(&token.role)
            .bind(secret_hash)
            .bind(token.created_ms)
            .bind(token.expires_ms)
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
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE secret_hash = $1");
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(secret_hash)
                .fetch_optional(pool)
                .await
                .op("find api token")?
        }))
    }

    /// The token with this id.
    pub(crate) async fn token_by_id(&self, id: &str) -> Result<Option<TokenRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id)
                .fetch_optional(pool)
                .await
                .op("find api token by id")?
        }))
    }

    /// Every token, or only `org`'s, oldest first.
    pub(crate) async fn list_tokens(&self, org: Option<&str>) -> Result<Vec<TokenRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE ($1 IS NULL OR org = $1) \
             ORDER BY created_ms, id"
        );
        Ok(with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(org)
                .fetch_all(pool)
                .await
                .op("list api tokens")?
        }))
    }

    /// Marks the token revoked at `now_ms` (a revoked token keeps its first revocation time).
    /// Whether a token with this id exists.
    pub(crate) async fn revoke_token(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE api_tokens SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1",
            )
            .bind(id)
            .bind(now_ms)
            .execute(pool)
            .await
            .op("revoke api token")?
            .rows_affected()
        });
        Ok(done > 0)
    }

    /// Records a use of the token at `now_ms`, unless one was recorded after `since_ms`: a
    /// busy token costs one write a minute, not one per request.
    pub(crate) async fn touch_token(
        &self,
        id: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE api_tokens SET last_used_ms = $2 \
                 WHERE id = $1 AND (last_used_ms IS NULL OR last_used_ms < $3)",
            )
            .bind(id)
            .bind(now_ms)
            .bind(since_ms)
            .execute(pool)
            .await
            .op("record api token use")?;
        });
        Ok(())
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
