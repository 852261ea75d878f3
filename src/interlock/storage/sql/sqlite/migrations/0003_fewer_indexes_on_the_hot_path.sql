-- Version 3: fewer b-trees change on every step.
--
-- History is indexed by instance in bulk, not on every insert.
-- The unique index (machine, id, step) took an entry in the middle of a b-tree for every step: under
-- load, every instance a commit touched dirtied a 4 KB index page of its own, which was most of what the
-- commit wrote. Now records are appended to the history table alone; the store copies their
-- (machine, id, step) -> seq entries into history_steps a few thousand at a time, sorted, so the
-- entries of one instance land on one page. Records after interlock_meta.history_indexed (the newest
-- indexed seq) are found by scanning that short tail of the table.

CREATE TABLE history_steps (
    machine TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    step    INTEGER NOT NULL,
    seq     INTEGER NOT NULL,   -- history.seq of the record
    PRIMARY KEY (machine, id, step)
) WITHOUT ROWID;

INSERT INTO history_steps (machine, id, step, seq)
SELECT machine, id, step, seq FROM history ORDER BY machine, id, step;

DROP INDEX history_by_step;

INSERT INTO interlock_meta (key, value) SELECT 'history_indexed', COALESCE(MAX(seq), 0) FROM history;

-- The state index loses its second b-tree (by instance): a step knows which entries it moves (the
-- states and tags before and after), so entries are only ever removed by their primary key.
DROP INDEX instance_index_by_instance;

-- Timers due at the same time fire in the order they were scheduled. They were ordered by due time
-- alone, ties by key as text ('m/a#1.10' before 'm/a#1.2'); the table becomes a rowid table, and a new
-- row's rowid (seq) is above every stored one. Stored timers are numbered by due time, then by owner,
-- step and effect index as their key (owner#step.index; the owner may hold '#') tells.
ALTER TABLE timers RENAME TO timers_v2;

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

INSERT INTO timers (key, machine, id, sendid, target, event, due_at)
SELECT key, machine, id, sendid, target, event, due_at
FROM (SELECT *, substr(key, length(owner) + 1) AS number
      FROM (SELECT *, rtrim(key, '0123456789.') AS owner FROM timers_v2))
ORDER BY due_at, owner,
         CAST(substr(number, 1, instr(number, '.') - 1) AS INTEGER),
         CAST(substr(number, instr(number, '.') + 1) AS INTEGER),
         key;

DROP TABLE timers_v2;

CREATE UNIQUE INDEX timers_by_key ON timers (key);
CREATE INDEX timers_by_due ON timers (due_at);   -- its entries end with the rowid: (due_at, seq) order
CREATE INDEX timers_by_sendid ON timers (machine, id, sendid);

-- Tasks store what a claim or heartbeat grants as policy.lease_seconds; with a heartbeat interval it is
-- now twice the interval (it was the interval itself, stored as policy.lease).
UPDATE tasks SET policy = json_set(policy, '$.lease_seconds',
    CASE WHEN json_extract(policy, '$.heartbeat') IS NOT NULL THEN 2 * json_extract(policy, '$.heartbeat')
         ELSE COALESCE(json_extract(policy, '$.lease'), 60) END);

-- A machine version remembers its shape (states and transitions), so a chart changed under the same
-- version is refused at register instead of stranding the instances that hold its state ids.
ALTER TABLE machines RENAME TO machines_v2;

CREATE TABLE machines (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    registered_at REAL NOT NULL,
    shape         TEXT,   -- runtime/machines.py shape_of: a changed chart must get a new version
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

INSERT INTO machines (name, version, registered_at) SELECT name, version, registered_at FROM machines_v2;

DROP TABLE machines_v2;
