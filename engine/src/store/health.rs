//! The `health_snapshots` table: each managed container's resource use and check states over
//! time, written in batches at the snapshot interval and pruned by age.

use sqlx::QueryBuilder;
use sqlx::types::Json;

use super::Store;
use super::error::{QueryContext, StoreError, to_sql_int};
use crate::health::{CheckSummary, HealthSnapshot, ResourceSample, ResourceStatus};

/// Rows per INSERT statement (PostgreSQL allows 65 535 bind parameters; 15 a row).
const ROWS_PER_INSERT: usize = 1_000;

#[derive(sqlx::FromRow)]
struct SnapshotRow {
    container: String,
    at_ms: i64,
    org: String,
    stack: String,
    service: String,
    status: String,
    cpu_percent: Option<f64>,
    memory_percent: Option<f64>,
    memory_bytes: i64,
    network_rx_bytes: i64,
    network_tx_bytes: i64,
    disk_rw_bytes: Option<i64>,
    disk_volume_bytes: Option<i64>,
    ready: Option<bool>,
    checks: Json<Vec<CheckSummary>>,
}

impl TryFrom<SnapshotRow> for HealthSnapshot {
    type Error = StoreError;

    fn try_from(row: SnapshotRow) -> Result<Self, StoreError> {
        let optional = |field, value: Option<i64>| value.map(|v| to_sql_int(field, v)).transpose();
        Ok(HealthSnapshot {
            org: row.org,
            stack: row.stack,
            service: row.service,
            resources: ResourceSample {
                status: ResourceStatus::parse(&row.status).ok_or_else(|| {
                    StoreError::OutOfRange {
                        field: "health_snapshots.status",
                        value: row.status.clone(),
                    }
                })?,
                container: row.container,
                at_ms: row.at_ms,
                cpu_percent: row.cpu_percent,
                memory_percent: row.memory_percent,
                memory_bytes: to_sql_int("health_snapshots.memory_bytes", row.memory_bytes)?,
                network_rx_bytes: to_sql_int(
                    "health_snapshots.network_rx_bytes",
                    row.network_rx_bytes,
                )?,
                network_tx_bytes: to_sql_int(
                    "health_snapshots.network_tx_bytes",
                    row.network_tx_bytes,
                )?,
                disk_rw_bytes: optional("health_snapshots.disk_rw_bytes", row.disk_rw_bytes)?,
                disk_volume_bytes: optional(
                    "health_snapshots.disk_volume_bytes",
                    row.disk_volume_bytes,
                )?,
            },
            ready: row.ready,
            checks: row.checks.0,
        })
    }
}

const COLUMNS: &str = "container, at_ms, org, stack, service, status, cpu_percent, \
     memory_percent, memory_bytes, network_rx_bytes, network_tx_bytes, disk_rw_bytes, \
     disk_volume_bytes, ready, checks";

impl Store {
    /// Writes snapshots in one transaction (a snapshot of the same container at the same
    /// millisecond replaces the earlier one).
    pub(crate) async fn insert_health_snapshots(
        &self,
        snapshots: &[HealthSnapshot],
    ) -> Result<(), StoreError> {
        if snapshots.is_empty() {
            return Ok(());
        }
        struct Bound<'a> {
            s: &'a HealthSnapshot,
            memory: i64,
            rx: i64,
            tx: i64,
            rw: Option<i64>,
            volumes: Option<i64>,
        }
        let optional = |field, v: Option<u64>| v.map(|v| to_sql_int(field, v)).transpose();
        let bound = snapshots
            .iter()
            .map(|s| {
                let r = &s.resources;
                Ok(Bound {
                    s,
                    memory: to_sql_int("memory_bytes", r.memory_bytes)?,
                    rx: to_sql_int("network_rx_bytes", r.network_rx_bytes)?,
                    tx: to_sql_int("network_tx_bytes", r.network_tx_bytes)?,
                    rw: optional("disk_rw_bytes", r.disk_rw_bytes)?,
                    volumes: optional("disk_volume_bytes", r.disk_volume_bytes)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin health snapshots")?;
            for chunk in bound.chunks(ROWS_PER_INSERT) {
                let mut query = QueryBuilder::new(format!("INSERT INTO health_snapshots ({COLUMNS}) "));
                query.push_values(chunk, |mut row, b| {
                    let r = &b.s.resources;
                    row.push_bind(&r.container)
                        .push_bind(r.at_ms)
                        .push_bind(&b.s.org)
                        .push_bind(&b.s.stack)
                        .push_bind(&b.s.service)
                        .push_bind(r.status.as_str())
                        .push_bind(r.cpu_percent)
                        .push_bind(r.memory_percent)
                        .push_bind(b.memory)
                        .push_bind(b.rx)
                        .push_bind(b.tx)
                        .push_bind(b.rw)
                        .push_bind(b.volumes)
                        .push_bind(b.s.ready)
                        .push_bind(Json(&b.s.checks));
                });
                query.push(
                    " ON CONFLICT (container, at_ms) DO UPDATE SET \
                     status = excluded.status, cpu_percent = excluded.cpu_percent, \
                     memory_percent = excluded.memory_percent, memory_bytes = excluded.memory_bytes, \
                     network_rx_bytes = excluded.network_rx_bytes, \
                     network_tx_bytes = excluded.network_tx_bytes, \
                     disk_rw_bytes = excluded.disk_rw_bytes, \
                     disk_volume_bytes = excluded.disk_volume_bytes, \
                     ready = excluded.ready, checks = excluded.checks",
                );
                query.build().execute(&mut *tx).await.op("insert health snapshots")?;
            }
            tx.commit().await.op("commit health snapshots")?;
        });
        Ok(())
    }

    /// One container's snapshots taken in `from_ms..=to_ms`, oldest first, at most `limit`.
    pub(crate) async fn health_history(
        &self,
        container: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<HealthSnapshot>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM health_snapshots \
             WHERE container = $1 AND at_ms >= $2 AND at_ms <= $3 ORDER BY at_ms LIMIT $4"
        );
        let rows: Vec<SnapshotRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(container)
                .bind(from_ms)
                .bind(to_ms)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .op("read health history")?
        });
        rows.into_iter().map(HealthSnapshot::try_from).collect()
    }

    /// Deletes snapshots taken before `before_ms`; returns how many.
    pub(crate) async fn prune_health_snapshots(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(
            with_pool!(self, pool => sqlx::query("DELETE FROM health_snapshots WHERE at_ms < $1")
            .bind(before_ms)
            .execute(pool)
            .await
            .op("prune health snapshots")?
            .rows_affected()),
        )
    }
}
