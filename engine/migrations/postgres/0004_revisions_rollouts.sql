-- Kept revisions of every service (for rollback) and the state of each service's rolling
-- update (so an update interrupted by a crash resumes). Keep in step with the other backend.
CREATE TABLE service_revisions (
    org         TEXT    NOT NULL,
    stack       TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    revision    BIGINT NOT NULL CHECK (revision >= 1),
    spec        JSONB    NOT NULL,
    config_hash TEXT    NOT NULL,
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (org, stack, service, revision)
);

CREATE TABLE rollouts (
    org           TEXT    NOT NULL,
    stack         TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    from_revision BIGINT NOT NULL,
    to_revision   BIGINT NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('in-progress', 'completed', 'rolled-back', 'failed')),
    started_ms    BIGINT NOT NULL,
    progress_ms   BIGINT NOT NULL,
    PRIMARY KEY (org, stack, service)
);
