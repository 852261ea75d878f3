-- The current schema (version 8). The migrations must reproduce it exactly; a test checks.

CREATE TABLE interlock_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every (machine, version) a process has registered; informational, instances pin their version.
CREATE TABLE machines (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    registered_at REAL NOT NULL,
    shape         TEXT,   -- runtime/machines.py shape_of: a changed chart must get a new version
    definition    TEXT,   -- runtime/fingerprint.py: {part: digest}, JSON; NULL until registered again
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- Machine definitions uploaded through the HTTP API (server/catalog.py): whole documents, one row per
-- immutable version, so every server process on the database can serve them.
CREATE TABLE machine_definitions (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    format        TEXT NOT NULL,   -- yaml | json | scxml
    text          TEXT NOT NULL,   -- the document as uploaded
    registered_at REAL NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- One row per instance: its current snapshot and the counters that keep it consistent. revision is
-- bumped by every write of the row: writes are a compare-and-set on it (storage/store.py).
CREATE TABLE instances (
    machine         TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    status          TEXT    NOT NULL,            -- active | done | cancelled | failed
    paused          INTEGER NOT NULL DEFAULT 0,
    step            INTEGER NOT NULL,            -- number of the newest history record
    queued          INTEGER NOT NULL DEFAULT 0,  -- events waiting in the inbox
    snapshot        TEXT    NOT NULL,            -- Snapshot.to_json()
    parent_machine  TEXT,
    parent_id       TEXT,
    parent_invokeid TEXT,
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL,
    revision        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (machine, id)
) WITHOUT ROWID;
CREATE INDEX instances_ready ON instances (machine, id) WHERE queued > 0 AND paused = 0;
CREATE INDEX instances_by_status ON instances (machine, status, id);
CREATE INDEX instances_by_parent ON instances (parent_machine, parent_id, parent_invokeid)
    WHERE parent_machine IS NOT NULL;

-- Active states and tags of each instance, so list queries never scan snapshots.
CREATE TABLE instance_index (
    machine TEXT NOT NULL,
    kind    TEXT NOT NULL,   -- state | tag
    value   TEXT NOT NULL,
    id      TEXT NOT NULL,
    PRIMARY KEY (machine, kind, value, id)
) WITHOUT ROWID;

-- Append-only: one record per step of an instance (step 0 is its start). Rows are stored in the order
-- they are recorded (appending touches the end of the table) and found through history_steps.
CREATE TABLE history (
    seq             INTEGER PRIMARY KEY,   -- recording order (rowid)
    machine         TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    step            INTEGER NOT NULL,
    at              REAL    NOT NULL,
    outcome         TEXT    NOT NULL,   -- started | applied | ignored | failed | cancelled
    event           TEXT,               -- Event.to_json(), NULL for start/cancel
    idempotency_key TEXT,
    cause           TEXT,               -- the effect key that produced the event, if any
    source          TEXT    NOT NULL,   -- configuration before (JSON list)
    target          TEXT    NOT NULL,   -- configuration after (JSON list)
    context_change  TEXT    NOT NULL,   -- {"set": {...}, "unset": [...]} at the top level
    effects         TEXT    NOT NULL,   -- [effect.to_json(), ...]
    error           TEXT                -- why the step failed (outcome failed)
);
CREATE UNIQUE INDEX history_by_idempotency_key ON history (machine, id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The per-instance index of history, filled in bulk (sorted, a few thousand records at a time) by the
-- store; records after interlock_meta.history_indexed are not in it yet (see storage/sqlite_history.py).
CREATE TABLE history_steps (
    machine TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    step    INTEGER NOT NULL,
    seq     INTEGER NOT NULL,   -- history.seq of the record
    PRIMARY KEY (machine, id, step)
) WITHOUT ROWID;

-- Events accepted but not applied yet (paused instance, backlog, or delivered by another step).
CREATE TABLE inbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    machine         TEXT NOT NULL,
    id              TEXT NOT NULL,
    event           TEXT NOT NULL,
    idempotency_key TEXT,
    cause           TEXT,
    sendid          TEXT,
    enqueued_at     REAL NOT NULL
);
CREATE INDEX inbox_by_instance ON inbox (machine, id, seq);
CREATE UNIQUE INDEX inbox_by_idempotency_key ON inbox (machine, id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Delayed sends. A row exists until it fires (deleted in the transaction that delivers it) or is cancelled.
-- Timers due at the same time fire in the order they were scheduled: seq is the rowid, and a new row
-- gets a rowid above every stored one; effects are added in order within a step, steps commit in order.
CREATE TABLE timers (
    seq            INTEGER PRIMARY KEY,   -- scheduling order (rowid)
    key            TEXT NOT NULL,         -- machine/id#step.index of the effect
    machine        TEXT NOT NULL,         -- the sender (owner of the sendid)
    id             TEXT NOT NULL,
    sendid         TEXT NOT NULL,
    target         TEXT,                  -- the send target as the chart wrote it; NULL is the sender
    event          TEXT NOT NULL,
    due_at         REAL NOT NULL
);
CREATE UNIQUE INDEX timers_by_key ON timers (key);
CREATE INDEX timers_by_due ON timers (due_at);   -- its entries end with the rowid: (due_at, seq) order
CREATE INDEX timers_by_sendid ON timers (machine, id, sendid);

-- Invoked services. Claimed with a lease; a row is deleted when its result is delivered or it is cancelled.
CREATE TABLE tasks (
    key          TEXT PRIMARY KEY,     -- machine/id#step.index of the invoke effect
    machine      TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    invokeid     TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    input        TEXT    NOT NULL,
    policy       TEXT    NOT NULL,     -- RetryPolicy as JSON, fixed when the task is created
    attempt      INTEGER NOT NULL DEFAULT 0,
    status       TEXT    NOT NULL,     -- pending | running
    available_at REAL    NOT NULL,
    lease_owner  TEXT,
    lease_until  REAL,
    last_error   TEXT,
    created_at   REAL    NOT NULL
) WITHOUT ROWID;
CREATE INDEX tasks_pending ON tasks (available_at) WHERE status = 'pending';
CREATE INDEX tasks_running ON tasks (lease_until) WHERE status = 'running';

-- API keys (auth/keys.py): `ilk_<id>_<secret>`, kept as the sha256 digest of the whole key, never the
-- secret; scopes a JSON list; revoked_at NULL while the key is valid.
CREATE TABLE api_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    digest       TEXT NOT NULL,   -- sha256 of the whole key, hex
    scopes       TEXT NOT NULL,   -- JSON list, e.g. ["events:write", "read"]
    label        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    last_used_at REAL,
    revoked_at   REAL
) WITHOUT ROWID;
