//! The `stack_origins` table: who declared each stack, the runner's file or the API. The
//! runner's prune (see `docs/runner.md`) reads it to remove only the stacks its file declared.

use super::Store;
use super::error::{QueryContext, StoreError};
use crate::StackOrigin;

const UPSERT: &str = "INSERT INTO stack_origins (org, stack, origin, updated_ms) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (org, stack) DO UPDATE SET \
     origin = excluded.origin, updated_ms = excluded.updated_ms";
const GET: &str = "SELECT origin FROM stack_origins WHERE org = $1 AND stack = $2";
const LIST: &str = "SELECT org, stack FROM stack_origins WHERE origin = $1 ORDER BY org, stack";
const DELETE: &str = "DELETE FROM stack_origins WHERE org = $1 AND stack = $2";

impl Store {
    /// Records that `origin` declared `org/stack` last (replacing any earlier origin).
    pub async fn set_stack_origin(
        &self,
        org: &str,
        stack: &str,
        origin: StackOrigin,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(UPSERT)
            .bind(org)
            .bind(stack)
            .bind(origin.as_str())
            .bind(super::now_ms())
            .execute(pool)
            .await
            .op("set stack origin")
            .map(drop))
    }

    /// Who declared `org/stack` last; `None` for a stack without a recorded origin (removed,
    /// or declared before origins were recorded).
    pub async fn get_stack_origin(
        &self,
        org: &str,
        stack: &str,
    ) -> Result<Option<StackOrigin>, StoreError> {
        let origin: Option<String> = with_pool!(self, pool => sqlx::query_scalar(GET)
            .bind(org)
            .bind(stack)
            .fetch_optional(pool)
            .await
            .op("get stack origin")?);
        Ok(origin.as_deref().and_then(StackOrigin::parse))
    }

    /// The (org, stack) pairs `origin` declared last, ordered.
    pub async fn list_stacks_from(
        &self,
        origin: StackOrigin,
    ) -> Result<Vec<(String, String)>, StoreError> {
        with_pool!(self, pool => sqlx::query_as(LIST)
            .bind(origin.as_str())
            .fetch_all(pool)
            .await
            .op("list stack origins"))
    }

    /// Forgets the origin of `org/stack`; returns whether it had one.
    pub async fn delete_stack_origin(&self, org: &str, stack: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => sqlx::query(DELETE)
            .bind(org)
            .bind(stack)
            .execute(pool)
            .await
            .op("delete stack origin")?
            .rows_affected());
        Ok(deleted > 0)
    }
}
