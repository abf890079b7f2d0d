-- Metering, billing cycles and balances. Keep in step with the other backend's 0005_billing.sql.
--
-- One row per managed container and metering interval, keyed by the interval's aligned start:
-- writing an interval again (a restart, a replayed sample) changes nothing.
CREATE TABLE usage_intervals (
    container          TEXT    NOT NULL,
    interval_start_ms  INTEGER NOT NULL,
    start_ms           INTEGER NOT NULL,
    end_ms             INTEGER NOT NULL CHECK (end_ms >= start_ms),
    engine             TEXT    NOT NULL,
    org                TEXT    NOT NULL,
    stack              TEXT    NOT NULL,
    service            TEXT    NOT NULL,
    cpu_millis         INTEGER,
    memory_bytes       INTEGER,
    disk_bytes         INTEGER,
    cpu_used_core_ms   INTEGER NOT NULL CHECK (cpu_used_core_ms >= 0),
    memory_used_byte_s INTEGER NOT NULL CHECK (memory_used_byte_s >= 0),
    egress_bytes       INTEGER NOT NULL CHECK (egress_bytes >= 0),
    PRIMARY KEY (container, interval_start_ms)
);
CREATE INDEX usage_intervals_by_org ON usage_intervals (org, start_ms);

-- Spans the engine did not meter (it was not running): recorded with their length, never
-- filled in.
CREATE TABLE metering_gaps (
    engine   TEXT    NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL CHECK (end_ms > start_ms),
    PRIMARY KEY (engine, start_ms)
);

-- Each organisation's credit in integer minor units, and its grace period.
CREATE TABLE billing_accounts (
    org               TEXT    PRIMARY KEY NOT NULL,
    currency          TEXT    NOT NULL,
    balance_minor     INTEGER NOT NULL,
    next_period_ms    INTEGER NOT NULL,
    grace_started_ms  INTEGER,
    stopped_ms        INTEGER
);

-- One invoice per organisation and period: the unique key makes a cycle charge once.
CREATE TABLE invoices (
    org             TEXT    NOT NULL,
    period_start_ms INTEGER NOT NULL,
    period_end_ms   INTEGER NOT NULL CHECK (period_end_ms > period_start_ms),
    rule            TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    total_minor     INTEGER NOT NULL CHECK (total_minor >= 0),
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (org, period_start_ms)
);

CREATE TABLE invoice_lines (
    org             TEXT    NOT NULL,
    period_start_ms INTEGER NOT NULL,
    line            INTEGER NOT NULL,
    description     TEXT    NOT NULL,
    quantity_micros INTEGER NOT NULL CHECK (quantity_micros >= 0),
    unit            TEXT    NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (org, period_start_ms, line)
);

-- Every change of a balance: invoices (negative) and top-ups (positive).
CREATE TABLE balance_movements (
    org           TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    at_ms         INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('invoice', 'top-up')),
    amount_minor  INTEGER NOT NULL,
    balance_minor INTEGER NOT NULL,
    reference     TEXT    NOT NULL,
    PRIMARY KEY (org, seq)
);
