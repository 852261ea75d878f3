-- Version 8 (PostgreSQL only; SQLite's numbers skip it): fewer index entries written per step.
--
-- A step record has no change-feed position until a reader of the feed numbers it, and the position
-- index took an entry (NULL) for every record at insert all the same; the feed reads only numbered
-- records (position > after), which this partial index serves.
DROP INDEX history_by_position;
CREATE INDEX history_by_position ON history (position) WHERE position IS NOT NULL;

-- Tasks of one invoke are found by (machine, id, invokeid) through the primary key's (machine, id)
-- prefix (an instance has a few tasks at most); the index of their own took an entry per task.
DROP INDEX tasks_by_invoke;
