//! The `org_quotas` table: an organisation's limits set through the API, replacing the file's.

use super::Store;
use super::error::{QueryContext, StoreError, to_sql_int};
use crate::billing::Quotas;

type Row = (
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

fn to_i64(field: &'static str, v: Option<u64>) -> Result<Option<i64>, StoreError> {
    v.map(|v| to_sql_int(field, v)).transpose()
}

impl Store {
    /// `org`'s stored limits, when it has any.
    pub(crate) async fn org_quotas(&self, org: &str) -> Result<Option<Quotas>, StoreError> {
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT cpu_millis, memory_bytes, disk_bytes, containers, services, \
                 monthly_spend_minor FROM org_quotas WHERE org = $1",
            )
            .bind(org)
            .fetch_optional(pool)
            .await
            .op("read org quotas")?
        });
        Ok(row.map(|(cpu, memory, disk, containers, services, spend)| {
            let mut q = Quotas::unlimited();
            q.cpu_millis = to_u64(cpu);
            q.memory_bytes = to_u64(memory);
            q.disk_bytes = to_u64(disk);
            q.containers = to_u64(containers);
            q.services = to_u64(services);
            q.monthly_spend_minor = to_u64(spend);
            q
        }))
    }

    /// Stores `org`'s limits (replacing what it had).
    pub(crate) async fn set_org_quotas(
        &self,
        org: &str,
        quotas: &Quotas,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let values = [
            to_i64("org_quotas.cpu_millis", quotas.cpu_millis)?,
            to_i64("org_quotas.memory_bytes", quotas.memory_bytes)?,
            to_i64("org_quotas.disk_bytes", quotas.disk_bytes)?,
            to_i64("org_quotas.containers", quotas.containers)?,
            to_i64("org_quotas.services", quotas.services)?,
            to_i64("org_quotas.monthly_spend_minor", quotas.monthly_spend_minor)?,
        ];
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO org_quotas (org, cpu_millis, memory_bytes, disk_bytes, containers, \
                 services, monthly_spend_minor, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (org) DO UPDATE SET cpu_millis = excluded.cpu_millis, \
                 memory_bytes = excluded.memory_bytes, disk_bytes = excluded.disk_bytes, \
                 containers = excluded.containers, services = excluded.services, \
                 monthly_spend_minor = excluded.monthly_spend_minor, \
                 updated_ms = excluded.updated_ms",
            )
            .bind(org)
            .bind(values[0])
            .bind(values[1])
            .bind(values[2])
            .bind(values[3])
            .bind(values[4])
            .bind(values[5])
            .bind(now_ms)
            .execute(pool)
            .await
            .op("store org quotas")?;
        });
        Ok(())
    }

    /// What `org` was charged for periods starting at or after `from_ms` (minor units).
    pub(crate) async fn charged_since(&self, org: &str, from_ms: i64) -> Result<i64, StoreError> {
        let total: Option<i64> = with_pool!(self, pool => {
            sqlx::query_scalar(
                "SELECT CAST(SUM(total_minor) AS BIGINT) FROM invoices \
                 WHERE org = $1 AND period_start_ms >= $2",
            )
            .bind(org)
            .bind(from_ms)
            .fetch_one(pool)
            .await
            .op("sum invoices")?
        });
        Ok(total.unwrap_or(0))
    }
}
