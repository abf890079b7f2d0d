//! The `secrets` and `secret_versions` tables: names, version bookkeeping and sealed values.
//!
//! Nothing here sees a plaintext: callers pass a sealing closure (given the version number the
//! ciphertext is bound to) and get ciphertexts back. A key rotation rewrites every row and the
//! current key id in one transaction, so after any crash every row is under exactly one key.

use super::Store;
use super::error::{QueryContext, StoreError, to_sql_int};

/// The engine_meta key holding the id of the key every stored value is sealed under.
pub(crate) const KEY_ID_META: &str = "secrets.key_id";

/// One secret's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct SecretRow {
    pub org: String,
    pub name: String,
    pub latest_version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One kept version, without its value.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct SecretVersionRow {
    pub name: String,
    pub version: i64,
    pub key_id: String,
    pub created_ms: i64,
    pub created_by: String,
}

/// One kept version with its ciphertext.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct SealedRow {
    pub org: String,
    pub name: String,
    pub version: i64,
    pub key_id: String,
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedRow")
            .field("org", &self.org)
            .field("name", &self.name)
            .field("version", &self.version)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

const BUMP: &str = "INSERT INTO secrets (org, name, latest_version, created_ms, updated_ms) \
     VALUES ($1, $2, 1, $3, $3) \
     ON CONFLICT (org, name) DO UPDATE SET latest_version = secrets.latest_version + 1, \
     updated_ms = excluded.updated_ms \
     RETURNING latest_version";
const INSERT_VERSION: &str = "INSERT INTO secret_versions \
     (org, name, version, key_id, ciphertext, created_ms, created_by) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SEALED_COLUMNS: &str = "org, name, version, key_id, ciphertext";

impl Store {
    /// Adds a version of `org/name` (creating the secret at version 1), sealed by `seal` for
    /// the version number it is given. Returns that number.
    pub(crate) async fn insert_secret_version(
        &self,
        org: &str,
        name: &str,
        key_id: &str,
        created_by: &str,
        now_ms: i64,
        seal: impl FnOnce(u64) -> Vec<u8>,
    ) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin secret version")?;
            // The bump is the transaction's first statement and a write: concurrent setters
            // of one secret are serialised on it and never share a number.
            let version: i64 = sqlx::query_scalar(BUMP)
                .bind(org)
                .bind(name)
                .bind(now_ms)
                .fetch_one(&mut *tx)
                .await
                .op("bump secret version")?;
            let number: u64 = to_sql_int("secret_versions.version", version)?;
            let sealed = seal(number);
            sqlx::query(INSERT_VERSION)
                .bind(org)
                .bind(name)
                .bind(version)
                .bind(key_id)
                .bind(sealed)
                .bind(now_ms)
                .bind(created_by)
                .execute(&mut *tx)
                .await
                .op("insert secret version")?;
            tx.commit().await.op("commit secret version")?;
            Ok(number)
        })
    }

    /// How many versions are stored, over every org.
    pub(crate) async fn count_secret_versions(&self) -> Result<i64, StoreError> {
        with_pool!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM secret_versions")
            .fetch_one(pool)
            .await
            .op("count secret versions"))
    }

    /// The secrets of `org`, by name.
    pub(crate) async fn list_secrets(&self, org: &str) -> Result<Vec<SecretRow>, StoreError> {
        with_pool!(self, pool => sqlx::query_as(
                "SELECT org, name, latest_version, created_ms, updated_ms FROM secrets \
                 WHERE org = $1 ORDER BY name",
            )
            .bind(org)
            .fetch_all(pool)
            .await
            .op("list secrets"))
    }

    /// The kept versions of every secret of `org` (without values), by name then version.
    pub(crate) async fn list_secret_versions(
        &self,
        org: &str,
    ) -> Result<Vec<SecretVersionRow>, StoreError> {
        with_pool!(self, pool => sqlx::query_as(
                "SELECT name, version, key_id, created_ms, created_by FROM secret_versions \
                 WHERE org = $1 ORDER BY name, version",
            )
            .bind(org)
            .fetch_all(pool)
            .await
            .op("list secret versions"))
    }

    /// Every version of `org` with its ciphertext, by name then version.
    pub(crate) async fn sealed_secrets(&self, org: &str) -> Result<Vec<SealedRow>, StoreError> {
        with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SEALED_COLUMNS} FROM secret_versions WHERE org = $1 ORDER BY name, version"
            )))
            .bind(org)
            .fetch_all(pool)
            .await
            .op("list sealed secrets"))
    }

    /// The ciphertext of one version.
    pub(crate) async fn sealed_secret(
        &self,
        org: &str,
        name: &str,
        version: u64,
    ) -> Result<Option<SealedRow>, StoreError> {
        let version: i64 = to_sql_int("version", version)?;
        with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {SEALED_COLUMNS} FROM secret_versions \
                 WHERE org = $1 AND name = $2 AND version = $3"
            )))
            .bind(org)
            .bind(name)
            .bind(version)
            .fetch_optional(pool)
            .await
            .op("get sealed secret"))
    }

    /// Deletes a secret with every version; returns whether it existed.
    pub(crate) async fn delete_secret(&self, org: &str, name: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin delete secret")?;
            sqlx::query("DELETE FROM secret_versions WHERE org = $1 AND name = $2")
                .bind(org)
                .bind(name)
                .execute(&mut *tx)
                .await
                .op("delete secret versions")?;
            let deleted = sqlx::query("DELETE FROM secrets WHERE org = $1 AND name = $2")
                .bind(org)
                .bind(name)
                .execute(&mut *tx)
                .await
                .op("delete secret")?
                .rows_affected();
            tx.commit().await.op("commit delete secret")?;
            Ok(deleted > 0)
        })
    }

    /// Deletes the versions of `org/name` created before `before_ms`, except the latest and
    /// those in `keep` (pinned or bound by a service). Returns the versions deleted.
    pub(crate) async fn prune_secret_versions(
        &self,
        org: &str,
        name: &str,
        before_ms: i64,
        keep: &[u64],
    ) -> Result<Vec<u64>, StoreError> {
        let candidates: Vec<i64> = with_pool!(self, pool => sqlx::query_scalar(
                "SELECT v.version FROM secret_versions v JOIN secrets s \
                 ON s.org = v.org AND s.name = v.name \
                 WHERE v.org = $1 AND v.name = $2 AND v.created_ms < $3 \
                 AND v.version < s.latest_version",
            )
            .bind(org)
            .bind(name)
            .bind(before_ms)
            .fetch_all(pool)
            .await
            .op("find old secret versions")?);
        let mut deleted = Vec::new();
        for version in candidates {
            let number: u64 = to_sql_int("secret_versions.version", version)?;
            if keep.contains(&number) {
                continue;
            }
            with_pool!(self, pool => {
                sqlx::query(
                    "DELETE FROM secret_versions WHERE org = $1 AND name = $2 AND version = $3",
                )
                .bind(org)
                .bind(name)
                .bind(version)
                .execute(pool)
                .await
                .op("delete old secret version")?;
            });
            deleted.push(number);
        }
        Ok(deleted)
    }

    /// Rewrites every stored value with `reseal` and records `new_key_id` as the current key,
    /// all in one transaction: either every row moves to the new key or none does.
    pub(crate) async fn reseal_all_secrets<E: From<StoreError>>(
        &self,
        new_key_id: &str,
        mut reseal: impl FnMut(&SealedRow) -> Result<Vec<u8>, E>,
    ) -> Result<usize, E> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin key rotation")?;
            // Take the write lock first (SQLite) and keep setters out while rows are
            // rewritten (both): a version added meanwhile would be under the old key.
            sqlx::query(
                "INSERT INTO engine_meta (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(KEY_ID_META)
            .bind(new_key_id)
            .execute(&mut *tx)
            .await
            .op("record the new secrets key")?;
            if matches!(self.backend, super::Backend::Postgres(_)) {
                sqlx::query("LOCK TABLE secrets, secret_versions IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await
                    .op("lock secrets for key rotation")?;
            }
            let rows: Vec<SealedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {SEALED_COLUMNS} FROM secret_versions ORDER BY org, name, version"
                )))
                .fetch_all(&mut *tx)
                .await
                .op("read secrets for key rotation")?;
            for row in &rows {
                let sealed = reseal(row)?;
                sqlx::query(
                    "UPDATE secret_versions SET key_id = $1, ciphertext = $2 \
                     WHERE org = $3 AND name = $4 AND version = $5",
                )
                .bind(new_key_id)
                .bind(sealed)
                .bind(&row.org)
                .bind(&row.name)
                .bind(row.version)
                .execute(&mut *tx)
                .await
                .op("reseal secret")?;
            }
            tx.commit().await.op("commit key rotation")?;
            Ok(rows.len())
        })
    }
}
