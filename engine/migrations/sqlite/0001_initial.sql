-- Windlass store, SQLite flavour. Keep in step with ../postgres/0001_initial.sql: same tables,
-- same columns, same indexes; only the types differ (JSON is TEXT here, JSONB there).

-- The event log. `idx` is assigned by the engine's single event writer (never by the database)
-- so an event's index is known before its row commits. INTEGER PRIMARY KEY makes it the rowid:
-- 64-bit, ordered, and the cheapest possible key for range scans.
CREATE TABLE events (
    idx       INTEGER PRIMARY KEY NOT NULL,
    ts_ms     INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    org       TEXT,
    stack     TEXT,
    service   TEXT,
    container TEXT,
    payload   TEXT    NOT NULL DEFAULT '{}'
);
-- Filtered history and filtered subscriptions page by (filter column, idx).
CREATE INDEX events_org_idx   ON events (org, idx);
CREATE INDEX events_stack_idx ON events (stack, idx);
CREATE INDEX events_kind_idx  ON events (kind, idx);
-- Age-based retention finds its cut-off by timestamp.
CREATE INDEX events_ts_ms     ON events (ts_ms);

-- Desired state: what the operator asked for, one row per service. Actual state is never
-- stored here; it is read from the runtime.
CREATE TABLE desired_services (
    org         TEXT    NOT NULL,
    stack       TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    revision    INTEGER NOT NULL CHECK (revision >= 0),
    replicas    INTEGER NOT NULL CHECK (replicas >= 0),
    spec        TEXT    NOT NULL CHECK (json_valid(spec)),
    config_hash TEXT    NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (org, stack, service)
);

-- The engine's own memory of each container slot it manages (restart counts, back-off,
-- last exit code): what the runtime cannot tell it after a restart. No foreign key to
-- desired_services on purpose: a record outlives its service until the container is removed.
CREATE TABLE container_records (
    container_name   TEXT    PRIMARY KEY NOT NULL,
    org              TEXT    NOT NULL,
    stack            TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    slot             INTEGER NOT NULL CHECK (slot >= 0),
    container_id     TEXT,
    state            TEXT    NOT NULL,
    restart_count    INTEGER NOT NULL DEFAULT 0 CHECK (restart_count >= 0),
    last_exit_code   INTEGER,
    backoff_until_ms INTEGER,
    config_hash      TEXT    NOT NULL,
    updated_ms       INTEGER NOT NULL
);
CREATE INDEX container_records_service ON container_records (org, stack, service, slot);
CREATE INDEX container_records_container_id ON container_records (container_id);

-- Small engine-wide facts: engine id, event-log watermarks.
CREATE TABLE engine_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
