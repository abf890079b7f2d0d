-- Build seconds metered per organisation (issue 15): one row per build that ran, written when
-- it reaches a terminal state, keyed by the build's id, so writing it again (a replayed
-- transition, a second engine) changes nothing. Kept apart from `builds` as `usage_intervals`
-- is kept apart from the containers: what was metered stays as it was metered, whatever later
-- happens to the build's record. The billing cycle of the period holding `finished_ms` hands it
-- to the org's rule. Keep in step with ../postgres/0016_build_usage.sql.
CREATE TABLE build_usage (
    build         TEXT    NOT NULL PRIMARY KEY,
    engine        TEXT    NOT NULL,
    org           TEXT    NOT NULL,
    stack         TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    started_ms    INTEGER NOT NULL,
    finished_ms   INTEGER NOT NULL CHECK (finished_ms >= started_ms),
    build_seconds INTEGER NOT NULL CHECK (build_seconds >= 0)
);
CREATE INDEX build_usage_by_org ON build_usage (org, finished_ms);
