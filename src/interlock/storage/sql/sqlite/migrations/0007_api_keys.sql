-- Version 7: API keys (auth/keys.py). A key is `ilk_<id>_<secret>`; only the sha256 digest of the whole
-- key is kept, never the secret. scopes is a JSON list; revoked_at is NULL while the key is valid.
CREATE TABLE api_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    digest       TEXT NOT NULL,   -- sha256 of the whole key, hex
    scopes       TEXT NOT NULL,   -- JSON list, e.g. ["events:write", "read"]
    label        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    last_used_at REAL,
    revoked_at   REAL
) WITHOUT ROWID;
