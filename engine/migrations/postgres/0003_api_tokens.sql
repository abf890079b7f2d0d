-- API bearer tokens: only a SHA-256 of each secret is kept, so a leaked database leaks no
-- usable token. Keep in step with the other backend's 0003_api_tokens.sql.
CREATE TABLE api_tokens (
    id          TEXT    PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    org         TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('read', 'deploy', 'admin')),
    secret_hash TEXT    NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL
);
