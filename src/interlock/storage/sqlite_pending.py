"""Write-behind for the hot rows of a SQLite write transaction.

A step changes an instance row, appends a history record, maybe moves the state index and passes
events through inboxes. Issued one statement at a time that is a dozen SQL round trips per event; here
they wait in memory and go out as a few statements, each writing many rows (see write_rows), when
the transaction commits, or earlier when a query needs to see them (every read of the transaction
flushes first, except the ones that look into this buffer themselves). Nothing is lost by waiting: the
buffer belongs to one transaction, is flushed before its ``COMMIT`` and before every savepoint, and is
dropped with a rollback.

A new instance waits too when the transaction found its name free (``lock_instances``; ``BEGIN
IMMEDIATE`` keeps every other writer out until the commit, so nobody can take the name meanwhile): it
is inserted at the flush with the values of the steps that followed its creation, so a create is one
INSERT, not an INSERT and then an UPDATE, and a batch's creates are one statement.

Inbox events that are applied in the transaction that queued them never reach the table at all. Their
sequence numbers are allocated here from ``sqlite_sequence`` (the writer holds the database lock, so no
one else allocates), so an event keeps its number whether or not it is ever written.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from interlock.storage.codec import dumps, encode_exact
from interlock.storage.state_index import Index, moves
from interlock.storage.store import HistoryRow, InstanceRow, QueuedEvent, StaleRowError

Key = tuple[str, str]


class Pending:
    """What a write transaction has decided but not yet written."""

    __slots__ = ("appended", "history", "history_keys", "inbox", "index", "inserted", "instances", "next_seq")

    def __init__(self) -> None:
        self.instances: dict[Key, InstanceRow] = {}
        # instances of ``instances`` not stored yet (inserted here): whether they were updated since
        self.inserted: dict[Key, bool] = {}
        self.history: list[tuple[Any, ...]] = []
        self.history_keys: dict[tuple[str, str, str], HistoryRow] = {}
        self.index: dict[Key, tuple[Index, Index]] = {}  # (as stored, wanted)
        self.inbox: dict[Key, deque[tuple[QueuedEvent, str]]] = {}  # with the event encoded
        self.next_seq: int | None = None
        self.appended = 0  # history records written (the transaction may have to index them)

    def __bool__(self) -> bool:
        return bool(self.instances or self.history or self.index or self.inbox)

    def clear(self) -> None:
        self.instances.clear()
        self.inserted.clear()
        self.history.clear()
        self.history_keys.clear()
        self.index.clear()
        self.inbox.clear()

    # -- rows ---------------------------------------------------------------------------------------

    def insert(self, row: InstanceRow) -> None:
        """A new instance whose name the transaction found free: written at the flush, with its values
        then (one INSERT for the create and the start step that follows it)."""
        key = (row.machine, row.id)
        self.instances[key] = row
        self.inserted[key] = False

    def update(self, row: InstanceRow) -> None:
        key = (row.machine, row.id)
        self.instances[key] = row
        if key in self.inserted:
            self.inserted[key] = True

    def history_row(self, row: HistoryRow) -> None:
        """Encode now (a value that is not JSON fails in the step that produced it), write later."""
        self.history.append((  # in the column order of the append_history_rows query
            row.machine, row.id, row.step, row.at, row.outcome,
            None if row.event is None else dumps(row.event), row.idempotency_key, row.cause,
            _states_json(row.source), _states_json(row.target),
            # most steps change no context and have no effects
            dumps(row.context_change) if row.context_change else "{}",
            dumps(row.effects) if row.effects else "[]",
            row.error,
        ))
        if row.idempotency_key is not None:
            self.history_keys[(row.machine, row.id, row.idempotency_key)] = row

    def set_index(self, key: Key, before: Index, after: Index) -> None:
        known = self.index.get(key)
        self.index[key] = (known[0] if known is not None else before, after)

    def enqueue(self, conn: sqlite3.Connection, machine: str, id: str, event: dict[str, Any],
                idempotency_key: str | None, cause: str | None, sendid: str | None, now: float) -> int:
        event, text = encode_exact(event)  # now: what cannot be stored fails the step that sent it, and
        # an event applied in this transaction is the one a restart would read from the table
        seq = self._seq(conn)
        queued = QueuedEvent(seq, machine, id, event, idempotency_key, cause, sendid, now)
        self.inbox.setdefault((machine, id), deque()).append((queued, text))
        return seq

    def _seq(self, conn: sqlite3.Connection) -> int:
        if self.next_seq is None:
            found = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone()
            self.next_seq = (found[0] if found else 0) + 1
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    # -- writing ------------------------------------------------------------------------------------

    def flush(self, conn: sqlite3.Connection, queries: dict[str, str]) -> None:
        if self.inserted:
            _insert_instances(conn, queries, [(self.instances.pop(key), updated)
                                              for key, updated in self.inserted.items()])
            self.inserted.clear()
        if self.instances:
            _flush_instances(conn, queries, self.instances.values())
            self.instances.clear()
        if self.history:
            write_rows(conn, queries, "append_history", self.history, ordered=True)
            self.appended += len(self.history)
            self.history.clear()
            self.history_keys.clear()
        if self.index:
            _flush_index(conn, queries, self.index)
            self.index.clear()
        if self.inbox:
            events = [_inbox_params(*e) for q in self.inbox.values() for e in q]
            write_rows(conn, queries, "enqueue", events)  # the statement orders them by seq (none: no
            # statement; the queued events may all have been removed again in this transaction)
            self.inbox.clear()


def _insert_instances(conn: sqlite3.Connection, queries: dict[str, str],
                      rows: list[tuple[InstanceRow, bool]]) -> None:
    """New instances, inserted with their last values and the revision those make (the insert is
    revision 0, an update after it 1, as the INSERT and the UPDATE one by one would leave it)."""
    params: list[tuple[Any, ...]] = []
    for row, updated in rows:
        if updated and row.revision != 0:
            raise StaleRowError(f"instance {row.machine}/{row.id} was updated at revision {row.revision} "
                                "before it was stored (inserted at 0 in this transaction)")
        snapshot = row.snapshot_json if row.snapshot_json is not None else dumps(row.snapshot)
        params.append((row.machine, row.id, row.version, row.status, int(row.paused), row.step, row.queued,
                       snapshot, row.parent_machine, row.parent_id, row.parent_invokeid, row.created_at,
                       row.updated_at, int(updated)))
    write_rows(conn, queries, "insert_new_instance", params)
    for row, updated in rows:
        row.revision = int(updated)
        row.stored = (row.status, row.paused, row.queued)


def _flush_instances(conn: sqlite3.Connection, queries: dict[str, str], rows: Iterable[InstanceRow]) -> None:
    """Rows whose status, paused and queued are as stored get the narrow UPDATE (step, snapshot, time):
    SQLite maintains an index on every UPDATE that sets one of its columns, even to the same value.
    Every update is a compare-and-set on the row's revision; one that matched no row raises."""
    narrow: list[tuple[Any, ...]] = []
    full: list[tuple[Any, ...]] = []
    rows = list(rows)
    for row in rows:
        snapshot = row.snapshot_json if row.snapshot_json is not None else dumps(row.snapshot)
        counters = (row.status, row.paused, row.queued)
        if counters == row.stored:
            narrow.append((row.machine, row.id, row.revision, row.step, snapshot, row.updated_at))
        else:
            full.append((row.machine, row.id, row.revision, row.status, int(row.paused), row.step,
                         row.queued, snapshot, row.updated_at))
        row.stored = counters  # a rollback drops the cached rows (see runtime/unit.py)
    written = 0
    if narrow:
        written += write_rows(conn, queries, "update_instance_step", narrow)
    if full:
        written += write_rows(conn, queries, "update_instance", full)
    if written != len(rows):
        raise StaleRowError(f"{len(rows) - written} of {len(rows)} instance rows changed since they were "
                            "read (another writer)")
    for row in rows:
        row.revision += 1


def _flush_index(conn: sqlite3.Connection, queries: dict[str, str],
                 index: dict[Key, tuple[Index, Index]]) -> None:
    """Moves are a DELETE and an INSERT (each of many rows); one move alone (one instance left one state
    for another: most steps at low load) is one UPDATE, one statement fewer. (An UPDATE of ``value``
    costs SQLite as much as the DELETE and INSERT: it changes a key column of a WITHOUT ROWID table; for
    many rows, an UPDATE ... FROM VALUES measured slower than the two statements.)"""
    gone: list[tuple[str, ...]] = []
    new: list[tuple[str, ...]] = []
    for (machine, id), (before, after) in index.items():
        removed, added = moves(before, after)
        gone += [(machine, k, v, id) for k, v in removed]
        new += [(machine, k, v, id) for k, v in added]
    if len(gone) == 1 and len(new) == 1 and _one_move(conn, queries, gone[0], new[0]):
        return
    if gone:
        write_rows(conn, queries, "remove_index", gone)
    if new:
        write_rows(conn, queries, "add_index", new)


def _one_move(conn: sqlite3.Connection, queries: dict[str, str], gone: tuple[str, ...],
              new: tuple[str, ...]) -> bool:
    """Move one index entry of an instance to another value of the same kind in one UPDATE; False if
    they are not of one instance and kind, or the entry to move is not stored (the DELETE and INSERT
    then do as they always did)."""
    machine, kind, value, id = gone
    if (new[0], new[1], new[3]) != (machine, kind, id):
        return False
    return bool(conn.execute(queries["move_index"], (machine, kind, value, id, new[2])).rowcount)


# -- many rows, one statement -----------------------------------------------------------------------
#
# Every call into SQLite lets the GIL go while SQLite works, and a thread that wants it back while
# another thread runs Python (the server's event loop, under load) waits up to the switch interval for
# it. ``executemany`` makes one such call per row, so a transaction of 64 steps waited for the GIL about
# 130 times; a statement that takes its rows from a VALUES list makes one. Row counts are rounded up to
# a power of two (rows of NULLs, which the statements skip), so a handful of texts per statement stay
# prepared in the connection's statement cache.

ROWS_PER_STATEMENT = 256  # times at most 14 parameters: well under SQLite's limit of 32,766
_SQL: dict[tuple[str, int, int], str] = {}


def write_rows(conn: sqlite3.Connection, queries: dict[str, str], name: str, rows: Sequence[Sequence[Any]], *,
               ordered: bool = False) -> int:
    """Write ``rows`` with query ``name`` (one row: its plain form, which costs SQLite less) or
    ``name_rows`` (a query whose ``{rows}`` stands for its VALUES rows), in as few statements as
    ROWS_PER_STATEMENT allows; with ``ordered``, each row is preceded by its position (the statement
    orders by it); the number of rows the statements changed."""
    if not rows:
        return 0
    if len(rows) == 1:
        return conn.execute(queries[name], rows[0]).rowcount
    template = queries[name + "_rows"]
    changed = 0
    width = len(rows[0]) + ordered
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start:start + ROWS_PER_STATEMENT]
        size = 1 << (len(part) - 1).bit_length()
        params: list[Any] = []
        if ordered:
            for position, row in enumerate(part):
                params.append(position)
                params.extend(row)
        else:
            for row in part:
                params.extend(row)
        params.extend([None] * ((size - len(part)) * width))
        changed += conn.execute(_statement(template, width, size), params).rowcount
    return changed


def _statement(template: str, width: int, size: int) -> str:
    key = (template, width, size)
    sql = _SQL.get(key)
    if sql is None:
        row = "(" + ", ".join("?" * width) + ")"
        sql = _SQL[key] = template.replace("{rows}", ", ".join([row] * size))
    return sql


_STATES_JSON: dict[tuple[str, ...], str] = {}


def _states_json(states: Sequence[str]) -> str:
    """A configuration as JSON, memoized (a chart has few configurations; bounded by restarting)."""
    key = tuple(states)
    found = _STATES_JSON.get(key)
    if found is None:
        found = dumps(list(key))
        if len(_STATES_JSON) >= 10_000:
            _STATES_JSON.clear()
        _STATES_JSON[key] = found
    return found


def instance_params(row: InstanceRow) -> dict[str, Any]:
    snapshot = row.snapshot_json if row.snapshot_json is not None else dumps(row.snapshot)
    return {
        "machine": row.machine, "id": row.id, "version": row.version, "status": row.status,
        "paused": int(row.paused), "step": row.step, "queued": row.queued,
        "snapshot": snapshot, "parent_machine": row.parent_machine,
        "parent_id": row.parent_id, "parent_invokeid": row.parent_invokeid,
        "created_at": row.created_at, "updated_at": row.updated_at, "revision": row.revision,
    }


def _inbox_params(e: QueuedEvent, text: str) -> tuple[Any, ...]:
    return (e.seq, e.machine, e.id, text, e.idempotency_key, e.cause, e.sendid, e.enqueued_at)
