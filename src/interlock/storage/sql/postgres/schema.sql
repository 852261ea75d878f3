-- The current PostgreSQL schema (version 9). The migrations must reproduce it exactly; a test checks.
-- Every per-instance table (instances, instance_index, history, inbox, timers, tasks) has (machine, id)
-- in its primary key and no hot-path query joins two instances, so the tables can be distributed by
-- instance (Citus: docs/deployment.md). JSON is stored as text, exactly as the codec wrote it.

CREATE TABLE interlock_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The change feed's counter: one row. Steps are recorded without a position; a sequencer (one at a time,
-- under an advisory lock) numbers the committed ones from here, so positions have no gaps and a reader
-- following them never skips one (storage/postgres.py).
CREATE TABLE interlock_feed (
    one      BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    position BIGINT  NOT NULL
);
INSERT INTO interlock_feed (one, position) VALUES (TRUE, 0);

CREATE TABLE machines (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    registered_at DOUBLE PRECISION NOT NULL,
    shape         TEXT,
    definition    TEXT,
    PRIMARY KEY (name, version)
);

-- Machine definitions uploaded through the HTTP API (server/catalog.py), one row per immutable version.
CREATE TABLE machine_definitions (
    name          TEXT             NOT NULL,
    version       TEXT             NOT NULL,
    format        TEXT             NOT NULL,
    text          TEXT             NOT NULL,
    registered_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE instances (
    machine         TEXT             NOT NULL,
    id              TEXT COLLATE "C" NOT NULL,  -- listed by id in byte order, as SQLite does
    version         TEXT             NOT NULL,
    status          TEXT             NOT NULL,
    paused          BOOLEAN          NOT NULL DEFAULT FALSE,
    step            BIGINT           NOT NULL,
    queued          BIGINT           NOT NULL DEFAULT 0,
    snapshot        TEXT             NOT NULL,
    parent_machine  TEXT,
    parent_id       TEXT,
    parent_invokeid TEXT,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL,
    revision        BIGINT           NOT NULL DEFAULT 0,
    PRIMARY KEY (machine, id)
) WITH (fillfactor = 70);  -- room on each page for its rows' updates (HOT: no new index entries)
CREATE INDEX instances_ready ON instances (machine, id) WHERE queued > 0 AND NOT paused;
CREATE INDEX instances_by_status ON instances (status, machine, id);  -- led by status: never a key's candidate
CREATE INDEX instances_by_parent ON instances (parent_machine, parent_id, parent_invokeid)
    WHERE parent_machine IS NOT NULL;

CREATE TABLE instance_index (
    machine TEXT NOT NULL,
    kind    TEXT NOT NULL,
    value   TEXT NOT NULL,
    id      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (machine, kind, value, id)
);

CREATE TABLE history (
    machine         TEXT             NOT NULL,
    id              TEXT             NOT NULL,
    step            BIGINT           NOT NULL,
    seq             BIGSERIAL,
    position        BIGINT,
    at              DOUBLE PRECISION NOT NULL,
    outcome         TEXT             NOT NULL,
    event           TEXT,
    idempotency_key TEXT,
    cause           TEXT,
    source          TEXT             NOT NULL,
    target          TEXT             NOT NULL,
    context_change  TEXT             NOT NULL,
    effects         TEXT             NOT NULL,
    error           TEXT,
    PRIMARY KEY (machine, id, step)
);
CREATE INDEX history_by_position ON history (position) WHERE position IS NOT NULL;  -- numbered ones only
CREATE INDEX history_unsequenced ON history (seq) WHERE position IS NULL;
CREATE UNIQUE INDEX history_by_idempotency_key ON history (machine, id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE inbox (
    machine         TEXT             NOT NULL,
    id              TEXT             NOT NULL,
    seq             BIGSERIAL,
    event           TEXT             NOT NULL,
    idempotency_key TEXT,
    cause           TEXT,
    sendid          TEXT,
    enqueued_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (machine, id, seq)
);
CREATE UNIQUE INDEX inbox_by_idempotency_key ON inbox (machine, id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE timers (
    machine TEXT             NOT NULL,
    id      TEXT             NOT NULL,
    key     TEXT             NOT NULL,
    seq     BIGSERIAL,
    sendid  TEXT             NOT NULL,
    target  TEXT,
    event   TEXT             NOT NULL,
    due_at  DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (machine, id, key)
);
CREATE INDEX timers_by_due ON timers (due_at, seq);
CREATE INDEX timers_by_sendid ON timers (machine, id, sendid);

CREATE TABLE tasks (
    machine      TEXT             NOT NULL,
    id           TEXT             NOT NULL,
    key          TEXT             NOT NULL,
    invokeid     TEXT             NOT NULL,
    service      TEXT             NOT NULL,
    input        TEXT             NOT NULL,
    policy       TEXT             NOT NULL,
    attempt      INTEGER          NOT NULL DEFAULT 0,
    status       TEXT             NOT NULL,
    available_at DOUBLE PRECISION NOT NULL,
    lease_owner  TEXT,
    lease_until  DOUBLE PRECISION,
    last_error   TEXT,
    created_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (machine, id, key)
);
CREATE INDEX tasks_pending ON tasks (available_at) WHERE status = 'pending';
CREATE INDEX tasks_running ON tasks (lease_until) WHERE status = 'running';
CREATE INDEX tasks_by_key ON tasks (key);

-- API keys (auth/keys.py): `ilk_<id>_<secret>`, kept as the sha256 digest of the whole key, never the
-- secret; scopes a JSON list; revoked_at NULL while the key is valid.
CREATE TABLE api_keys (
    id           TEXT             NOT NULL PRIMARY KEY,
    digest       TEXT             NOT NULL,
    scopes       TEXT             NOT NULL,
    label        TEXT             NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    last_used_at DOUBLE PRECISION,
    revoked_at   DOUBLE PRECISION
);
