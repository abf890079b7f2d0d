//! The `usage_intervals` and `metering_gaps` tables: what each container held and used per
//! metering interval, and the spans nobody metered.

use sqlx::QueryBuilder;

use super::Store;
use super::error::{QueryContext, StoreError};
use crate::billing::{MeteringGap, UsageInterval};

/// Rows per INSERT statement (14 bind parameters a row, far below either backend's limit).
const ROWS_PER_INSERT: usize = 1_000;

const COLUMNS: &str = "container, interval_start_ms, start_ms, end_ms, engine, org, stack, \
     service, cpu_millis, memory_bytes, disk_bytes, cpu_used_core_ms, memory_used_byte_s, \
     egress_bytes";

impl Store {
    /// Writes intervals in one transaction; an interval already stored (same container and
    /// aligned start) is left as it is. Returns how many rows were new.
    pub(crate) async fn insert_usage(&self, rows: &[UsageInterval]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut added = 0;
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.op("begin usage")?;
            for chunk in rows.chunks(ROWS_PER_INSERT) {
                let mut query = QueryBuilder::new(format!("INSERT INTO usage_intervals ({COLUMNS}) "));
                query.push_values(chunk, |mut row, u| {
                    row.push_bind(&u.container)
                        .push_bind(u.interval_start_ms)
                        .push_bind(u.start_ms)
                        .push_bind(u.end_ms)
                        .push_bind(&u.engine)
                        .push_bind(&u.org)
                        .push_bind(&u.stack)
                        .push_bind(&u.service)
                        .push_bind(u.cpu_millis)
                        .push_bind(u.memory_bytes)
                        .push_bind(u.disk_bytes)
                        .push_bind(u.cpu_used_core_ms)
                        .push_bind(u.memory_used_byte_s)
                        .push_bind(u.egress_bytes);
                });
                query.push(" ON CONFLICT (container, interval_start_ms) DO NOTHING");
                added += query.build().execute(&mut *tx).await.op("insert usage")?.rows_affected();
            }
            tx.commit().await.op("commit usage")?;
        });
        Ok(added)
    }

    /// Records a span the engine did not meter (idempotent by engine and start).
    pub(crate) async fn insert_gap(&self, gap: &MeteringGap) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO metering_gaps (engine, start_ms, end_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (engine, start_ms) DO NOTHING",
            )
            .bind(&gap.engine)
            .bind(gap.start_ms)
            .bind(gap.end_ms)
            .execute(pool)
            .await
            .op("insert metering gap")?;
        });
        Ok(())
    }

    /// Where `engine`'s metering last stopped: the latest end of its intervals and gaps.
    pub(crate) async fn metered_until(&self, engine: &str) -> Result<Option<i64>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(end_ms) FROM (\
                   SELECT MAX(end_ms) AS end_ms FROM usage_intervals WHERE engine = $1 \
                   UNION ALL SELECT MAX(end_ms) AS end_ms FROM metering_gaps WHERE engine = $1\
                 ) AS ends",
            )
            .bind(engine)
            .fetch_one(pool)
            .await
            .op("read metered-until")?
        }))
    }

    /// The intervals of `org` (every org when `None`) overlapping `from_ms..to_ms`, by
    /// start, container.
    pub(crate) async fn usage(
        &self,
        org: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UsageInterval>, StoreError> {
        // One statement per shape: PostgreSQL cannot type `$1 IS NULL` on its own.
        let by_org = if org.is_some() { "org = $3 AND" } else { "" };
        let sql = format!(
            "SELECT {COLUMNS} FROM usage_intervals \
             WHERE {by_org} end_ms > $1 AND start_ms < $2 ORDER BY org, start_ms, container"
        );
        Ok(with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(from_ms)
                .bind(to_ms);
            if let Some(org) = org {
                query = query.bind(org);
            }
            query
            .fetch_all(pool)
            .await
            .op("list usage")?
        }))
    }

    /// The intervals of every org in `orgs` overlapping `from_ms..to_ms`, by org, start,
    /// container: one statement per 500 orgs (a billing cycle reads a period of many orgs at
    /// once, on the `(org, start_ms)` index).
    pub(crate) async fn usage_of_orgs(
        &self,
        orgs: &[&str],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UsageInterval>, StoreError> {
        let mut all = Vec::new();
        for chunk in orgs.chunks(500) {
            let rows: Vec<UsageInterval> = with_pool!(self, pool => {
                let mut query = QueryBuilder::new(format!(
                    "SELECT {COLUMNS} FROM usage_intervals WHERE end_ms > "
                ));
                query.push_bind(from_ms).push(" AND start_ms < ").push_bind(to_ms);
                query.push(" AND org IN (");
                let mut list = query.separated(", ");
                for org in chunk {
                    list.push_bind(*org);
                }
                query.push(") ORDER BY org, start_ms, container");
                query
                    .build_query_as()
                    .fetch_all(pool)
                    .await
                    .op("list usage of orgs")?
            });
            all.extend(rows);
        }
        Ok(all)
    }

    /// The gaps of `engine` overlapping `from_ms..to_ms`.
    pub(crate) async fn gaps(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MeteringGap>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT engine, start_ms, end_ms FROM metering_gaps \
                 WHERE end_ms > $1 AND start_ms < $2 ORDER BY start_ms",
            )
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(pool)
            .await
            .op("list metering gaps")?
        }))
    }

    /// Every org with metered usage (intervals or builds) and where its first use starts (an
    /// interval's start, a build's end: where the cycle hands each).
    pub(crate) async fn metered_orgs(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT org, MIN(first_ms) FROM (\
                   SELECT org, MIN(start_ms) AS first_ms FROM usage_intervals GROUP BY org \
                   UNION ALL \
                   SELECT org, MIN(finished_ms) AS first_ms FROM build_usage GROUP BY org\
                 ) AS firsts GROUP BY org ORDER BY org",
            )
            .fetch_all(pool)
            .await
            .op("list metered orgs")?
        }))
    }
}
