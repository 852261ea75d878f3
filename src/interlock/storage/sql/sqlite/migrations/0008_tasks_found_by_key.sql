-- Version 8: an instance's tasks are found by their keys ('machine/id#step.index', a range of the
-- primary key), not by an index of their own. The index took an entry at every task's insert and
-- lost it at its removal: on a workflow's every step one more b-tree page written per commit
-- (7.6 -> 6.6 pages a commit at one workflow in flight).

DROP INDEX IF EXISTS tasks_by_invoke;
