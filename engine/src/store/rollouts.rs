//! `service_revisions` (every revision of a service's spec, the last few kept, for rollback)
//! and `rollouts` (each service's current or last rolling update, so that one interrupted by a
//! crash resumes where Docker's state says it is).

use serde_json::Value;
use sqlx::types::Json;

use super::error::{QueryContext, StoreError, to_sql_int};
use super::{Scope, Store};

/// How many revisions of a service are kept.
pub(crate) const KEPT_REVISIONS: i64 = 10;

/// One kept revision of a service.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceRevision {
    /// The revision number.
    pub revision: u64,
    /// The spec as applied.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::ServiceSpec))]
    pub spec: Value,
    /// Its hash.
    pub config_hash: String,
    /// When it was first applied, in ms since the Unix epoch.
    pub created_ms: i64,
}

#[derive(sqlx::FromRow)]
struct RevisionRow {
    revision: i64,
    spec: Json<Value>,
    config_hash: String,
    created_ms: i64,
}

/// A service's rolling update.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollout {
    /// The revision being replaced.
    pub from_revision: u64,
    /// The revision being rolled out.
    pub to_revision: u64,
    /// `in-progress`, `completed`, `rolled-back` or `failed`.
    pub state: String,
    /// When it started (ms since the Unix epoch).
    pub started_ms: i64,
    /// When it last made progress (a replica replaced).
    pub progress_ms: i64,
}

#[derive(sqlx::FromRow)]
struct RolloutRow {
    from_revision: i64,
    to_revision: i64,
    state: String,
    started_ms: i64,
    progress_ms: i64,
}

impl Store {
    /// Keeps a revision of a service (again: the same revision replaces its row) and forgets
    /// all but the last [`KEPT_REVISIONS`].
    pub(crate) async fn keep_revision(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        revision: &ServiceRevision,
    ) -> Result<(), StoreError> {
        let number: i64 = to_sql_int("revision", revision.revision)?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO service_revisions (org, stack, service, revision, spec, config_hash, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org, stack, service, revision) \
                 DO UPDATE SET spec = excluded.spec, config_hash = excluded.config_hash",
            )
            .bind(org).bind(stack).bind(service).bind(number)
            .bind(Json(&revision.spec)).bind(&revision.config_hash).bind(revision.created_ms)
            .execute(pool).await.op("keep revision")?;
            sqlx::query(
                "DELETE FROM service_revisions WHERE org = $1 AND stack = $2 AND service = $3 \
                 AND revision <= $4",
            )
            .bind(org).bind(stack).bind(service).bind(number - KEPT_REVISIONS)
            .execute(pool).await.op("forget old revisions")?;
        });
        Ok(())
    }

    /// A service's kept revisions, newest first.
    pub(crate) async fn revisions(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<Vec<ServiceRevision>, StoreError> {
        let rows: Vec<RevisionRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT revision, spec, config_hash, created_ms FROM service_revisions \
                 WHERE org = $1 AND stack = $2 AND service = $3 ORDER BY revision DESC",
            )
            .bind(org).bind(stack).bind(service)
            .fetch_all(pool).await.op("list revisions")?
        });
        rows.into_iter()
            .map(|r| {
                Ok(ServiceRevision {
                    revision: to_sql_int("service_revisions.revision", r.revision)?,
                    spec: r.spec.0,
                    config_hash: r.config_hash,
                    created_ms: r.created_ms,
                })
            })
            .collect()
    }

    /// A service's current or last rolling update.
    pub(crate) async fn rollout(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<Option<Rollout>, StoreError> {
        let row: Option<RolloutRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT from_revision, to_revision, state, started_ms, progress_ms FROM rollouts \
                 WHERE org = $1 AND stack = $2 AND service = $3",
            )
            .bind(org).bind(stack).bind(service)
            .fetch_optional(pool).await.op("get rollout")?
        });
        row.map(|r| {
            Ok(Rollout {
                from_revision: to_sql_int("rollouts.from_revision", r.from_revision)?,
                to_revision: to_sql_int("rollouts.to_revision", r.to_revision)?,
                state: r.state,
                started_ms: r.started_ms,
                progress_ms: r.progress_ms,
            })
        })
        .transpose()
    }

    /// Writes a service's rolling update.
    pub(crate) async fn put_rollout(
        &self,
        org: &str,
        stack: &str,
        service: &str,
        rollout: &Rollout,
    ) -> Result<(), StoreError> {
        let from: i64 = to_sql_int("from_revision", rollout.from_revision)?;
        let to: i64 = to_sql_int("to_revision", rollout.to_revision)?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO rollouts (org, stack, service, from_revision, to_revision, state, started_ms, progress_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (org, stack, service) DO UPDATE SET \
                 from_revision = excluded.from_revision, to_revision = excluded.to_revision, \
                 state = excluded.state, started_ms = excluded.started_ms, progress_ms = excluded.progress_ms",
            )
            .bind(org).bind(stack).bind(service).bind(from).bind(to)
            .bind(&rollout.state).bind(rollout.started_ms).bind(rollout.progress_ms)
            .execute(pool).await.op("put rollout")?;
        });
        Ok(())
    }

    /// The highest revision a service ever had (kept or current), so a new one never reuses a
    /// number after a rollback.
    pub(crate) async fn highest_revision(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<u64, StoreError> {
        let kept = self.revisions(org, stack, service).await?;
        let current = self
            .list_desired_services(Scope::Service {
                org,
                stack,
                service,
            })
            .await?;
        Ok(kept
            .iter()
            .map(|r| r.revision)
            .chain(current.iter().map(|d| d.revision))
            .max()
            .unwrap_or(0))
    }
}
