-- Kept revisions of every service (for rollback) and the state of each service's rolling
-- update (so an update interrupted by a crash resumes). Keep in step with the other backend.
CREATE TABLE service_revisions (
    org         TEXT    NOT NULL,
    stack       TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    revision    INTEGER NOT NULL CHECK (revision >= 1),
    spec        TEXT    NOT NULL CHECK (json_valid(spec)),
    config_hash TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (org, stack, service, revision)
);

CREATE TABLE rollouts (
    org           TEXT    NOT NULL,
    stack         TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    from_revision INTEGER NOT NULL,
    to_revision   INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('in-progress', 'completed', 'rolled-back', 'failed')),
    started_ms    INTEGER NOT NULL,
    progress_ms   INTEGER NOT NULL,
    PRIMARY KEY (org, stack, service)
);
