//! The `build_usage` table: the wall seconds each build ran, metered once per build.

use sqlx::QueryBuilder;

use super::Store;
use super::error::{QueryContext, StoreError};
use crate::billing::BuildUsage;

const COLUMNS: &str = "build, engine, org, stack, service, started_ms, finished_ms, build_seconds";

impl Store {
    /// Meters a finished build; a build already metered is left as it is. Returns whether the
    /// row is new.
    pub(crate) async fn insert_build_usage(&self, u: &BuildUsage) -> Result<bool, StoreError> {
        let sql = format!(
            "INSERT INTO build_usage ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (build) DO NOTHING"
        );
        let added = with_pool!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&u.build)
                .bind(&u.engine)
                .bind(&u.org)
                .bind(&u.stack)
                .bind(&u.service)
                .bind(u.started_ms)
                .bind(u.finished_ms)
                .bind(u.build_seconds)
                .execute(pool)
                .await
                .op("insert build usage")?
                .rows_affected()
        });
        Ok(added > 0)
    }

    /// The builds of every org in `orgs` (every org when `None`) that ended in
    /// `from_ms..to_ms` (start inclusive), by org, end, build.
    pub(crate) async fn build_usage_of_orgs(
        &self,
        orgs: Option<&[&str]>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<BuildUsage>, StoreError> {
        let all_orgs = [None];
        let chunks: Vec<Option<&[&str]>> = match orgs {
            Some(orgs) => orgs.chunks(500).map(Some).collect(),
            None => all_orgs.to_vec(),
        };
        let mut all = Vec::new();
        for chunk in chunks {
            let rows: Vec<BuildUsage> = with_pool!(self, pool => {
                let mut query = QueryBuilder::new(format!(
                    "SELECT {COLUMNS} FROM build_usage WHERE finished_ms >= "
                ));
                query.push_bind(from_ms).push(" AND finished_ms < ").push_bind(to_ms);
                if let Some(chunk) = chunk {
                    query.push(" AND org IN (");
                    let mut list = query.separated(", ");
                    for org in chunk {
                        list.push_bind(*org);
                    }
                    query.push(")");
                }
                query.push(" ORDER BY org, finished_ms, build");
                query
                    .build_query_as()
                    .fetch_all(pool)
                    .await
                    .op("list build usage")?
            });
            all.extend(rows);
        }
        Ok(all)
    }
}
