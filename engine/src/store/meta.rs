//! The `engine_meta` table: small engine-wide facts as text key/value pairs (engine id,
//! event-log watermarks).

use super::Store;
use super::error::{QueryContext, StoreError};

const GET: &str = "SELECT value FROM engine_meta WHERE key = $1";
const SET: &str = "INSERT INTO engine_meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const INSERT_IF_ABSENT: &str =
    "INSERT INTO engine_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
const DELETE: &str = "DELETE FROM engine_meta WHERE key = $1";

impl Store {
    /// The value stored under `key`, if any.
    pub async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => sqlx::query_scalar(GET)
            .bind(key)
            .fetch_optional(pool)
            .await
            .op("get engine meta"))
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(SET)
            .bind(key)
            .bind(value)
            .execute(pool)
            .await
            .op("set engine meta")
            .map(drop))
    }

    /// Returns the value under `key`, first storing `value` there if the key is absent.
    /// Atomic: concurrent callers all get the value of whoever stored first (e.g. an engine id).
    pub async fn get_or_insert_meta(&self, key: &str, value: &str) -> Result<String, StoreError> {
        with_pool!(self, pool => {
            sqlx::query(INSERT_IF_ABSENT)
                .bind(key)
                .bind(value)
                .execute(pool)
                .await
                .op("insert engine meta")?;
            sqlx::query_scalar(GET)
                .bind(key)
                .fetch_one(pool)
                .await
                .op("get engine meta")
        })
    }

    /// Removes `key`; returns whether it existed.
    pub async fn delete_meta(&self, key: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => sqlx::query(DELETE)
            .bind(key)
            .execute(pool)
            .await
            .op("delete engine meta")?
            .rows_affected());
        Ok(deleted > 0)
    }
}
