//! The `stack_templates` table: the stacks made from a stack template plugin and the
//! parameters they were rendered with, so that reloading the template re-renders them, also
//! after a restart.

use std::collections::BTreeMap;

use sqlx::types::Json;

use super::Store;
use super::error::{QueryContext, StoreError};

const UPSERT: &str = "INSERT INTO stack_templates (org, stack, template, params, updated_ms) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (org, stack) DO UPDATE SET \
     template = excluded.template, params = excluded.params, updated_ms = excluded.updated_ms";
const LIST: &str = "SELECT org, stack, params FROM stack_templates WHERE template = $1 \
     ORDER BY org, stack";
const GET: &str = "SELECT template, params FROM stack_templates WHERE org = $1 AND stack = $2";
const DELETE: &str = "DELETE FROM stack_templates WHERE org = $1 AND stack = $2";

/// The stored parameters of a stack.
type StoredParams = Json<BTreeMap<String, String>>;

/// A stack made from `template` with `params`: (org, stack, params).
pub type TemplatedStack = (String, String, BTreeMap<String, String>);

impl Store {
    /// Records that `org/stack` was rendered by `template` with `params` (replacing any
    /// earlier record).
    pub async fn set_stack_template(
        &self,
        org: &str,
        stack: &str,
        template: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(UPSERT)
            .bind(org)
            .bind(stack)
            .bind(template)
            .bind(Json(params))
            .bind(super::now_ms())
            .execute(pool)
            .await
            .op("set stack template")
            .map(drop))
    }

    /// The template and parameters `org/stack` was made with, if it was made from one.
    pub async fn get_stack_template(
        &self,
        org: &str,
        stack: &str,
    ) -> Result<Option<(String, BTreeMap<String, String>)>, StoreError> {
        let row: Option<(String, StoredParams)> = with_pool!(self, pool => sqlx::query_as(GET)
                .bind(org)
                .bind(stack)
                .fetch_optional(pool)
                .await
                .op("get stack template")?);
        Ok(row.map(|(template, params)| (template, params.0)))
    }

    /// The stacks made from `template`, ordered by org and stack.
    pub async fn list_stacks_of_template(
        &self,
        template: &str,
    ) -> Result<Vec<TemplatedStack>, StoreError> {
        let rows: Vec<(String, String, StoredParams)> = with_pool!(self, pool => sqlx::query_as(LIST)
                .bind(template)
                .fetch_all(pool)
                .await
                .op("list stacks of template")?);
        Ok(rows
            .into_iter()
            .map(|(org, stack, params)| (org, stack, params.0))
            .collect())
    }

    /// Forgets how `org/stack` was made; returns whether it was made from a template.
    pub async fn delete_stack_template(&self, org: &str, stack: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => sqlx::query(DELETE)
            .bind(org)
            .bind(stack)
            .execute(pool)
            .await
            .op("delete stack template")?
            .rows_affected());
        Ok(deleted > 0)
    }
}
