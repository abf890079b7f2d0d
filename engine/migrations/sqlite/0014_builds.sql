-- Image builds from source (issue 14): one row per build, its state machine
-- (queued → cloning → detecting → building → succeeded | failed | cancelled), what was built
-- (the commit), how (the strategy's plan), what came out (the image) and the full log.
-- `dedupe_key` makes a webhook's push of one commit build once however often it is delivered.
-- Keep in step with ../postgres/0014_builds.sql.
CREATE TABLE builds (
    id                TEXT    NOT NULL PRIMARY KEY,
    engine_id         TEXT    NOT NULL,
    org               TEXT    NOT NULL,
    stack             TEXT    NOT NULL,
    service           TEXT    NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN
        ('queued', 'cloning', 'detecting', 'building', 'succeeded', 'failed', 'cancelled')),
    "trigger"         TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    reference         TEXT,
    commit_sha        TEXT,
    commit_author     TEXT,
    commit_message    TEXT,
    strategy          TEXT,
    plan              TEXT,
    image             TEXT,
    image_size        INTEGER,
    deployed_revision INTEGER,
    error             TEXT,
    hint              TEXT,
    dedupe_key        TEXT    UNIQUE,
    log               TEXT    NOT NULL DEFAULT '',
    queued_ms         INTEGER NOT NULL,
    started_ms        INTEGER,
    finished_ms       INTEGER
);
CREATE INDEX builds_by_service ON builds (org, stack, service, queued_ms);
CREATE INDEX builds_by_state ON builds (engine_id, state);

-- Webhook deliveries already acknowledged, by provider and delivery id: a redelivery is
-- acknowledged again and builds nothing.
CREATE TABLE build_deliveries (
    provider    TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (provider, delivery_id)
);
