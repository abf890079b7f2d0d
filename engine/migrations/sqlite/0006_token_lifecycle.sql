-- Token lifecycle: an optional expiry, when it was last used, and revocation (kept, not
-- deleted, so a revoked token answers `token-revoked` rather than `unknown`). All in
-- milliseconds since the Unix epoch; NULL: never. Keep in step with the other backend's
-- 0006_token_lifecycle.sql.
ALTER TABLE api_tokens ADD COLUMN expires_ms INTEGER;
ALTER TABLE api_tokens ADD COLUMN last_used_ms INTEGER;
ALTER TABLE api_tokens ADD COLUMN revoked_ms INTEGER;
CREATE INDEX api_tokens_org ON api_tokens (org);
