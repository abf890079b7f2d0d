-- Windlass store, PostgreSQL flavour. Keep in step with ../sqlite/0001_initial.sql: same tables,
-- same columns, same indexes; only the types differ (JSON is JSONB here, TEXT there).

-- The event log. `idx` is assigned by the engine's single event writer (never by a sequence)
-- so an event's index is known before its row commits.
CREATE TABLE events (
    idx       BIGINT PRIMARY KEY,
    ts_ms     BIGINT NOT NULL,
    kind      TEXT   NOT NULL,
    org       TEXT,
    stack     TEXT,
    service   TEXT,
    container TEXT,
    payload   JSONB  NOT NULL DEFAULT '{}'::jsonb
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
    revision    BIGINT  NOT NULL CHECK (revision >= 0),
    replicas    INTEGER NOT NULL CHECK (replicas >= 0),
    spec        JSONB   NOT NULL,
    config_hash TEXT    NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    PRIMARY KEY (org, stack, service)
);

-- The engine's own memory of each container slot it manages (restart counts, back-off,
-- last exit code): what the runtime cannot tell it after a restart. No foreign key to
-- desired_services on purpose: a record outlives its service until the container is removed.
CREATE TABLE container_records (
    container_name   TEXT    PRIMARY KEY,
    org              TEXT    NOT NULL,
    stack            TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    slot             INTEGER NOT NULL CHECK (slot >= 0),
    container_id     TEXT,
    state            TEXT    NOT NULL,
    restart_count    INTEGER NOT NULL DEFAULT 0 CHECK (restart_count >= 0),
    last_exit_code   BIGINT,
    backoff_until_ms BIGINT,
    config_hash      TEXT    NOT NULL,
    updated_ms       BIGINT  NOT NULL
);
CREATE INDEX container_records_service ON container_records (org, stack, service, slot);
CREATE INDEX container_records_container_id ON container_records (container_id);

-- Small engine-wide facts: engine id, event-log watermarks.
CREATE TABLE engine_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
