//! The `container_records` table: the engine's memory of each container slot it manages.
//!
//! The runtime tells the engine what exists; these records tell it what the runtime cannot
//! remember across an engine restart: restart counts, back-off deadlines, last exit codes.

use sqlx::QueryBuilder;

use super::error::{QueryContext, StoreError, to_sql_int};
use super::{Scope, Store};

/// What the engine remembers about one container slot of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRecord {
    /// The container's name on the runtime; unique per engine.
    pub container_name: String,
    /// Owning organisation.
    pub org: String,
    /// Stack within the org.
    pub stack: String,
    /// Service within the stack.
    pub service: String,
    /// Replica slot, `0..replicas`.
    pub slot: u32,
    /// The runtime's container id, once created.
    pub container_id: Option<String>,
    /// Lifecycle state as its stable text form (owned by the lifecycle state machine).
    pub state: String,
    /// Restarts since the restart policy last reset.
    pub restart_count: u32,
    /// Exit code of the last run, if it has exited.
    pub last_exit_code: Option<i64>,
    /// No restart before this instant (ms since the Unix epoch), if backing off.
    pub backoff_until_ms: Option<i64>,
    /// Config hash the container was created with.
    pub config_hash: String,
    /// When this row was last written, in milliseconds since the Unix epoch.
    pub updated_ms: i64,
}

#[derive(sqlx::FromRow)]
struct ContainerRow {
    container_name: String,
    org: String,
    stack: String,
    service: String,
    slot: i32,
    container_id: Option<String>,
    state: String,
    restart_count: i32,
    last_exit_code: Option<i64>,
    backoff_until_ms: Option<i64>,
    config_hash: String,
    updated_ms: i64,
}

impl TryFrom<ContainerRow> for ContainerRecord {
    type Error = StoreError;

    fn try_from(row: ContainerRow) -> Result<Self, StoreError> {
        Ok(ContainerRecord {
            container_name: row.container_name,
            org: row.org,
            stack: row.stack,
            service: row.service,
            slot: to_sql_int("container_records.slot", row.slot)?,
            container_id: row.container_id,
            state: row.state,
            restart_count: to_sql_int("container_records.restart_count", row.restart_count)?,
            last_exit_code: row.last_exit_code,
            backoff_until_ms: row.backoff_until_ms,
            config_hash: row.config_hash,
            updated_ms: row.updated_ms,
        })
    }
}

const COLUMNS: &str = "container_name, org, stack, service, slot, container_id, state, \
     restart_count, last_exit_code, backoff_until_ms, config_hash, updated_ms";

const UPSERT: &str = "INSERT INTO container_records \
     (container_name, org, stack, service, slot, container_id, state, restart_count, \
      last_exit_code, backoff_until_ms, config_hash, updated_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (container_name) DO UPDATE SET \
     org = excluded.org, stack = excluded.stack, service = excluded.service, \
     slot = excluded.slot, container_id = excluded.container_id, state = excluded.state, \
     restart_count = excluded.restart_count, last_exit_code = excluded.last_exit_code, \
     backoff_until_ms = excluded.backoff_until_ms, config_hash = excluded.config_hash, \
     updated_ms = excluded.updated_ms";

const DELETE: &str = "DELETE FROM container_records WHERE container_name = $1";

impl Store {
    /// Inserts or replaces the record of `record.container_name`.
    pub async fn upsert_container_record(
        &self,
        record: &ContainerRecord,
    ) -> Result<(), StoreError> {
        let slot: i32 = to_sql_int("slot", record.slot)?;
        let restart_count: i32 = to_sql_int("restart_count", record.restart_count)?;
        with_pool!(self, pool => {
            sqlx::query(UPSERT)
                .bind(&record.container_name)
                .bind(&record.org)
                .bind(&record.stack)
                .bind(&record.service)
                .bind(slot)
                .bind(&record.container_id)
                .bind(&record.state)
                .bind(restart_count)
                .bind(record.last_exit_code)
                .bind(record.backoff_until_ms)
                .bind(&record.config_hash)
                .bind(record.updated_ms)
                .execute(pool)
                .await
                .op("upsert container record")?;
        });
        Ok(())
    }

    /// The record of one container, by name.
    pub async fn get_container_record(
        &self,
        container_name: &str,
    ) -> Result<Option<ContainerRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM container_records WHERE container_name = $1");
        let row: Option<ContainerRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(container_name)
                .fetch_optional(pool)
                .await
                .op("get container record")?
        });
        row.map(ContainerRecord::try_from).transpose()
    }

    /// Every record in `scope`, ordered by org, stack, service, slot and name.
    pub async fn list_container_records(
        &self,
        scope: Scope<'_>,
    ) -> Result<Vec<ContainerRecord>, StoreError> {
        let rows: Vec<ContainerRow> = with_pool!(self, pool => {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM container_records"));
            scope.push_where(&mut query);
            query.push(" ORDER BY org, stack, service, slot, container_name");
            query
                .build_query_as()
                .fetch_all(pool)
                .await
                .op("list container records")?
        });
        rows.into_iter().map(ContainerRecord::try_from).collect()
    }

    /// Forgets a container; returns whether a record existed.
    pub async fn delete_container_record(&self, container_name: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => sqlx::query(DELETE)
            .bind(container_name)
            .execute(pool)
            .await
            .op("delete container record")?
            .rows_affected());
        Ok(deleted > 0)
    }
}
