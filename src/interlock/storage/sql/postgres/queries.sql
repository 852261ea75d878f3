-- Named queries of the PostgreSQL store. Each block starts with "-- name: <name>" and a description line.
-- Parameters are psycopg's %(name)s. No triggers, no stored procedures: rules live in Python.

-- name: get_meta
-- One value from the meta table.
SELECT value FROM interlock_meta WHERE key = %(key)s;

-- name: set_meta
-- Insert or replace one value of the meta table.
INSERT INTO interlock_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: register_machine
-- Remember that a machine version was registered, with its shape and definition (first time only).
INSERT INTO machines (name, version, registered_at, shape, definition)
VALUES (%(name)s, %(version)s, %(now)s, %(shape)s, %(definition)s)
ON CONFLICT (name, version) DO UPDATE SET shape = COALESCE(machines.shape, excluded.shape),
    definition = COALESCE(machines.definition, excluded.definition)
WHERE machines.shape IS NULL OR machines.definition IS NULL;

-- name: machine_shape
-- The shape and definition a machine version was registered with.
SELECT shape, definition FROM machines WHERE name = %(name)s AND version = %(version)s;

-- name: save_definition
-- Keep an uploaded machine definition, unless that version is already kept (versions are immutable).
INSERT INTO machine_definitions (name, version, format, text, registered_at)
VALUES (%(name)s, %(version)s, %(format)s, %(text)s, %(now)s)
ON CONFLICT (name, version) DO NOTHING;

-- name: get_definition
-- One uploaded machine definition.
SELECT name, version, format, text, registered_at FROM machine_definitions
WHERE name = %(name)s AND version = %(version)s;

-- name: all_definitions
-- Every uploaded machine definition, by name, oldest version first.
SELECT name, version, format, text, registered_at FROM machine_definitions ORDER BY name, registered_at, version;

-- name: definitions_of
-- The uploaded definitions of one machine, oldest first.
SELECT name, version, format, text, registered_at FROM machine_definitions WHERE name = %(name)s
ORDER BY registered_at, version;

-- name: newest_definition
-- The version of a machine uploaded last (as definitions_of orders them), without any definition's text.
SELECT version FROM machine_definitions WHERE name = %(name)s ORDER BY registered_at DESC, version DESC LIMIT 1;

-- name: timers_of
-- The pending timers of an instance, soonest first.
SELECT key, machine, id, sendid, target, event, due_at FROM timers
WHERE machine = %(machine)s AND id = %(id)s ORDER BY due_at, seq;

-- name: tasks_of
-- The tasks of an instance (pending or running), by key.
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks WHERE machine = %(machine)s AND id = %(id)s ORDER BY key;

-- name: get_instance
-- One instance with its snapshot.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = %(machine)s AND id = %(id)s;

-- name: lock_instance
-- One instance with its snapshot, locked for this write transaction; a row another transaction holds
-- fails at once (NOWAIT: the command runs again in the next batch, never waits into a deadlock).
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = %(machine)s AND id = %(id)s
FOR UPDATE NOWAIT;

-- name: ended_instances
-- Those of the instances named by parallel arrays of machines and ids that have ended (status not
-- 'active'), each found by its key (a lateral subquery per key, as lock_instances): what
-- Interlock.wait's poller asks for every watched instance in one round trip.
SELECT x.machine, x.id, x.version, x.status, x.paused, x.step, x.queued, x.snapshot,
       x.parent_machine, x.parent_id, x.parent_invokeid, x.created_at, x.updated_at, x.revision
FROM unnest(%(machines)s::text[], %(ids)s::text[]) AS wanted (m, i)
CROSS JOIN LATERAL (
    SELECT * FROM instances WHERE machine = wanted.m AND id = wanted.i AND status <> 'active') AS x;

-- name: lock_instances
-- Many instances (parallel arrays of machines and ids) with their snapshots, locked for this write
-- transaction in one round trip; rows another transaction holds are skipped (SKIP LOCKED: the commands
-- that need them run in the writer's next batch, so no batch waits for a lock or fails on one).
-- Each row is found by its key on its own (a lateral subquery per key, given without duplicates): as a
-- join, a statement's cached plan made while the table was small scanned the whole table for every batch.
-- One row per key: a key whose row was not locked (NULL columns) says in its last column whether the
-- instance exists (committed, held by another transaction) or is missing, so that needs no second look.
SELECT x.machine, x.id, x.version, x.status, x.paused, x.step, x.queued, x.snapshot,
       x.parent_machine, x.parent_id, x.parent_invokeid, x.created_at, x.updated_at, x.revision,
       wanted.m, wanted.i,
       CASE WHEN x.machine IS NULL THEN EXISTS (
           SELECT 1 FROM instances AS e WHERE e.machine = wanted.m AND e.id = wanted.i) END AS held
FROM unnest(%(machines)s::text[], %(ids)s::text[]) AS wanted (m, i)
LEFT JOIN LATERAL (
    SELECT * FROM instances WHERE machine = wanted.m AND id = wanted.i FOR UPDATE SKIP LOCKED) AS x ON true;

-- name: insert_instance
-- A new instance; no row is inserted when the name is taken (the caller checks).
INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot,
                       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision)
VALUES (%(machine)s, %(id)s, %(version)s, %(status)s, %(paused)s, %(step)s, %(queued)s, %(snapshot)s,
        %(parent_machine)s, %(parent_id)s, %(parent_invokeid)s, %(created_at)s, %(updated_at)s, 0)
ON CONFLICT (machine, id) DO NOTHING;

-- name: insert_instances
-- New instances, given as one JSON array of rows (one statement for a transaction's inserts: the server
-- runs it once, not once per row); none is inserted where the name is taken (the caller counts).
INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot,
                       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision)
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, 0
FROM json_populate_recordset(NULL::instances, %(rows)s::json)
ON CONFLICT (machine, id) DO NOTHING;

-- name: update_instance
-- Store the new state of an instance if it is still at the revision it was read at (compare-and-set).
UPDATE instances
SET status = %(status)s, paused = %(paused)s, step = %(step)s, queued = %(queued)s,
    snapshot = %(snapshot)s, updated_at = %(updated_at)s, revision = revision + 1
WHERE machine = %(machine)s AND id = %(id)s AND revision = %(revision)s;

-- name: update_instances_rows
-- Many instances' new states, one JSON array of rows, one per instance: each is stored if the instance is
-- still at the revision it was read at (compare-and-set), and gets revision ``next``. Each row is found by
-- its key on its own (a subquery per row, then a TID scan): given the rows to join, the planner could
-- choose a scan of the whole table, where a small table with many dead rows made it costly. A row taken
-- by TID is matched to its JSON row (hash join) by TID and key both (a TID alone names a row of one
-- table only). A row another transaction changed meanwhile has a new TID and is missed, even if its
-- revision did not change (only writers outside Interlock do that): the statement then hits fewer rows
-- than it has, and the transaction fails as a lost race, which is retried.
WITH r AS MATERIALIZED (
    SELECT r.*, (SELECT x.ctid FROM instances x WHERE x.machine = r.machine AND x.id = r.id) AS tid
    FROM json_to_recordset(%(rows)s::json) AS r (machine text, id text COLLATE "C", status text,
         paused boolean, step bigint, queued bigint, snapshot text, updated_at double precision,
         revision bigint, next bigint))
UPDATE instances AS i
SET (status, paused, step, queued, snapshot, updated_at, revision) =
    (r.status, r.paused, r.step, r.queued, r.snapshot, r.updated_at, r.next)
FROM r
WHERE i.ctid = ANY (ARRAY(SELECT tid FROM r WHERE tid IS NOT NULL))
  AND r.tid = i.ctid AND r.machine = i.machine AND r.id = i.id AND i.revision = r.revision;

-- name: find_child
-- The child instance a parent invoked under an invoke id: the active one, else the newest.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances
WHERE parent_machine = %(machine)s AND parent_id = %(id)s AND parent_invokeid = %(invokeid)s
ORDER BY status = 'active' DESC, created_at DESC
LIMIT 1;

-- name: children
-- Every child instance of a parent.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE parent_machine = %(machine)s AND parent_id = %(id)s;

-- name: ready_instances
-- Instances with events waiting, not paused, that this process can step (ended ones, and active ones of
-- the machine versions it runs). Locked for this transaction; rows another writer holds are skipped, so
-- processes draining inboxes side by side take different instances.
SELECT machine, id FROM instances
WHERE queued > 0 AND NOT paused
  AND (status <> 'active' OR (machine, version) IN (
        SELECT m, v FROM unnest(%(machines)s::text[], %(versions)s::text[]) AS known (m, v)))
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: remove_index
-- One state or tag an instance no longer has.
DELETE FROM instance_index WHERE machine = %s AND kind = %s AND value = %s AND id = %s;

-- name: remove_index_rows
-- States or tags instances no longer have, one JSON array of rows, each found by its key on its own (a
-- subquery per row, then a TID scan: never a scan of the whole table), and matched by TID and key both.
WITH r AS MATERIALIZED (
    SELECT r.*, (SELECT x.ctid FROM instance_index x
                 WHERE x.machine = r.machine AND x.kind = r.kind AND x.value = r.value AND x.id = r.id) AS tid
    FROM json_populate_recordset(NULL::instance_index, %(rows)s::json) AS r)
DELETE FROM instance_index AS x WHERE x.ctid = ANY (ARRAY(SELECT tid FROM r WHERE tid IS NOT NULL))
  AND EXISTS (SELECT FROM r WHERE r.tid = x.ctid AND r.machine = x.machine AND r.kind = x.kind
                                 AND r.value = x.value AND r.id = x.id);

-- name: add_index
-- One state or tag of an instance.
INSERT INTO instance_index (machine, kind, value, id) VALUES (%s, %s, %s, %s);

-- name: add_index_rows
-- States or tags of instances, one JSON array of rows.
INSERT INTO instance_index (machine, kind, value, id)
SELECT machine, kind, value, id FROM json_populate_recordset(NULL::instance_index, %(rows)s::json);

-- name: list_by_index
-- Instances of a machine in a state (or with a tag), by id, after a cursor.
SELECT i.machine, i.id, i.version, i.status, i.paused, i.step, i.queued, i.snapshot,
       i.parent_machine, i.parent_id, i.parent_invokeid, i.created_at, i.updated_at, i.revision
FROM instance_index x JOIN instances i ON i.machine = x.machine AND i.id = x.id
WHERE x.machine = %(machine)s AND x.kind = %(kind)s AND x.value = %(value)s AND x.id > %(after)s
ORDER BY x.id LIMIT %(limit)s;

-- name: list_by_index_and_status
-- Instances of a machine in a state (or with a tag) and with a status, by id, after a cursor.
SELECT i.machine, i.id, i.version, i.status, i.paused, i.step, i.queued, i.snapshot,
       i.parent_machine, i.parent_id, i.parent_invokeid, i.created_at, i.updated_at, i.revision
FROM instance_index x JOIN instances i ON i.machine = x.machine AND i.id = x.id
WHERE x.machine = %(machine)s AND x.kind = %(kind)s AND x.value = %(value)s AND x.id > %(after)s
  AND i.status = %(status)s
ORDER BY x.id LIMIT %(limit)s;

-- name: list_by_status
-- Instances of a machine with a status, by id, after a cursor.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = %(machine)s AND status = %(status)s AND id > %(after)s
ORDER BY id LIMIT %(limit)s;

-- name: list_all
-- Instances of a machine, by id, after a cursor.
SELECT machine, id, version, status, paused, step, queued, snapshot,
       parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
FROM instances WHERE machine = %(machine)s AND id > %(after)s ORDER BY id LIMIT %(limit)s;

-- name: append_history
-- One step record; its change-feed position is given once it has committed (sequence_changes).
INSERT INTO history (machine, id, step, at, outcome, event, idempotency_key, cause, source,
                     target, context_change, effects, error)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

-- name: append_history_rows
-- Step records, one JSON array of rows, inserted in the array's order (their seq keeps it).
INSERT INTO history (machine, id, step, at, outcome, event, idempotency_key, cause, source,
                     target, context_change, effects, error)
SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source,
       target, context_change, effects, error
FROM json_populate_recordset(NULL::history, %(rows)s::json) WITH ORDINALITY AS r
ORDER BY r.ordinality;

-- name: lock_sequencer
-- One sequencer at a time; taken by a statement of its own, so the next one sees every commit before it.
SELECT pg_advisory_xact_lock(%(key)s);

-- name: sequence_changes
-- Number committed steps that have no position yet, after the newest position, in the order they were
-- recorded (seq: an instance's steps are recorded one after another, so they keep their order).
WITH todo AS (
    SELECT machine, id, step, row_number() OVER (ORDER BY seq) AS n
    FROM history WHERE position IS NULL ORDER BY seq LIMIT %(limit)s),
counted AS (SELECT count(*) AS total FROM todo),
feed AS (
    UPDATE interlock_feed SET position = position + (SELECT total FROM counted)
    RETURNING position - (SELECT total FROM counted) AS base)
UPDATE history h SET position = (SELECT base FROM feed) + todo.n
FROM todo WHERE h.machine = todo.machine AND h.id = todo.id AND h.step = todo.step;

-- name: notify_changes
-- Wake readers of the change feed: run after the commit, in the COMMIT's message (postgres_tx.commit), in
-- a transaction of its own (a lost one costs a reader one poll). The
-- payload names the store that committed (SENDER: its token, hex), so a process can tell others' commits.
SELECT pg_notify('interlock_changes', 'SENDER');

-- name: history_page
-- Step records of one instance after a step number, oldest first.
SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source, target, context_change,
       effects, error
FROM history WHERE machine = %(machine)s AND id = %(id)s AND step > %(after)s
ORDER BY step LIMIT %(limit)s;

-- name: history_by_key
-- The step that applied an event with this idempotency key.
SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source, target,
       context_change, effects, error
FROM history WHERE machine = %(machine)s AND id = %(id)s AND idempotency_key = %(key)s;

-- name: changes
-- The change feed: sequenced steps after a position, in position order.
SELECT position, machine, id, step, outcome, at FROM history
WHERE position > %(after)s ORDER BY position LIMIT %(limit)s;

-- name: last_position
-- The change feed's head: the position the sequencer gave last (0 before the first step).
SELECT position FROM interlock_feed;

-- name: enqueue
-- Put an event in an instance's inbox; returns its sequence number.
INSERT INTO inbox (machine, id, event, idempotency_key, cause, sendid, enqueued_at)
VALUES (%(machine)s, %(id)s, %(event)s, %(idempotency_key)s, %(cause)s, %(sendid)s, %(now)s)
RETURNING seq;

-- name: inbox_by_key
-- A queued event with this idempotency key.
SELECT seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at
FROM inbox WHERE machine = %(machine)s AND id = %(id)s AND idempotency_key = %(key)s;

-- name: next_event
-- The oldest queued event of an instance.
SELECT seq, machine, id, event, idempotency_key, cause, sendid, enqueued_at
FROM inbox WHERE machine = %(machine)s AND id = %(id)s ORDER BY seq LIMIT 1;

-- name: remove_event
-- Take an event out of the inbox; the caller checks that the row was there.
DELETE FROM inbox WHERE machine = %(machine)s AND id = %(id)s AND seq = %(seq)s;

-- name: remove_events_by_sendid
-- Drop queued events that came from a delayed send that is now cancelled.
DELETE FROM inbox WHERE machine = %(machine)s AND id = %(id)s AND sendid = %(sendid)s;

-- name: remove_invocation_events
-- Drop queued events an invocation sent its invoker (they carry its invoke id).
DELETE FROM inbox WHERE machine = %(machine)s AND id = %(id)s
  AND (event::json ->> 'invokeid') = %(invokeid)s;

-- name: clear_inbox
-- Drop every queued event of an instance (it was cancelled).
DELETE FROM inbox WHERE machine = %(machine)s AND id = %(id)s;

-- name: add_timer
-- A delayed send, due at due_at.
INSERT INTO timers (key, machine, id, sendid, target, event, due_at)
VALUES (%(key)s, %(machine)s, %(id)s, %(sendid)s, %(target)s, %(event)s, %(due_at)s);

-- name: cancel_timers
-- Cancel pending delayed sends of an instance by send id.
DELETE FROM timers WHERE machine = %(machine)s AND id = %(id)s AND sendid = %(sendid)s;

-- name: cancel_all_timers
-- Cancel every pending delayed send of an instance.
DELETE FROM timers WHERE machine = %(machine)s AND id = %(id)s;

-- name: cancel_all_timers_rows
-- Cancel every pending delayed send of many instances, one JSON array of (machine, id), each instance's
-- found by its key on its own (a lateral subquery per row, then a TID scan), matched by TID and key both.
WITH r AS MATERIALIZED (
    SELECT r.machine, r.id, x.tid FROM json_populate_recordset(NULL::timers, %(rows)s::json) AS r
    CROSS JOIN LATERAL (
        SELECT t.ctid AS tid FROM timers t WHERE t.machine = r.machine AND t.id = r.id OFFSET 0) AS x)
DELETE FROM timers AS t WHERE t.ctid = ANY (ARRAY(SELECT tid FROM r))
  AND EXISTS (SELECT FROM r WHERE r.tid = t.ctid AND r.machine = t.machine AND r.id = t.id);

-- name: take_due_timers
-- Delete and return timers due at or before now (the caller sorts by due_at, seq). Rows another
-- transaction holds are skipped, and only rows this statement deleted come back: a timer fires once.
DELETE FROM timers WHERE (machine, id, key) IN (
    SELECT machine, id, key FROM timers WHERE due_at <= %(now)s ORDER BY due_at, seq LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING seq, key, machine, id, sendid, target, event, due_at;

-- name: add_task
-- An invoked service, available now, or already claimed by the transaction that added it (positional:
-- the transaction writes its new tasks with one executemany).
INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
                   lease_owner, lease_until, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);

-- name: add_task_rows
-- Invoked services, one JSON array of rows: available now, or already claimed by the transaction that
-- added them.
INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
                   lease_owner, lease_until, created_at)
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, created_at
FROM json_populate_recordset(NULL::tasks, %(rows)s::json);

-- name: cancel_tasks
-- Cancel the tasks of one invoke of an instance.
DELETE FROM tasks WHERE machine = %(machine)s AND id = %(id)s AND invokeid = %(invokeid)s;

-- name: cancel_all_tasks
-- Cancel every task of an instance.
DELETE FROM tasks WHERE machine = %(machine)s AND id = %(id)s;

-- name: claimable_tasks
-- Tasks of the given services ready to run (pending and available, or running with an expired lease),
-- locked for this transaction; rows another claim holds are skipped.
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks
WHERE service = ANY(%(services)s)
  AND ((status = 'pending' AND available_at <= %(now)s) OR (status = 'running' AND lease_until <= %(now)s))
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: lease_task
-- Claim a task for one attempt, if it is still as the claim read it.
UPDATE tasks SET status = 'running', attempt = attempt + 1, lease_owner = %(owner)s, lease_until = %(until)s
WHERE key = %(key)s AND attempt = %(attempt)s
  AND ((status = 'pending' AND available_at <= %(now)s) OR (status = 'running' AND lease_until <= %(now)s));

-- name: extend_lease
-- A heartbeat: keep the lease while the attempt makes progress.
UPDATE tasks SET lease_until = %(until)s
WHERE key = %(key)s AND lease_owner = %(owner)s AND attempt = %(attempt)s AND status = 'running';

-- name: owned_task
-- The task if this owner still holds the lease for this attempt.
SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
       lease_owner, lease_until, last_error
FROM tasks WHERE key = %(key)s AND lease_owner = %(owner)s AND attempt = %(attempt)s
  AND status = 'running';

-- name: retry_task
-- An attempt failed: make the task available again later.
UPDATE tasks SET status = 'pending', available_at = %(available_at)s, lease_owner = NULL,
                 lease_until = NULL, last_error = %(error)s
WHERE key = %(key)s;

-- name: remove_task
-- The task's outcome was delivered.
DELETE FROM tasks WHERE key = %(key)s;

-- name: remove_tasks_rows
-- Many delivered tasks, one JSON array of (machine, id, key), each found by its key on its own (a
-- subquery per row, then a TID scan), matched by TID and key both.
WITH r AS MATERIALIZED (
    SELECT r.machine, r.id, r.key,
           (SELECT x.ctid FROM tasks x WHERE x.machine = r.machine AND x.id = r.id AND x.key = r.key) AS tid
    FROM json_populate_recordset(NULL::tasks, %(rows)s::json) AS r)
DELETE FROM tasks AS t WHERE t.ctid = ANY (ARRAY(SELECT tid FROM r WHERE tid IS NOT NULL))
  AND EXISTS (SELECT FROM r WHERE r.tid = t.ctid AND r.machine = t.machine AND r.id = t.id AND r.key = t.key);

-- name: lock_tasks
-- Of many attempts (parallel arrays of keys, owners and attempts), the tasks still leased to them, locked
-- for this transaction: their results are about to be recorded, and no claim takes one over meanwhile.
-- Rows another transaction holds are skipped (their results remove them with remove_owned_task).
-- Each by its key on its own (a lateral subquery per lease, given without duplicates), as lock_instances.
SELECT x.key, x.lease_owner, x.attempt, x.machine, x.id, x.invokeid
FROM unnest(%(keys)s::text[], %(owners)s::text[], %(attempts)s::int[]) AS leases (k, o, a)
CROSS JOIN LATERAL (
    SELECT key, lease_owner, attempt, machine, id, invokeid FROM tasks
    WHERE key = leases.k AND lease_owner = leases.o AND attempt = leases.a AND status = 'running'
    FOR UPDATE SKIP LOCKED) AS x;

-- name: remove_owned_task
-- The attempt's outcome is final and is delivered: remove the task if this owner still holds the lease
-- for this attempt (no row: the result is stale).
DELETE FROM tasks WHERE key = %(key)s AND lease_owner = %(owner)s AND attempt = %(attempt)s
  AND status = 'running';

-- name: next_wakeup
-- When the earliest timer is due or task becomes claimable.
SELECT LEAST((SELECT MIN(due_at) FROM timers),
             (SELECT MIN(available_at) FROM tasks WHERE status = 'pending'),
             (SELECT MIN(lease_until) FROM tasks WHERE status = 'running'));

-- name: insert_key
-- A new API key (its digest only); nothing when the id is taken (the caller then refuses).
INSERT INTO api_keys (id, digest, scopes, label, created_at) VALUES (%(id)s, %(digest)s, %(scopes)s, %(label)s, %(now)s)
ON CONFLICT (id) DO NOTHING;

-- name: get_key
-- One API key by its public id.
SELECT id, digest, scopes, label, created_at, last_used_at, revoked_at FROM api_keys WHERE id = %(id)s;

-- name: api_keys
-- The first page of API keys, oldest first (revoked ones too).
SELECT id, digest, scopes, label, created_at, last_used_at, revoked_at FROM api_keys
ORDER BY created_at, id LIMIT %(limit)s;

-- name: api_keys_after
-- The next page of API keys: those after the key whose id is the cursor, in the same order (none when no key has that id).
SELECT id, digest, scopes, label, created_at, last_used_at, revoked_at FROM api_keys
WHERE (created_at, id) > (SELECT created_at, id FROM api_keys WHERE id = %(after)s)
ORDER BY created_at, id LIMIT %(limit)s;

-- name: revoke_key
-- Revoke an API key (the first revocation's time is kept).
UPDATE api_keys SET revoked_at = COALESCE(revoked_at, %(now)s) WHERE id = %(id)s;

-- name: touch_key
-- Record when an API key was last used.
UPDATE api_keys SET last_used_at = %(now)s WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(now)s);

-- name: write_rows
-- A transaction's waiting writes of every kind in one statement: each kind's rows are one JSON array
-- (empty when none wait), so the statement's text never changes (prepared once) and the server and the
-- driver run one statement instead of one per kind. The kinds touch different rows (the caller nets a
-- table's writes so no two of them touch one row: its sub-statements run in no set order and do not see
-- each other's rows), each as its one-kind statement above does it: new instances (none inserted where
-- the name is taken), instance updates (compare-and-set on the revision), index removals and additions,
-- task leases (compare-and-set on the attempt), task removals and additions, timer cancellations, step
-- records in the array's order. It returns the rows that hit of the kinds whose every row must.
WITH
new_instances AS (
    INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot,
                           parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision)
    SELECT machine, id, version, status, paused, step, queued, snapshot,
           parent_machine, parent_id, parent_invokeid, created_at, updated_at, revision
    FROM json_populate_recordset(NULL::instances, %(inserts)s::json)
    ON CONFLICT (machine, id) DO NOTHING
    RETURNING 1),
u AS MATERIALIZED (
    SELECT u.*, (SELECT x.ctid FROM instances x WHERE x.machine = u.machine AND x.id = u.id) AS tid
    FROM json_to_recordset(%(updates)s::json) AS u (machine text, id text COLLATE "C", status text,
         paused boolean, step bigint, queued bigint, snapshot text, updated_at double precision,
         revision bigint, next bigint)),
updated AS (
    UPDATE instances AS i
    SET (status, paused, step, queued, snapshot, updated_at, revision) =
        (u.status, u.paused, u.step, u.queued, u.snapshot, u.updated_at, u.next)
    FROM u
    WHERE i.ctid = ANY (ARRAY(SELECT tid FROM u WHERE tid IS NOT NULL))
      AND u.tid = i.ctid AND u.machine = i.machine AND u.id = i.id AND i.revision = u.revision
    RETURNING 1),
gone AS MATERIALIZED (
    SELECT g.*, (SELECT x.ctid FROM instance_index x
                 WHERE x.machine = g.machine AND x.kind = g.kind AND x.value = g.value AND x.id = g.id) AS tid
    FROM json_populate_recordset(NULL::instance_index, %(unindexed)s::json) AS g),
unindexed AS (
    DELETE FROM instance_index AS x WHERE x.ctid = ANY (ARRAY(SELECT tid FROM gone WHERE tid IS NOT NULL))
      AND EXISTS (SELECT FROM gone WHERE gone.tid = x.ctid AND gone.machine = x.machine
                  AND gone.kind = x.kind AND gone.value = x.value AND gone.id = x.id)),
indexed AS (
    INSERT INTO instance_index (machine, kind, value, id)
    SELECT machine, kind, value, id FROM json_populate_recordset(NULL::instance_index, %(indexed)s::json)),
l AS MATERIALIZED (
    SELECT l.*, (SELECT x.ctid FROM tasks x WHERE x.machine = l.machine AND x.id = l.id AND x.key = l.key) AS tid
    FROM json_to_recordset(%(leases)s::json) AS l (machine text, id text, key text, owner text,
         until double precision, now double precision, attempt integer)),
leased AS (
    UPDATE tasks AS t SET status = 'running', attempt = t.attempt + 1, lease_owner = l.owner, lease_until = l.until
    FROM l
    WHERE t.ctid = ANY (ARRAY(SELECT tid FROM l WHERE tid IS NOT NULL))
      AND l.tid = t.ctid AND l.machine = t.machine AND l.id = t.id AND l.key = t.key AND t.attempt = l.attempt
      AND ((t.status = 'pending' AND t.available_at <= l.now) OR (t.status = 'running' AND t.lease_until <= l.now))
    RETURNING 1),
done AS MATERIALIZED (
    SELECT d.machine, d.id, d.key,
           (SELECT x.ctid FROM tasks x WHERE x.machine = d.machine AND x.id = d.id AND x.key = d.key) AS tid
    FROM json_populate_recordset(NULL::tasks, %(removed)s::json) AS d),
removed AS (
    DELETE FROM tasks AS t WHERE t.ctid = ANY (ARRAY(SELECT tid FROM done WHERE tid IS NOT NULL))
      AND EXISTS (SELECT FROM done WHERE done.tid = t.ctid AND done.machine = t.machine AND done.id = t.id
                  AND done.key = t.key)),
added AS (
    INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
                       lease_owner, lease_until, created_at)
    SELECT key, machine, id, invokeid, service, input, policy, attempt, status, available_at,
           lease_owner, lease_until, created_at
    FROM json_populate_recordset(NULL::tasks, %(tasks)s::json)),
c AS MATERIALIZED (
    SELECT c.machine, c.id, x.tid FROM json_populate_recordset(NULL::timers, %(cancelled)s::json) AS c
    CROSS JOIN LATERAL (
        SELECT t.ctid AS tid FROM timers t WHERE t.machine = c.machine AND t.id = c.id OFFSET 0) AS x),
cancelled AS (
    DELETE FROM timers AS t WHERE t.ctid = ANY (ARRAY(SELECT tid FROM c))
      AND EXISTS (SELECT FROM c WHERE c.tid = t.ctid AND c.machine = t.machine AND c.id = t.id)),
recorded AS (
    INSERT INTO history (machine, id, step, at, outcome, event, idempotency_key, cause, source,
                         target, context_change, effects, error)
    SELECT machine, id, step, at, outcome, event, idempotency_key, cause, source,
           target, context_change, effects, error
    FROM json_populate_recordset(NULL::history, %(history)s::json) WITH ORDINALITY AS r
    ORDER BY r.ordinality)
SELECT (SELECT count(*) FROM new_instances), (SELECT count(*) FROM updated), (SELECT count(*) FROM leased);
