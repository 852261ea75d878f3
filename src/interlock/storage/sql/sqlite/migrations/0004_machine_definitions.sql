-- Version 4: a machine version remembers its whole definition, not only its shape.
--
-- A guard, assignment, context default, tag, output or delay changed under the same version used to be
-- accepted by a second process, whose instances then ran other rules. `definition` holds a digest per
-- part of the chart (runtime/fingerprint.py); a version registered before this column existed adopts the
-- definition of the first process that registers it again.
ALTER TABLE machines RENAME TO machines_v3;

CREATE TABLE machines (
    name          TEXT NOT NULL,
    version       TEXT NOT NULL,
    registered_at REAL NOT NULL,
    shape         TEXT,   -- runtime/machines.py shape_of: a changed chart must get a new version
    definition    TEXT,   -- runtime/fingerprint.py: {part: digest}, JSON; NULL until registered again
    PRIMARY KEY (name, version)
) WITHOUT ROWID;

INSERT INTO machines (name, version, registered_at, shape)
SELECT name, version, registered_at, shape FROM machines_v3;

DROP TABLE machines_v3;
