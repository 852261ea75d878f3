-- Version 7 (numbered as SQLite's): API keys (auth/keys.py). A key is `ilk_<id>_<secret>`; only the
-- sha256 digest of the whole key is kept, never the secret. scopes is a JSON list; revoked_at is NULL
-- while the key is valid.
CREATE TABLE api_keys (
    id           TEXT             NOT NULL PRIMARY KEY,
    digest       TEXT             NOT NULL,
    scopes       TEXT             NOT NULL,
    label        TEXT             NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    revoked_at   DOUBLE PRECISION
);
