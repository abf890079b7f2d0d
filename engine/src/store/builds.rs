//! The `builds` table (one row per image build: state, commit, plan, image, log) and
//! `build_deliveries` (webhook deliveries already acknowledged).

use super::Store;
use super::error::{QueryContext, StoreError, to_sql_int};
use crate::builds::{BuildFilter, BuildRecord, BuildState, CommitInfo};

macro_rules! columns {
    () => {
        "id, org, stack, service, state, \"trigger\", source, reference, \
         commit_sha, commit_author, commit_message, strategy, plan, image, image_size, \
         deployed_revision, error, hint, queued_ms, started_ms, finished_ms"
    };
}

const GET: &str = concat!("SELECT ", columns!(), " FROM builds WHERE id = $1");
const BY_DEDUPE: &str = concat!("SELECT ", columns!(), " FROM builds WHERE dedupe_key = $1");
const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM builds WHERE ($1 IS NULL OR org = $1) AND ($2 IS NULL OR stack = $2) \
     AND ($3 IS NULL OR service = $3) ORDER BY queued_ms DESC, id DESC LIMIT $4"
);
const UNFINISHED: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM builds WHERE engine_id = $1 \
     AND state NOT IN ('succeeded', 'failed', 'cancelled') ORDER BY queued_ms"
);

const INSERT: &str = "INSERT INTO builds (id, engine_id, org, stack, service, state, \"trigger\", \
     source, reference, dedupe_key, queued_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";
const UPDATE: &str = "UPDATE builds SET state = $2, commit_sha = $3, commit_author = $4, \
     commit_message = $5, strategy = $6, plan = $7, image = $8, image_size = $9, \
     deployed_revision = $10, error = $11, hint = $12, started_ms = $13, finished_ms = $14 \
     WHERE id = $1";
const SET_LOG: &str = "UPDATE builds SET log = $2 WHERE id = $1";
const GET_LOG: &str = "SELECT log FROM builds WHERE id = $1";
const RECORD_DELIVERY: &str = "INSERT INTO build_deliveries (provider, delivery_id, received_ms) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

#[derive(sqlx::FromRow)]
struct BuildRow {
    id: String,
    org: String,
    stack: String,
    service: String,
    state: String,
    trigger: String,
    source: String,
    reference: Option<String>,
    commit_sha: Option<String>,
    commit_author: Option<String>,
    commit_message: Option<String>,
    strategy: Option<String>,
    plan: Option<String>,
    image: Option<String>,
    image_size: Option<i64>,
    deployed_revision: Option<i64>,
    error: Option<String>,
    hint: Option<String>,
    queued_ms: i64,
    started_ms: Option<i64>,
    finished_ms: Option<i64>,
}

impl BuildRow {
    fn into_record(self) -> Result<BuildRecord, StoreError> {
        let state = BuildState::parse(&self.state).ok_or_else(|| StoreError::OutOfRange {
            field: "builds.state",
            value: self.state.clone(),
        })?;
        let commit = self.commit_sha.map(|sha| CommitInfo {
            sha,
            author: self.commit_author.unwrap_or_default(),
            message: self.commit_message.unwrap_or_default(),
        });
        Ok(BuildRecord {
            id: self.id,
            org: self.org,
            stack: self.stack,
            service: self.service,
            state,
            trigger: self.trigger,
            source: self.source,
            reference: self.reference,
            commit,
            strategy: self.strategy,
            plan: self.plan.and_then(|p| serde_json::from_str(&p).ok()),
            image: self.image,
            image_size: self.image_size,
            deployed_revision: self
                .deployed_revision
                .map(|r| to_sql_int("builds.deployed_revision", r))
                .transpose()?,
            error: self.error,
            hint: self.hint,
            queued_ms: self.queued_ms,
            started_ms: self.started_ms,
            finished_ms: self.finished_ms,
        })
    }
}

impl Store {
    /// Inserts a new build of engine `engine_id`. With a `dedupe_key` already taken by
    /// another build nothing is inserted and `false` returned.
    pub(crate) async fn insert_build(
        &self,
        engine_id: &str,
        build: &BuildRecord,
        dedupe_key: Option<&str>,
    ) -> Result<bool, StoreError> {
        let inserted = with_pool!(self, pool => sqlx::query(INSERT)
            .bind(&build.id)
            .bind(engine_id)
            .bind(&build.org)
            .bind(&build.stack)
            .bind(&build.service)
            .bind(build.state.as_str())
            .bind(&build.trigger)
            .bind(&build.source)
            .bind(&build.reference)
            .bind(dedupe_key)
            .bind(build.queued_ms)
            .execute(pool)
            .await
            .op("insert build")?
            .rows_affected());
        Ok(inserted > 0)
    }

    /// Writes every mutable column of `build`.
    pub(crate) async fn update_build(&self, build: &BuildRecord) -> Result<(), StoreError> {
        let plan = build.plan.as_ref().map(|p| p.to_string());
        let revision: Option<i64> = build
            .deployed_revision
            .map(|r| to_sql_int("builds.deployed_revision", r))
            .transpose()?;
        let commit = build.commit.as_ref();
        with_pool!(self, pool => sqlx::query(UPDATE)
            .bind(&build.id)
            .bind(build.state.as_str())
            .bind(commit.map(|c| c.sha.as_str()))
            .bind(commit.map(|c| c.author.as_str()))
            .bind(commit.map(|c| c.message.as_str()))
            .bind(&build.strategy)
            .bind(&plan)
            .bind(&build.image)
            .bind(build.image_size)
            .bind(revision)
            .bind(&build.error)
            .bind(&build.hint)
            .bind(build.started_ms)
            .bind(build.finished_ms)
            .execute(pool)
            .await
            .op("update build")
            .map(drop))
    }

    /// Replaces a build's stored log.
    pub(crate) async fn set_build_log(&self, id: &str, log: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query(SET_LOG)
            .bind(id)
            .bind(log)
            .execute(pool)
            .await
            .op("set build log")
            .map(drop))
    }

    /// A build's stored log; `None` for an unknown build.
    pub(crate) async fn build_log(&self, id: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => sqlx::query_scalar(GET_LOG)
            .bind(id)
            .fetch_optional(pool)
            .await
            .op("get build log"))
    }

    /// One build.
    pub(crate) async fn get_build(&self, id: &str) -> Result<Option<BuildRecord>, StoreError> {
        let row: Option<BuildRow> = with_pool!(self, pool => sqlx::query_as(GET)
            .bind(id)
            .fetch_optional(pool)
            .await
            .op("get build")?);
        row.map(BuildRow::into_record).transpose()
    }

    /// The build holding `dedupe_key`.
    pub(crate) async fn build_by_dedupe_key(
        &self,
        key: &str,
    ) -> Result<Option<BuildRecord>, StoreError> {
        let row: Option<BuildRow> = with_pool!(self, pool => sqlx::query_as(BY_DEDUPE)
            .bind(key)
            .fetch_optional(pool)
            .await
            .op("get build by dedupe key")?);
        row.map(BuildRow::into_record).transpose()
    }

    /// Builds matching `filter`, newest first.
    pub(crate) async fn list_builds(
        &self,
        filter: &BuildFilter,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        let limit = i64::from(filter.limit.unwrap_or(100).clamp(1, 10_000));
        let rows: Vec<BuildRow> = with_pool!(self, pool => sqlx::query_as(LIST)
            .bind(&filter.org)
            .bind(&filter.stack)
            .bind(&filter.service)
            .bind(limit)
            .fetch_all(pool)
            .await
            .op("list builds")?);
        rows.into_iter().map(BuildRow::into_record).collect()
    }

    /// The builds of `engine_id` in a non-terminal state (after a crash: what was cut off).
    pub(crate) async fn unfinished_builds(
        &self,
        engine_id: &str,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        let rows: Vec<BuildRow> = with_pool!(self, pool => sqlx::query_as(UNFINISHED)
            .bind(engine_id)
            .fetch_all(pool)
            .await
            .op("list unfinished builds")?);
        rows.into_iter().map(BuildRow::into_record).collect()
    }

    /// Records a webhook delivery; `false` when it was seen before.
    pub(crate) async fn record_delivery(
        &self,
        provider: &str,
        delivery_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = with_pool!(self, pool => sqlx::query(RECORD_DELIVERY)
            .bind(provider)
            .bind(delivery_id)
            .bind(now_ms)
            .execute(pool)
            .await
            .op("record webhook delivery")?
            .rows_affected());
        Ok(inserted > 0)
    }
}
