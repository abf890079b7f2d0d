-- Health snapshots: each managed container's resource use and check states at the snapshot
-- interval, kept for the retention period. Keep in step with ../sqlite/0002_health_snapshots.sql.
CREATE TABLE health_snapshots (
    container         TEXT             NOT NULL,
    at_ms             BIGINT           NOT NULL,
    org               TEXT             NOT NULL,
    stack             TEXT             NOT NULL,
    service           TEXT             NOT NULL,
    status            TEXT             NOT NULL,
    cpu_percent       DOUBLE PRECISION,
    memory_percent    DOUBLE PRECISION,
    memory_bytes      BIGINT           NOT NULL CHECK (memory_bytes >= 0),
    network_rx_bytes  BIGINT           NOT NULL CHECK (network_rx_bytes >= 0),
    network_tx_bytes  BIGINT           NOT NULL CHECK (network_tx_bytes >= 0),
    disk_rw_bytes     BIGINT,
    disk_volume_bytes BIGINT,
    ready             BOOLEAN,
    checks            JSONB            NOT NULL DEFAULT '[]',
    -- A container's history is read by time range: the key is the index.
    PRIMARY KEY (container, at_ms)
);
-- Retention deletes by age.
CREATE INDEX health_snapshots_at_ms ON health_snapshots (at_ms);
