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
