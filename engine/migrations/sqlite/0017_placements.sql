-- Services placed on adapter targets (issue 16): one row per service the engine deployed
-- through a cloud adapter, with the platform's reference to it and what was deployed (the
-- revision and the replicas), so that a restarted engine knows what the platform runs instead
-- of deploying it twice, and finds what to remove once the service is no longer declared.
-- Written after the adapter's deploy answers; a crash in between leaves no row, and the next
-- pass's deploy finds the platform's object by its name (adapters deploy by name). Keep in
-- step with ../postgres/0017_placements.sql.
CREATE TABLE placements (
    org             TEXT    NOT NULL,
    stack           TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    deployment_id   TEXT    NOT NULL,
    deployment_name TEXT    NOT NULL,
    revision        INTEGER NOT NULL CHECK (revision >= 0),
    replicas        INTEGER NOT NULL CHECK (replicas >= 0),
    updated_ms      INTEGER NOT NULL,
    PRIMARY KEY (org, stack, service)
);
