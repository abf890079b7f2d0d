-- An organisation's limits set through the API (`PUT /v1/orgs/{org}/quotas`): they replace
-- the file's for that org. NULL: no limit.
CREATE TABLE org_quotas (
    org                 TEXT    PRIMARY KEY NOT NULL,
    cpu_millis          INTEGER CHECK (cpu_millis >= 0),
    memory_bytes        INTEGER CHECK (memory_bytes >= 0),
    disk_bytes          INTEGER CHECK (disk_bytes >= 0),
    containers          INTEGER CHECK (containers >= 0),
    services            INTEGER CHECK (services >= 0),
    monthly_spend_minor INTEGER CHECK (monthly_spend_minor >= 0),
    updated_ms          INTEGER NOT NULL
);
