//! The `desired_services` table: what the operator asked for, one row per service.

use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::error::{QueryContext, StoreError, to_sql_int};
use super::{Scope, Store};

/// The desired state of one service: which revision of which spec, at how many replicas.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DesiredService {
    /// Owning organisation.
    pub org: String,
    /// Stack within the org.
    pub stack: String,
    /// Service within the stack.
    pub service: String,
    /// Monotonic revision of this service's desired state; labels its containers.
    pub revision: u64,
    /// How many containers should run.
    pub replicas: u32,
    /// The rendered service spec (image, env, ports, volumes, health checks…).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::ServiceSpec))]
    pub spec: Value,
    /// Hash of the spec's container-relevant parts; labels containers to detect drift.
    pub config_hash: String,
    /// When this row was last written, in milliseconds since the Unix epoch.
    pub updated_ms: i64,
}

#[derive(sqlx::FromRow)]
struct DesiredRow {
    org: String,
    stack: String,
    service: String,
    revision: i64,
    replicas: i32,
    spec: Json<Value>,
    config_hash: String,
    updated_ms: i64,
}

impl TryFrom<DesiredRow> for DesiredService {
    type Error = StoreError;

    fn try_from(row: DesiredRow) -> Result<Self, StoreError> {
        Ok(DesiredService {
            org: row.org,
            stack: row.stack,
            service: row.service,
            revision: to_sql_int("desired_services.revision", row.revision)?,
            replicas: to_sql_int("desired_services.replicas", row.replicas)?,
            spec: row.spec.0,
            config_hash: row.config_hash,
            updated_ms: row.updated_ms,
        })
    }
}

const COLUMNS: &str = "org, stack, service, revision, replicas, spec, config_hash, updated_ms";

const UPSERT: &str = "INSERT INTO desired_services \
     (org, stack, service, revision, replicas, spec, config_hash, updated_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (org, stack, service) DO UPDATE SET \
     revision = excluded.revision, replicas = excluded.replicas, spec = excluded.spec, \
     config_hash = excluded.config_hash, updated_ms = excluded.updated_ms";

const DELETE: &str = "DELETE FROM desired_services WHERE org = $1 AND stack = $2 AND service = $3";

impl Store {
    /// Inserts or replaces the desired state of `service.org/stack/service`.
    pub async fn upsert_desired_service(&self, service: &DesiredService) -> Result<(), StoreError> {
        let revision: i64 = to_sql_int("revision", service.revision)?;
        let replicas: i32 = to_sql_int("replicas", service.replicas)?;
        with_pool!(self, pool => {
            sqlx::query(UPSERT)
                .bind(&service.org)
                .bind(&service.stack)
                .bind(&service.service)
                .bind(revision)
                .bind(replicas)
                .bind(Json(&service.spec))
                .bind(&service.config_hash)
                .bind(service.updated_ms)
                .execute(pool)
                .await
                .op("upsert desired service")?;
        });
        Ok(())
    }

    /// Removes a service's desired state; returns whether it existed.
    pub async fn delete_desired_service(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => sqlx::query(DELETE)
            .bind(org)
            .bind(stack)
            .bind(service)
            .execute(pool)
            .await
            .op("delete desired service")?
            .rows_affected());
        Ok(deleted > 0)
    }

    /// The desired state of one service, if any.
    pub async fn get_desired_service(
        &self,
        org: &str,
        stack: &str,
        service: &str,
    ) -> Result<Option<DesiredService>, StoreError> {
        let scope = Scope::Service {
            org,
            stack,
            service,
        };
        Ok(self.list_desired_services(scope).await?.into_iter().next())
    }

    /// Every desired service in `scope`, ordered by org, stack and service.
    pub async fn list_desired_services(
        &self,
        scope: Scope<'_>,
    ) -> Result<Vec<DesiredService>, StoreError> {
        let rows: Vec<DesiredRow> = with_pool!(self, pool => {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM desired_services"));
            scope.push_where(&mut query);
            query.push(" ORDER BY org, stack, service");
            query
                .build_query_as()
                .fetch_all(pool)
                .await
                .op("list desired services")?
        });
        rows.into_iter().map(DesiredService::try_from).collect()
    }
}
