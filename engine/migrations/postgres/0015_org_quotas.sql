-- An organisation's limits set through the API (`PUT /v1/orgs/{org}/quotas`): they replace
-- the file's for that org. NULL: no limit.
CREATE TABLE org_quotas (
    org                 TEXT    PRIMARY KEY NOT NULL,
    cpu_millis          BIGINT CHECK (cpu_millis >= 0),
    memory_bytes        BIGINT CHECK (memory_bytes >= 0),
    disk_bytes          BIGINT CHECK (disk_bytes >= 0),
    containers          BIGINT CHECK (containers >= 0),
    services            BIGINT CHECK (services >= 0),
    monthly_spend_minor BIGINT CHECK (monthly_spend_minor >= 0),
    updated_ms          BIGINT NOT NULL
);
