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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builds::{BuildRecord, BuildState};

    fn finished(id: &str, org: &str, started_ms: Option<i64>, finished_ms: i64) -> BuildRecord {
        BuildRecord {
            id: id.to_owned(),
            org: org.to_owned(),
            stack: "shop".to_owned(),
            service: "web".to_owned(),
            state: BuildState::Succeeded,
            trigger: "api".to_owned(),
            source: "git://example/repo.git".to_owned(),
            reference: None,
            commit: None,
            strategy: None,
            plan: None,
            image: None,
            image_size: None,
            deployed_revision: None,
            error: None,
            hint: None,
            queued_ms: 0,
            started_ms,
            finished_ms: Some(finished_ms),
        }
    }

    #[test]
    fn a_build_is_metered_in_whole_seconds_rounded_up() {
        let seconds =
            |ms: i64| BuildUsage::of("e", &finished("b-1", "acme", Some(1_000), 1_000 + ms));
        assert_eq!(seconds(0).map(|u| u.build_seconds), Some(0));
        assert_eq!(seconds(1).map(|u| u.build_seconds), Some(1));
        assert_eq!(seconds(1_000).map(|u| u.build_seconds), Some(1));
        assert_eq!(seconds(1_001).map(|u| u.build_seconds), Some(2));
        assert_eq!(seconds(125_000).map(|u| u.build_seconds), Some(125));
        // Never left the queue: nothing ran.
        assert_eq!(BuildUsage::of("e", &finished("b-2", "acme", None, 5)), None);
    }

    /// Writing a build's usage twice changes nothing; a period holds the builds that ended in
    /// it, start inclusive, end exclusive.
    #[tokio::test]
    async fn build_usage_is_written_once_and_read_by_end() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::open(&url).await?;
        let first = BuildUsage::of("e", &finished("b-1", "acme", Some(0), 61_500)).unwrap();
        assert!(store.insert_build_usage(&first).await?);
        let mut again = first.clone();
        again.build_seconds = 999;
        assert!(!store.insert_build_usage(&again).await?);
        let at_end = BuildUsage::of("e", &finished("b-2", "acme", Some(0), 3_600_000)).unwrap();
        store.insert_build_usage(&at_end).await?;
        let other = BuildUsage::of("e", &finished("b-3", "zeta", Some(0), 10)).unwrap();
        store.insert_build_usage(&other).await?;
        let first_hour = store
            .build_usage_of_orgs(Some(&["acme"]), 0, 3_600_000)
            .await?;
        assert_eq!(first_hour, vec![first]);
        let second_hour = store
            .build_usage_of_orgs(Some(&["acme"]), 3_600_000, 7_200_000)
            .await?;
        assert_eq!(second_hour, vec![at_end]);
        assert_eq!(
            store.build_usage_of_orgs(None, 0, 3_600_000).await?.len(),
            2
        );
        // An org with builds only is metered from its first build's end.
        assert!(
            store
                .metered_orgs()
                .await?
                .contains(&("zeta".to_owned(), 10))
        );
        Ok(())
    }
}
