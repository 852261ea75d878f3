-- Named queries of the SQLite store. Each block starts with "-- name: <name>" and a description line.
-- Parameters are named (:machine). No triggers, no stored procedures: rules live in Python.

-- name: get_meta
-- One value from the meta table.
SELECT value FROM interlock_meta WHERE key = :key;

-- name: set_meta
-- Insert or replace one value of the meta table.
INSERT INTO interlock_meta (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: register_machine
-- Remember that a machine version was registered, with its shape and definition (first time only; a
-- shape or definition recorded before they were kept is filled in).
INSERT INTO machines (name, version, registered_at, shape, definition)
VALUES (:name, :version, :now, :shape, :definition)
ON CONFLICT (name, version) DO UPDATE SET shape = COALESCE(machines.shape, excluded.shape),
    definition = COALESCE(machines.definition, excluded.definition)
WHERE machines.shape IS NULL OR machines.definition IS NULL;

-- name: machine_shape
-- The shape and definition a machine version was registered with.
SELECT shape, definition FROM machines WHERE name = :name AND version = :version;

-- name: save_definition
-- Keep an uploaded machine definition, unless that version is already kept (versions are immutable).
INSERT INTO machine_definitions (name, version, format, text, registered_at)
VALUES (:name, :version, :format, :text, :now)
ON CONFLICT (name, version) DO NOTHING;

-- name: get_definition
-- One uploaded machine definition.
SELECT name, version, format, text, registered_at FROM machine_definitions
WHERE name = :name AND version = :version;

-- name: all_definitions
-- Every uploaded machine definition, by name, oldest version first.
SELECT name, version, format, text, registered_at FROM machine_definitions ORDER BY name, registered_at, version;

-- name: definitions_of
-- The uploaded definitions of one machine, oldest first.
SELECT name, version, format, text, registered_at FROM machine_definitions WHERE name = :name
ORDER BY registered_at, version;

-- name: newest_definition
-- The version of a machine uploaded last (as definitions_of orders them), without any definition's text.
SELECT version FROM machine_definitions WHERE name = :name ORDER BY registered_at DESC, version DESC LIMIT 1;

-- name: timers_of
-- The pending timers of an instance, soonest first.
SELECT key, machine, id, sendid, target, event, due_at FROM timers
WHERE machine = :machine AND id = :id ORDER BY due_at, seq;

-- name: tasks_of
-- The tasks of an instance (pending or running), by key. An instance's task keys begin with
-- 'machine/id#' (see cancel_tasks); machine and id are compared too, as a name may hold '/' or '#'.
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks WHERE key >= :machine || '/' || :id || '#' AND key < :machine || '/' || :id || '$'
  AND machine = :machine AND id = :id ORDER BY key;

-- name: get_instance
-- One instance with its snapshot.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = :machine AND id = :id;

-- name: get_instances
-- The instances named in :keys, a JSON array of [machine, id] pairs: a writer batch's rows in one
-- statement (the primary key finds each). (As one row, a JSON array of them, it saved a call into
-- SQLite per row but hit SQLite's length limit with large snapshots, cost more than these rows for
-- snapshots of 10 kB and more, and brought times back exactly only where long double is wider than
-- double: see docs/benchmarks.md.)
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances
WHERE (machine, id) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:keys));

-- name: ended_instances
-- Those of the instances named in :keys (a JSON array of [machine, id] pairs) that have ended (status
-- not 'active'): what Interlock.wait's poller asks for every watched instance in one statement, which
-- reads and decodes only the rows it returns.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances
WHERE (machine, id) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:keys))
  AND status <> 'active';

-- name: insert_instance
-- A new instance; fails on the primary key when the name is taken.
INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot,
                       parent_machine, parent_id, parent_invokeid, created_at, updated_at)
VALUES (:machine, :id, :version, :status, :paused, :step, :queued, :snapshot,
        :parent_machine, :parent_id, :parent_invokeid, :created_at, :updated_at);

-- name: insert_new_instance
-- insert_new_instance_rows for one row: (machine, id, version, status, paused, step, queued, snapshot,
-- parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision).
INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot,
                       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_new_instance_rows
-- New instances whose names this write transaction found free (so no other writer can take them before
-- it commits), with their values at the flush, many in one statement. {rows}: the columns of
-- insert_new_instance repeated; NULL rows are padding.
INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot,
                       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision)
SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, column10, column11,
       column12, column13, column14
FROM (VALUES {rows}) WHERE column1 IS NOT NULL;

-- name: update_instance
-- update_instance_rows for one row: (machine, id, revision, status, paused, step, queued, snapshot,
-- updated_at).
UPDATE instances
SET status = ?4, paused = ?5, step = ?6, queued = ?7, snapshot = ?8, updated_at = ?9, revision = revision + 1
WHERE machine = ?1 AND id = ?2 AND revision = ?3;

-- name: update_instance_rows
-- Store the new state of many instances after a step (or pause, resume, cancel), each if it is still at
-- the revision it was read at (compare-and-set: no match means another writer changed it). {rows}:
-- (machine, id, revision, status, paused, step, queued, snapshot, updated_at) repeated, as above.
UPDATE instances
SET status = v.column4, paused = v.column5, step = v.column6, queued = v.column7, snapshot = v.column8,
    updated_at = v.column9, revision = instances.revision + 1
FROM (VALUES {rows}) AS v
WHERE instances.machine = v.column1 AND instances.id = v.column2 AND instances.revision = v.column3;

-- name: update_instance_step
-- update_instance_step_rows for one row (a statement over VALUES costs more than this for one): the same
-- positional parameters (machine, id, revision, step, snapshot, updated_at).
UPDATE instances SET step = ?4, snapshot = ?5, updated_at = ?6, revision = revision + 1
WHERE machine = ?1 AND id = ?2 AND revision = ?3;

-- name: update_instance_step_rows
-- The common step, for many instances in one statement: status, paused and queued are as stored, so
-- their indexes are left alone. {rows} is the row of positional parameters (machine, id, revision,
-- step, snapshot, updated_at) repeated (sqlite_pending.py); a row of NULLs matches nothing (padding).
-- Compare-and-set on the revision, as update_instance_rows: the rows changed are the rows that matched.
UPDATE instances SET step = v.column4, snapshot = v.column5, updated_at = v.column6,
    revision = instances.revision + 1
FROM (VALUES {rows}) AS v
WHERE instances.machine = v.column1 AND instances.id = v.column2 AND instances.revision = v.column3;

-- name: find_child
-- The child instance a parent invoked under an invoke id: the active one, else the newest.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances
WHERE parent_machine = :machine AND parent_id = :id AND parent_invokeid = :invokeid
ORDER BY status = 'active' DESC, created_at DESC
LIMIT 1;

-- name: children
-- Every child instance of a parent.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE parent_machine = :machine AND parent_id = :id;

-- name: ready_instances
-- Instances with events waiting that are not paused and that a process can apply them to: ended ones
-- (their events are recorded as ignored, no chart needed) and active ones of the machine versions it
-- runs (a JSON list of [machine, version] pairs), so instances it cannot run never fill its page.
SELECT machine, id FROM instances
WHERE queued > 0 AND paused = 0
  AND (status != 'active' OR EXISTS (SELECT 1 FROM json_each(:versions) AS v
                                     WHERE json_extract(v.value, '$[0]') = machine
                                       AND json_extract(v.value, '$[1]') = version))
LIMIT :limit;

-- name: remove_index
-- remove_index_rows for one row: (machine, kind, value, id).
DELETE FROM instance_index WHERE machine = ? AND kind = ? AND value = ? AND id = ?;

-- name: remove_index_rows
-- States or tags instances no longer have. {rows}: (machine, kind, value, id) repeated (the primary key
-- finds each: a row-value IN over a SELECT, not over VALUES directly, which scans the table).
DELETE FROM instance_index WHERE (machine, kind, value, id) IN
    (SELECT column1, column2, column3, column4 FROM (VALUES {rows}));

-- name: move_index
-- One state or tag of an instance replaced by another of the same kind: (machine, kind, value, id, new
-- value); no row changed if the entry is not stored.
UPDATE instance_index SET value = ?5 WHERE machine = ?1 AND kind = ?2 AND value = ?3 AND id = ?4;

-- name: add_index
-- add_index_rows for one row: (machine, kind, value, id).
INSERT INTO instance_index (machine, kind, value, id) VALUES (?, ?, ?, ?);

-- name: add_index_rows
-- States or tags of instances. {rows}: (machine, kind, value, id) repeated; NULL rows are padding.
INSERT INTO instance_index (machine, kind, value, id)
SELECT column1, column2, column3, column4 FROM (VALUES {rows}) WHERE column1 IS NOT NULL;

-- name: list_by_index
-- Instances of a machine in a state (or with a tag), by id, after a cursor.
SELECT i.machine, i.id, i.version, i.status, i.paused, i.step, i.queued, i.snapshot,
       i.parent_machine, i.parent_id, i.parent_invokeid, i.created_at, i.updated_at, i.revision
FROM instance_index x JOIN instances i ON i.machine = x.machine AND i.id = x.id
WHERE x.machine = :machine AND x.kind = :kind AND x.value = :value AND x.id > :after
ORDER BY x.id LIMIT :limit;

-- name: list_by_index_and_status
-- Instances of a machine in a state (or with a tag) and with a status, by id, after a cursor. The status
-- is a condition of the query, so a page holds up to :limit matches (never fewer while more follow).
SELECT i.machine, i.id, i.version, i.status, i.paused, i.step, i.queued, i.snapshot,
       i.parent_machine, i.parent_id, i.parent_invokeid, i.created_at, i.updated_at, i.revision
FROM instance_index x JOIN instances i ON i.machine = x.machine AND i.id = x.id
WHERE x.machine = :machine AND x.kind = :kind AND x.value = :value AND x.id > :after
  AND i.status = :status
ORDER BY x.id LIMIT :limit;

-- name: list_by_status
-- Instances of a machine with a status, by id, after a cursor.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = :machine AND status = :status AND id > :after
ORDER BY id LIMIT :limit;

-- name: list_all
-- Instances of a machine, by id, after a cursor.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = :machine AND id > :after ORDER BY id LIMIT :limit;

-- name: append_history
-- append_history_rows for one record: the columns in this order, no position.
INSERT INTO history (machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
                     context_change, effects, error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: append_history_rows
-- Step records (the writer numbers steps; indexing in bulk reports a step recorded twice), many in one
-- statement. {rows}: (order, then the columns in this order) repeated; rows are recorded in that order,
-- and a row whose order is NULL is padding.
INSERT INTO history (machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
                     context_change, effects, error)
SELECT column2, column3, column4, column5, column6, column7, column8, column9, column10, column11,
       column12, column13, column14
FROM (VALUES {rows}) WHERE column1 IS NOT NULL ORDER BY column1;

-- name: history_page
-- Step records of one instance after a step number, oldest first: the indexed ones (history_steps),
-- then those recorded since the index was last filled, from a scan of the short tail of the table.
SELECT * FROM (
    SELECT h.machine, h.id, h.step, h.at, h.outcome, h.event, h.idempotency_key, h.cause, h.source,
           h.target, h.context_change, h.effects, h.error
    FROM history_steps s JOIN history h ON h.seq = s.seq
    WHERE s.machine = :machine AND s.id = :id AND s.step > :after ORDER BY s.step LIMIT :limit)
UNION ALL
SELECT * FROM (
    SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
           context_change, effects, error
    FROM history
    WHERE seq > (SELECT CAST(value AS INTEGER) FROM interlock_meta WHERE key = 'history_indexed')
      AND machine = :machine AND id = :id AND step > :after ORDER BY step LIMIT :limit)
ORDER BY step LIMIT :limit;

-- name: last_history_seq
-- The newest history record's seq (0 when there is none), and the newest one indexed (the meta value
-- history_indexed; 0 before the first): one statement for both, asked once per history_tail / 8 records a store appends.
SELECT (SELECT COALESCE(MAX(seq), 0) FROM history),
       COALESCE((SELECT CAST(value AS INTEGER) FROM interlock_meta WHERE key = 'history_indexed'), 0);

-- name: index_history
-- Index the records after one seq up to another by instance, sorted so one instance's entries are
-- written together. Fails on a step recorded twice.
INSERT INTO history_steps (machine, id, step, seq)
SELECT machine, id, step, seq FROM history WHERE seq > :after AND seq <= :upto
ORDER BY machine, id, step, seq;

-- name: index_history_keep_first
-- index_history that skips a step recorded twice (the first record of the step, by seq, stays indexed).
INSERT OR IGNORE INTO history_steps (machine, id, step, seq)
SELECT machine, id, step, seq FROM history WHERE seq > :after AND seq <= :upto
ORDER BY machine, id, step, seq;

-- name: history_repeats
-- How many records of a seq range repeat a step that is already indexed (after index_history_keep_first).
SELECT COUNT(*) FROM history h
WHERE h.seq > :after AND h.seq <= :upto
  AND (SELECT s.seq FROM history_steps s WHERE s.machine = h.machine AND s.id = h.id AND s.step = h.step)
      <> h.seq;

-- name: history_by_key
-- The step that applied an event with this idempotency key.
SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
       context_change, effects, error
FROM history WHERE machine = :machine AND id = :id AND idempotency_key = :key;

-- name: enqueue
-- enqueue_rows for one event: (seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at).
INSERT INTO inbox (seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: enqueue_rows
-- Put events in inboxes under the sequence numbers the writer allocated for them. {rows}: (seq,
-- machine, id, event, idempotency_key, cause, sendid, enqueued_at) repeated; NULL rows are padding.
INSERT INTO inbox (seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at)
SELECT column1, column2, column3, column4, column5, column6, column7, column8
FROM (VALUES {rows}) WHERE column1 IS NOT NULL ORDER BY column1;

-- name: inbox_by_key
-- A queued event with this idempotency key.
SELECT seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at
FROM inbox WHERE machine = :machine AND id = :id AND idempotency_key = :key;

-- name: next_event
-- The oldest queued event of an instance.
SELECT seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at
FROM inbox WHERE machine = :machine AND id = :id ORDER BY seq LIMIT 1;

-- name: remove_event
-- Take an event out of the inbox (it was applied or dropped in the same transaction); the caller checks
-- that the row was there.
DELETE FROM inbox WHERE seq = :seq;

-- name: remove_events_by_sendid
-- Drop queued events that came from a delayed send that is now cancelled.
DELETE FROM inbox WHERE machine = :machine AND id = :id AND sendid = :sendid;

-- name: remove_invocation_events
-- Drop queued events an invocation sent its invoker (they carry its invoke id), now that it is cancelled.
DELETE FROM inbox WHERE machine = :machine AND id = :id AND json_extract(event, '$.invokeid') = :invokeid;

-- name: clear_inbox
-- Drop every queued event of an instance (it was cancelled).
DELETE FROM inbox WHERE machine = :machine AND id = :id;

-- name: add_timer
-- A delayed send, due at due_at.
INSERT INTO timers (key, machine, id, sendid, target, event, due_at)
VALUES (:key, :machine, :id, :sendid, :target, :event, :due_at);

-- name: cancel_timers
-- Cancel pending delayed sends of an instance by send id.
DELETE FROM timers WHERE machine = :machine AND id = :id AND sendid = :sendid;

-- name: cancel_all_timers
-- cancel_all_timers_rows for one instance: (machine, id).
DELETE FROM timers WHERE machine = ? AND id = ?;

-- name: cancel_all_timers_rows
-- Cancel every pending delayed send of many instances (they ended). {rows}: (machine, id) repeated;
-- NULL rows are padding. A row-value IN over a SELECT: each instance found by the index.
DELETE FROM timers WHERE (machine, id) IN (SELECT column1, column2 FROM (VALUES {rows}));

-- name: take_due_timers
-- Delete and return timers due at or before now, earliest first (RETURNING has no order: the caller
-- sorts by due_at, seq); those due at the same time in the order they were scheduled (seq). Only rows
-- this statement deleted come back, so a timer fires once. Their events are delivered in the same
-- transaction.
DELETE FROM timers WHERE seq IN (
    SELECT seq FROM timers WHERE due_at <= :now ORDER BY due_at, seq LIMIT :limit)
RETURNING seq, key, machine, id, sendid, target, event, due_at;

-- name: add_task
-- add_task_rows for one task: (key, machine, id, invokeid, service, input, policy, attempt, status,
-- available_at, lease_owner, lease_until, created_at).
INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
                   lease_owner, lease_until, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: add_task_rows
-- Invoked services: available now, or already claimed by the transaction that added them
-- (task_buffer.py). {rows}: the columns of add_task repeated; NULL rows are padding.
INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
                   lease_owner, lease_until, created_at)
SELECT column1, column2, column3, column4, column5, column6, column7, column8, column9, column10,
       column11, column12, column13
FROM (VALUES {rows}) WHERE column1 IS NOT NULL;

-- name: lock_tasks
-- Of many tasks (a JSON list of keys), those running: the caller keeps the ones still leased to the
-- attempt it names, whose removal then waits with the transaction's other writes (one writer at a time:
-- nothing else changes them before the commit).
SELECT key, lease_owner, attempt, machine, id, invokeid FROM tasks
WHERE key IN (SELECT value FROM json_each(:keys)) AND status = 'running';

-- name: remove_held_task
-- remove_held_task_rows for one task: (key).
DELETE FROM tasks WHERE key = ?;

-- name: remove_held_task_rows
-- Delivered tasks this transaction found still leased to the attempts whose results it recorded
-- (lock_tasks). {rows}: (key) repeated; NULL rows are padding.
DELETE FROM tasks WHERE key IN (SELECT column1 FROM (VALUES {rows}));

-- name: cancel_tasks
-- Cancel the tasks of one invoke of an instance. A task's key is 'machine/id#step.index' (its invoke
-- effect's), so an instance's tasks are a range of the primary key (a separate index by instance cost
-- an index page written per step: migration 8); machine and id are compared too, as a name may hold
-- '/' or '#' ('$' is the character after '#').
DELETE FROM tasks WHERE key >= :machine || '/' || :id || '#' AND key < :machine || '/' || :id || '$'
  AND machine = :machine AND id = :id AND invokeid = :invokeid;

-- name: cancel_all_tasks
-- Cancel every task of an instance (a range of keys: see cancel_tasks).
DELETE FROM tasks WHERE key >= :machine || '/' || :id || '#' AND key < :machine || '/' || :id || '$'
  AND machine = :machine AND id = :id;

-- name: claimable_tasks
-- Tasks of the given services (a JSON list) ready to run: pending and available, or running with an
-- expired lease (the worker died).
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks WHERE status = 'pending' AND available_at <= :now
  AND service IN (SELECT value FROM json_each(:services))
UNION ALL
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks WHERE status = 'running' AND lease_until <= :now
  AND service IN (SELECT value FROM json_each(:services))
LIMIT :limit;

-- name: lease_task
-- Claim a task for one attempt, if it is still as the claim read it (free, or its lease expired); the
-- caller drops a task whose lease took no row.
UPDATE tasks SET status = 'running', attempt = attempt + 1, lease_owner = :owner, lease_until = :until
WHERE key = :key AND attempt = :attempt
  AND ((status = 'pending' AND available_at <= :now) OR (status = 'running' AND lease_until <= :now));

-- name: extend_lease
-- A heartbeat: keep the lease while the attempt makes progress.
UPDATE tasks SET lease_until = :until
WHERE key = :key AND lease_owner = :owner AND attempt = :attempt AND status = 'running';

-- name: owned_task
-- The task if this owner still holds the lease for this attempt.
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks WHERE key = :key AND lease_owner = :owner AND attempt = :attempt AND status = 'running';

-- name: retry_task
-- An attempt failed: make the task available again later.
UPDATE tasks SET status = 'pending', available_at = :available_at, lease_owner = NULL,
                 lease_until = NULL, last_error = :error
WHERE key = :key;

-- name: remove_task
-- The task's outcome was delivered.
DELETE FROM tasks WHERE key = :key;

-- name: remove_owned_task
-- The attempt's outcome is final and is delivered: remove the task if this owner still holds the lease
-- for this attempt (no row: the result is stale).
DELETE FROM tasks WHERE key = :key AND lease_owner = :owner AND attempt = :attempt AND status = 'running';

-- name: next_timer
-- When the earliest timer is due.
SELECT MIN(due_at) FROM timers;

-- name: next_task
-- When the earliest task becomes claimable.
SELECT MIN(t) FROM (
    SELECT MIN(available_at) AS t FROM tasks WHERE status = 'pending'
    UNION ALL
    SELECT MIN(lease_until) AS t FROM tasks WHERE status = 'running'
);

-- name: changes
-- The change feed: committed steps after a position, in position order. history.seq is the rowid:
-- one writer at a time, so positions are given in commit order and a reader never skips one.
SELECT seq, machine, id, step, outcome, at FROM history WHERE seq > :after ORDER BY seq LIMIT :limit;

-- name: last_position
-- The change feed's head: the position of the last committed step (0 before the first).
SELECT COALESCE(MAX(seq), 0) FROM history;

-- name: insert_key
-- A new API key (its digest only); nothing when the id is taken (the caller then refuses).
INSERT INTO api_keys (id, digest, scopes, label, created_at) VALUES (:id, :digest, :scopes, :label, :now)
ON CONFLICT (id) DO NOTHING;

-- name: get_key
-- One API key by its public id.
SELECT id, digest, scopes, label, created_at, last_used_at, revoked_at FROM api_keys WHERE id = :id;

-- name: api_keys
-- The first page of API keys, oldest first (revoked ones too).
SELECT id, digest, scopes, label, created_at, last_used_at, revoked_at FROM api_keys
ORDER BY created_at, id LIMIT :limit;

-- name: api_keys_after
-- The next page of API keys: those after the key whose id is the cursor, in the same order (none when no key has that id).
SELECT id, digest, scopes, label, created_at, last_used_at, revoked_at FROM api_keys
WHERE (created_at, id) > (SELECT created_at, id FROM api_keys WHERE id = :after)
ORDER BY created_at, id LIMIT :limit;

-- name: revoke_key
-- Revoke an API key (the first revocation's time is kept).
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, :now) WHERE id = :id;

-- name: touch_key
-- Record when an API key was last used.
UPDATE api_keys SET last_used_at = :now WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :now);
