//! The `placements` table: services the engine deployed through a cloud adapter, with the
//! platform's reference and what was deployed ([`crate::placement`]).

use super::Store;
use super::error::{QueryContext, StoreError, to_sql_int};

/// One service on an adapter target, as the engine last deployed it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Placement {
    /// Owning organisation.
    pub org: String,
    /// Stack within the org.
    pub stack: String,
    /// Service within the stack.
    pub service: String,
    /// The target it runs on.
    pub target: String,
    /// The platform's id for the deployment.
    pub deployment_id: String,
    /// The name the platform knows it by.
    pub deployment_name: String,
    /// The service's revision that was deployed.
    pub revision: u64,
    /// The replicas last asked for.
    pub replicas: u32,
    /// When the row was written (ms since the Unix epoch).
    pub updated_ms: i64,
}

#[derive(sqlx::FromRow)]
struct PlacementRow {
    org: String,
    stack: String,
    service: String,
    target: String,
    deployment_id: String,
    deployment_name: String,
    revision: i64,
    replicas: i64,
    updated_ms: i64,
}

impl Store {
    /// Records (or replaces) where a service was deployed.
    pub(crate) async fn upsert_placement(&self, p: &Placement) -> Result<(), StoreError> {
        let revision: i64 = to_sql_int("revision", p.revision)?;
        let replicas = i64::from(p.replicas);
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO placements (org, stack, service, target, deployment_id, \
                 deployment_name, revision, replicas, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (org, stack, service) DO UPDATE SET target = excluded.target, \
                 deployment_id = excluded.deployment_id, deployment_name = excluded.deployment_name, \
                 revision = excluded.revision, replicas = excluded.replicas, \
                 updated_ms = excluded.updated_ms",
            )
            .bind(&p.org).bind(&p.stack).bind(&p.service).bind(&p.target)
            .bind(&p.deployment_id).bind(&p.deployment_name).bind(revision).bind(replicas)
            .bind(p.updated_ms)
            .execute(pool).await.op("upsert placement")?;
        });
        Ok(())
    }

    /// Every placement, in org, stack, service order.
    pub(crate) async fn placements(&self) -> Result<Vec<Placement>, StoreError> {
        let rows: Vec<PlacementRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT org, stack, service, target, deployment_id, deployment_name, revision, \
                 replicas, updated_ms FROM placements ORDER BY org, stack, service",
            )
            .fetch_all(pool).await.op("list placements")?
        });
        rows.into_iter()
            .map(|r| {
                Ok(Placement {
                    revision: to_sql_int("placements.revision", r.revision)?,
                    replicas: to_sql_int("placements.replicas", r.replicas)?,
                    org: r.org,
                    stack: r.stack,
                    service: r.service,
                    target: r.target,
                    deployment_id: r.deployment_id,
                    deployment_name: r.deployment_name,
                    updated_ms: r.updated_ms,
                })
            })
            .collect()
    }

    /// Forgets a service's placement (its deployment was removed).
    pub(crate) async fn delete_placement(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM placements WHERE org = $1 AND stack = $2 AND service = $3")
                .bind(org).bind(stack).bind(service)
                .execute(pool).await.op("delete placement")?;
        });
        Ok(())
    }
}
