-- Version 9 (PostgreSQL only; SQLite's numbers skip it): the instances table for its updates and lookups.
--
-- Every step updates its instance's row. An update can stay on the row's page (a HOT update: no new
-- index entries) only if the page has room, and new rows filled the pages to the brim: about half of a
-- workflow's updates moved their row to another page and took an entry in each of the table's indexes.
-- Pages filled to 70% by inserts keep the rest for updates. Only pages filled from now on are affected
-- (no rewrite).
ALTER TABLE instances SET (fillfactor = 70);

-- An instance is found by its key (machine, id): the primary key. The status index led with the same
-- machine column, and while the table was small (a new database, before its first ANALYZE) the planner
-- found the two equally cheap for a key and could keep the status index in a statement's cached plan:
-- every update then read the index entries of all the machine's instances with that status. Led by the
-- status, it serves the listings by status (machine and status equal, by id) as before and is never a
-- candidate for a key.
-- The new index is built before the old one is dropped: reads of the table go on while it is built
-- (a DROP INDEX holds the table's exclusive lock until the migration commits).
CREATE INDEX instances_by_status_new ON instances (status, machine, id);
DROP INDEX instances_by_status;
ALTER INDEX instances_by_status_new RENAME TO instances_by_status;
