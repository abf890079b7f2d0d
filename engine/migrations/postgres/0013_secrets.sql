-- Secrets per organisation (issue 13). `secrets` holds names and bookkeeping, never values;
-- `secret_versions` holds each value sealed with XChaCha20-Poly1305 under the key whose id is
-- beside it (the current key's id is engine_meta's `secrets.key_id`). Numbered after the issue
-- so that parallel branches adding migrations do not collide. Keep in step with the other
-- backend's 0013_secrets.sql.
CREATE TABLE secrets (
    org            TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    latest_version BIGINT  NOT NULL,
    created_ms     BIGINT  NOT NULL,
    updated_ms     BIGINT  NOT NULL,
    PRIMARY KEY (org, name)
);

CREATE TABLE secret_versions (
    org        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    BIGINT  NOT NULL,
    key_id     TEXT    NOT NULL,
    ciphertext BYTEA   NOT NULL,
    created_ms BIGINT  NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (org, name, version),
    FOREIGN KEY (org, name) REFERENCES secrets (org, name) ON DELETE CASCADE
);
