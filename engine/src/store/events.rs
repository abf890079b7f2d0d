//! The `events` table: batch inserts for the event writer, ordered reads for history and
//! subscriptions, and prefix deletes for retention.
//!
//! Only the event log (`crate::events`) calls these: it alone assigns indexes, so nothing here
//! generates one. Retention only ever deletes a prefix (`idx < boundary`), so what remains is
//! always a contiguous run of indexes, and the boundary is recorded in `engine_meta` so that a
//! fully pruned log still continues its numbering after a restart.

use serde_json::Value;
use sqlx::pool::PoolConnection;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder, Sqlite};

use super::error::{QueryContext, StoreError, to_sql_int};
use super::{Backend, Store};
use crate::events::{Event, EventFilter};

/// `engine_meta` key: every event below this index has been pruned.
const PRUNED_BELOW_KEY: &str = "events.pruned_below";

/// Rows deleted per statement when pruning, so one prune never holds the write lock long.
const PRUNE_CHUNK: u64 = 10_000;

const COLUMNS: &str = "idx, ts_ms, kind, org, stack, service, container, payload";

// One statement per batch, whatever its size, so the statement is prepared once per connection.
// SQLite has no arrays: the batch travels as one JSON array of rows, unpacked by json_each. The
// payload rides along as a JSON *string* so that its text is stored exactly as serialized.
const INSERT_SQLITE: &str = "INSERT INTO events \
     (idx, ts_ms, kind, org, stack, service, container, payload) \
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
            value ->> 6, value ->> 7 \
     FROM json_each($1)";

const INSERT_POSTGRES: &str = "INSERT INTO events \
     (idx, ts_ms, kind, org, stack, service, container, payload) \
     SELECT idx, ts_ms, kind, org, stack, service, container, payload::jsonb \
     FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::text[], $8::text[]) \
          AS e(idx, ts_ms, kind, org, stack, service, container, payload)";

const MAX_INDEX: &str = "SELECT MAX(idx) FROM events";
const MIN_INDEX: &str = "SELECT MIN(idx) FROM events";
const FIRST_AT_OR_AFTER_TS: &str =
    "SELECT idx FROM events WHERE ts_ms >= $1 ORDER BY ts_ms, idx LIMIT 1";
const NTH_NEWEST: &str = "SELECT idx FROM events ORDER BY idx DESC LIMIT 1 OFFSET $1";
const DELETE_BELOW: &str = "DELETE FROM events WHERE idx < $1";
const RAISE_PRUNED_BELOW: &str = "INSERT INTO engine_meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value \
     WHERE CAST(engine_meta.value AS BIGINT) < CAST(excluded.value AS BIGINT)";

#[derive(sqlx::FromRow)]
struct EventRow {
    idx: i64,
    ts_ms: i64,
    kind: String,
    org: Option<String>,
    stack: Option<String>,
    service: Option<String>,
    container: Option<String>,
    payload: Json<Value>,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self, StoreError> {
        Ok(Event {
            index: to_sql_int("events.idx", row.idx)?,
            ts_ms: row.ts_ms,
            kind: row.kind,
            org: row.org,
            stack: row.stack,
            service: row.service,
            container: row.container,
            payload: row.payload.0,
        })
    }
}

/// An index as a bind value; indexes beyond `i64::MAX` saturate (no row has one).
fn sql_index(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn from_sql_index(index: Option<i64>) -> Result<Option<u64>, StoreError> {
    index.map(|i| to_sql_int("events.idx", i)).transpose()
}

impl Store {
    /// A connection reserved for inserting events, so that the writer does not pay a pool
    /// checkout (and its liveness pings) per batch.
    pub(crate) async fn event_sink(&self) -> Result<EventSink, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite(pool) => {
                EventSink::Sqlite(pool.acquire().await.op("reserve event writer connection")?)
            }
            Backend::Postgres(pool) => {
                EventSink::Postgres(pool.acquire().await.op("reserve event writer connection")?)
            }
        })
    }

    /// Up to `limit` events with `from <= index < until` (no upper bound if `until` is `None`)
    /// that match `filter`'s org, stack and kind, in index order. `filter`'s own `from_index`
    /// and `limit` are ignored: callers page explicitly.
    pub(crate) async fn read_events(
        &self,
        from: u64,
        until: Option<u64>,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM events WHERE idx >= "));
            query.push_bind(sql_index(from));
            if let Some(until) = until {
                query.push(" AND idx < ").push_bind(sql_index(until));
            }
            if let Some(org) = &filter.org {
                query.push(" AND org = ").push_bind(org.as_str());
            }
            if let Some(stack) = &filter.stack {
                query.push(" AND stack = ").push_bind(stack.as_str());
            }
            if let Some(kind) = &filter.kind {
                query.push(" AND kind = ").push_bind(kind.as_str());
            }
            query.push(" ORDER BY idx LIMIT ").push_bind(i64::from(limit));
            query
                .build_query_as()
                .fetch_all(pool)
                .await
                .op("read events")?
        });
        rows.into_iter().map(Event::try_from).collect()
    }

    /// The index the next event must get: one past the highest stored or pruned index, and at
    /// least 1.
    pub(crate) async fn next_event_index(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(MAX_INDEX)
            .fetch_one(pool)
            .await
            .op("read max event index")?);
        let after_max = from_sql_index(max)?.map_or(1, |max| max.saturating_add(1));
        let pruned_below = match self.get_meta(PRUNED_BELOW_KEY).await? {
            Some(value) => value.parse::<u64>().map_err(|_| StoreError::OutOfRange {
                field: "engine_meta.events.pruned_below",
                value,
            })?,
            None => 0,
        };
        Ok(after_max.max(pruned_below).max(1))
    }

    /// The lowest stored index, if any event is stored.
    pub(crate) async fn first_event_index(&self) -> Result<Option<u64>, StoreError> {
        let min: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(MIN_INDEX)
            .fetch_one(pool)
            .await
            .op("read min event index")?);
        from_sql_index(min)
    }

    /// The index of the first event stamped at or after `ts_ms`, if any.
    pub(crate) async fn first_event_index_since(
        &self,
        ts_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        let idx: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(FIRST_AT_OR_AFTER_TS)
            .bind(ts_ms)
            .fetch_optional(pool)
            .await
            .op("find event by timestamp")?);
        from_sql_index(idx)
    }

    /// The index of the `n`-th newest event (`n = 1` is the newest), if that many are stored.
    pub(crate) async fn nth_newest_event_index(&self, n: u64) -> Result<Option<u64>, StoreError> {
        let Some(offset) = n.checked_sub(1) else {
            return Ok(None);
        };
        let offset: i64 = to_sql_int("offset", offset)?;
        let idx: Option<i64> = with_pool!(self, pool => sqlx::query_scalar(NTH_NEWEST)
            .bind(offset)
            .fetch_optional(pool)
            .await
            .op("find nth newest event")?);
        from_sql_index(idx)
    }

    /// Deletes every event with `index < boundary`, in chunks; returns how many were deleted.
    ///
    /// The boundary is recorded first, so even if every event goes (or the engine stops
    /// half-way) the next index never falls back below it.
    pub(crate) async fn delete_events_below(&self, boundary: u64) -> Result<u64, StoreError> {
        let Some(mut low) = self.first_event_index().await? else {
            return Ok(0);
        };
        if low >= boundary {
            return Ok(0);
        }
        let boundary_text = boundary.to_string();
        with_pool!(self, pool => sqlx::query(RAISE_PRUNED_BELOW)
            .bind(PRUNED_BELOW_KEY)
            .bind(boundary_text.as_str())
            .execute(pool)
            .await
            .op("record prune boundary")
            .map(drop))?;
        let mut deleted = 0;
        while low < boundary {
            let high = boundary.min(low.saturating_add(PRUNE_CHUNK));
            deleted += with_pool!(self, pool => sqlx::query(DELETE_BELOW)
                .bind(sql_index(high))
                .execute(pool)
                .await
                .op("prune events")?
                .rows_affected());
            low = high;
        }
        Ok(deleted)
    }
}

/// The event writer's own connection; see [`Store::event_sink`].
#[derive(Debug)]
pub(crate) enum EventSink {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl EventSink {
    /// Inserts `events` in one statement (hence one transaction): all of them or none.
    ///
    /// After an error the connection's state is unknown: drop the sink and reserve a new one.
    pub(crate) async fn insert_events(&mut self, events: &[Event]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        match self {
            EventSink::Sqlite(conn) => {
                let rows = sqlite_rows(events)?;
                sqlx::query(INSERT_SQLITE)
                    .bind(rows)
                    .execute(&mut **conn)
                    .await
                    .op("insert events")?;
            }
            EventSink::Postgres(conn) => {
                let n = events.len();
                let mut idx = Vec::with_capacity(n);
                let mut ts_ms = Vec::with_capacity(n);
                let mut kind = Vec::with_capacity(n);
                let mut org = Vec::with_capacity(n);
                let mut stack = Vec::with_capacity(n);
                let mut service = Vec::with_capacity(n);
                let mut container = Vec::with_capacity(n);
                let mut payload = Vec::with_capacity(n);
                for event in events {
                    idx.push(to_sql_int::<u64, i64>("events.idx", event.index)?);
                    ts_ms.push(event.ts_ms);
                    kind.push(event.kind.as_str());
                    org.push(event.org.as_deref());
                    stack.push(event.stack.as_deref());
                    service.push(event.service.as_deref());
                    container.push(event.container.as_deref());
                    payload.push(serde_json::to_string(&event.payload).map_err(|source| {
                        StoreError::Json {
                            field: "events.payload",
                            source,
                        }
                    })?);
                }
                sqlx::query(INSERT_POSTGRES)
                    .bind(idx)
                    .bind(ts_ms)
                    .bind(kind)
                    .bind(org)
                    .bind(stack)
                    .bind(service)
                    .bind(container)
                    .bind(payload)
                    .execute(&mut **conn)
                    .await
                    .op("insert events")?;
            }
        }
        Ok(())
    }
}

/// The SQLite batch encoding read by [`INSERT_SQLITE`]: `[[idx, ts, kind, org, stack, service,
/// container, "payload json"], …]`.
fn sqlite_rows(events: &[Event]) -> Result<String, StoreError> {
    type Row<'a> = (
        u64,
        i64,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        String,
    );
    let json_error = |source| StoreError::Json {
        field: "events.payload",
        source,
    };
    let rows = events
        .iter()
        .map(|event| {
            if i64::try_from(event.index).is_err() {
                return Err(StoreError::OutOfRange {
                    field: "events.idx",
                    value: event.index.to_string(),
                });
            }
            Ok((
                event.index,
                event.ts_ms,
                event.kind.as_str(),
                event.org.as_deref(),
                event.stack.as_deref(),
                event.service.as_deref(),
                event.container.as_deref(),
                serde_json::to_string(&event.payload).map_err(json_error)?,
            ))
        })
        .collect::<Result<Vec<Row<'_>>, StoreError>>()?;
    serde_json::to_string(&rows).map_err(json_error)
}
