-- Version 2: history rows are stored in the order they are recorded (a rowid table), found by
-- (machine, id, step) through a unique index. Keyed by instance, every step inserted into the middle of
-- a wide b-tree and dirtied a 4 KB page of its own; now the rows go to the end of the table and only the
-- narrow index entry lands in the middle, which halves the pages a commit writes under load.

ALTER TABLE history RENAME TO history_v1;

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

INSERT INTO history (machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
                     context_change, effects, error)
SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
       context_change, effects, error
FROM history_v1 ORDER BY at, machine, id, step;

DROP TABLE history_v1;

CREATE UNIQUE INDEX history_by_step ON history (machine, id, step);
CREATE UNIQUE INDEX history_by_idempotency_key ON history (machine, id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
