"""One PostgreSQL transaction: the :class:`~interlock.storage.store.WriteTx` methods over a connection.

History records wait in the transaction until it commits (or a read of the history needs them), and get
their change-feed positions after it has committed (:meth:`PostgresTx.sequence_changes`), so recording a
step locks nothing shared. Instance inserts and updates, index moves, new tasks, leases of claimed tasks,
task removals and timer cancellations wait too, until a statement that must see them or the commit,
where they go out as ONE statement (``write_rows``: a data-modifying sub-statement per kind, each kind's
rows in one JSON parameter; psycopg's CPU per statement, not the server, limited a busy writer). The
kinds it writes touch different rows (netted here first: an instance inserted and updated in the
transaction is inserted with its last values), since its sub-statements do not see each other's rows.
Instance updates and inserts and task leases must each hit their row (compare-and-set): the statement
returns how many did, and a miss refuses the transaction (:class:`StaleRowError`). A claim in the same
transaction leases waiting tasks where they are (a workflow's next step is inserted already claimed).
Everything else is written at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import errors, generators

from interlock.errors import ConflictError, StorageError
from interlock.storage.codec import dumps
from interlock.storage.queries import load_queries
from interlock.storage.rows import history_row as _history
from interlock.storage.rows import instance_row as _instance
from interlock.storage.rows import queued_event as _queued
from interlock.storage.rows import task_row as _task
from interlock.storage.sqlite_errors import stored_json as loads
from interlock.storage.sqlite_pending import instance_params
from interlock.storage.state_index import index_of, moves
from interlock.storage.store import (
    Change,
    HistoryRow,
    InstanceRow,
    Locked,
    QueuedEvent,
    StaleRowError,
    TaskRow,
    TimerRow,
)
from interlock.storage.task_buffer import TaskBuffer
from interlock.storage.tx_reads import SharedQueries

_Q = load_queries("postgres")


def notify_text(sender: str) -> bytes:
    """The NOTIFY a store sends after its commits, its payload the store's token (``sender``, hex)."""
    if not sender.isalnum():
        raise ValueError(f"a sender token is letters and digits, not {sender!r}")
    return _Q["notify_changes"].replace("SENDER", sender).encode()
# write_rows's parameters: one JSON array of rows per kind of waiting write
_KINDS = ("inserts", "updates", "unindexed", "indexed", "leases", "removed", "tasks", "cancelled", "history")
# the sub-statements (CTEs) of write_rows that write each kind, by name
_PARTS = {"inserts": ("new_instances",), "updates": ("u", "updated"), "unindexed": ("gone", "unindexed"),
          "indexed": ("indexed",), "leases": ("l", "leased"), "removed": ("done", "removed"), "tasks": ("added",),
          "cancelled": ("c", "cancelled"), "history": ("recorded",)}
# the kinds whose every row must hit, with the sub-statement that returns the rows that did
_COUNTED = (("inserts", "new_instances"), ("updates", "updated"), ("leases", "leased"))


def _sub_statements(text: str) -> dict[str, str]:
    """write_rows's sub-statements by name, without the blanks they need not (runs of them as one space,
    none beside punctuation; the statement has no string with those): psycopg parses a statement of
    more than 4,096 bytes again at every run instead of once (its conversion cache skips longer ones)."""
    text = re.sub(r" ?([(),=<>]) ?", r"\1", " ".join(text.split()))
    assert text.startswith("WITH ")
    parts: dict[str, str] = {}
    depth, start = 0, len("WITH ")
    for at, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0 and not text.startswith(",", at + 1):  # the last sub-statement's end
                parts[text[start:at + 1].split(" ", 1)[0]] = text[start:at + 1]
                break
        elif char == "," and depth == 0 and at >= start:
            parts[text[start:at].split(" ", 1)[0]] = text[start:at]
            start = at + 1
    assert set(parts) == {name for names in _PARTS.values() for name in names}, sorted(parts)
    return parts


_SUB_STATEMENTS = _sub_statements(_Q["write_rows"])
# the kinds each flush writes ("updates": the instance rows, ...), by the flushes asked for
_FLUSHED = {"updates": ("inserts", "updates"), "index": ("unindexed", "indexed"), "tasks": ("leases", "removed", "tasks"),
            "timers": ("cancelled",), "history": ("history",)}
_GROUPS: dict[tuple[str, ...], tuple[str, ...]] = {groups: tuple(kind for kind in _KINDS if any(kind in _FLUSHED[g] for g in groups))
           for groups in (("updates",), ("index",), ("tasks",), ("timers",),
                          ("updates", "index", "tasks", "timers", "history"))}
_WRITES: dict[tuple[str, ...], str] = {}


def _write_statement(kinds: tuple[str, ...]) -> str:
    """write_rows with the sub-statements of these kinds only: a flush before a read writes the kinds the
    read must see, the commit's all (an empty sub-statement costs the server about as much as a small
    statement: an empty write_rows 260 us, measured, a one-kind one 75). One text per set of kinds, and a
    few sets (see _GROUPS), so each is prepared once: with a set per combination of the kinds that had
    rows (36 in the benchmark), most were planned anew at most runs, and the server spent 10% more."""
    text = _WRITES.get(kinds)
    if text is None:
        ctes = ",".join(_SUB_STATEMENTS[name] for kind in kinds for name in _PARTS[kind])
        counts = ",".join(f"(SELECT count(*)FROM {name})" if kind in kinds else "0" for kind, name in _COUNTED)
        text = _WRITES[kinds] = f"WITH {ctes} SELECT {counts}"
        assert len(text.encode()) <= 4096, "write_rows must stay short enough for psycopg to cache"
    return text
# another writer got there first: the transaction is rolled back and its commands run again
_RACES = (errors.SerializationFailure, errors.DeadlockDetected, errors.UniqueViolation,
          errors.LockNotAvailable)


def translate(exc: psycopg.Error, what: str) -> Exception:
    """A driver error as the store's: a lost race, a lost connection, or a clear StorageError."""
    if isinstance(exc, _RACES):
        return StaleRowError(f"another writer changed the same rows while {what} ({exc.sqlstate}: "
                             f"{str(exc).strip()})")
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(
            f"the connection to PostgreSQL failed while {what}: {str(exc).strip()}. The transaction was "
            "rolled back; if it failed during COMMIT its outcome is unknown, so retry with an "
            "idempotency key. The next command reconnects")
    if isinstance(exc, psycopg.DataError) and ("0x00" in str(exc) or "\\u0000" in _detail(exc)):
        return StorageError("PostgreSQL text cannot hold the NUL character (\\x00); remove it from the "
                            f"value (ids, keys and names are stored as text): {str(exc).strip()}")
    return StorageError(f"PostgreSQL failed while {what}: {type(exc).__name__}: {str(exc).strip()}")


def _detail(exc: psycopg.Error) -> str:
    """The message and its detail (a JSON row's ``\\u0000`` is named in the detail)."""
    return f"{exc} {exc.diag.message_detail or ''}"


def rows_json(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as one JSON array, for the statements that take a transaction's rows of a kind at once
    (``json_populate_recordset``): the server runs one statement instead of one per row, and the
    driver sends one parameter instead of adapting every value of every row. A column's non-finite
    number (a lease of ``inf``) goes as the text PostgreSQL reads it from (``"Infinity"``), as a
    parameter would: JSON has no such number. Encoded with orjson (3-4x faster than ``json`` on these
    rows), which would write a non-finite number as ``null``: a row with one, or anything orjson
    refuses, goes through ``json`` as before."""
    for row in rows:
        for value in row.values():
            if value.__class__ is float and value - value:  # NaN or an infinity (inf - inf is NaN)
                return _rows_json_slowly(rows)
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:
        return _rows_json_slowly(rows)


def _rows_json_slowly(rows: Sequence[dict[str, Any]]) -> str:
    try:
        return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps([{k: _column(v) for k, v in row.items()} for row in rows], ensure_ascii=False,
                          separators=(",", ":"), allow_nan=False)


def _column(value: Any) -> Any:
    if type(value) is float and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def command(conn: psycopg.Connection[Any], text: bytes, *, check: bool = True) -> None:
    """A statement without parameters or rows (BEGIN, COMMIT, ROLLBACK) sent through libpq
    directly, which lets the GIL go while it waits: through psycopg's cursor or ``transaction()``, a
    BEGIN and a COMMIT cost 3x the CPU (105 against 38 us for the two, measured), on the writer thread
    that limits a busy process. ``check=False``: the outcome does not matter (a ROLLBACK only if a
    transaction is open), and no error is raised."""
    pgconn = conn.pgconn
    if not check:
        with contextlib.suppress(psycopg.Error):
            if text != b"ROLLBACK" or pgconn.transaction_status in (psycopg.pq.TransactionStatus.INTRANS,
                                                                  psycopg.pq.TransactionStatus.INERROR):
                pgconn.exec_(text)
        return
    result = pgconn.exec_(text)
    if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError(pgconn.get_error_message().strip() or "the connection was lost")
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    if text == b"COMMIT" and result.command_status != b"COMMIT":
        # a transaction in which a statement failed (its error caught) ends in a ROLLBACK whose status
        # is OK: nothing was committed, and saying so is the caller's due (SQLite would have kept the rest)
        raise psycopg.errors.InFailedSqlTransaction("a statement of the transaction had failed, so PostgreSQL "
                                                     "rolled it back at COMMIT: nothing of it was committed")


def commit(conn: psycopg.Connection[Any], notify: bytes) -> None:
    """COMMIT and then ``notify`` (:func:`notify_text`: wake readers of the change feed) in one message,
    one round trip instead of two. PostgreSQL runs the NOTIFY once the COMMIT has finished (reached the
    disk), in an implicit transaction of its own: a NOTIFY inside the step's transaction would hold
    PostgreSQL's one notification lock until that commit's flush, so the commits of all processes would
    wait for each other's; alone, it writes no WAL and commits without a flush. Each statement has a
    result: the COMMIT's is checked as :func:`command` checks it (an error stops the message, so nothing
    is notified; a ROLLBACK is refused, its NOTIFY only a needless wake-up), the NOTIFY's is not (the
    steps are committed; a lost one costs a reader one poll). The wait for the results lets the GIL go,
    as ``exec_`` does (psycopg's wait on the socket, which its cursors use)."""
    pgconn = conn.pgconn
    pgconn.send_query(b"COMMIT;" + notify)
    results = conn.wait(generators.execute(pgconn))
    result = results[0] if results else None
    if result is None or result.status != psycopg.pq.ExecStatus.COMMAND_OK:
        if result is None or pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError(pgconn.get_error_message().strip() or "the connection was lost")
        raise psycopg.errors.error_from_result(result, encoding=conn.info.encoding)
    if result.command_status != b"COMMIT":
        raise psycopg.errors.InFailedSqlTransaction("a statement of the transaction had failed, so PostgreSQL "
                                                     "rolled it back at COMMIT: nothing of it was committed")


class PostgresTx(SharedQueries):
    """A transaction on one connection; see :class:`~interlock.storage.store.WriteTx`."""

    def __init__(self, conn: psycopg.Connection[Any], data_version: int = 0, *, writing: bool = False) -> None:
        self.conn = conn
        # A write transaction locks the instance rows it reads (a batch's at once, SKIP LOCKED:
        # lock_instances; any other NOWAIT), so no other writer changes them before it commits: the
        # compare-and-set then always holds, and it stays as the safety net.
        self._get = "lock_instance" if writing else "get_instance"
        # The writer keeps rows between transactions only while this stays the same; other processes
        # write at any time, so every transaction starts with fresh rows (the compare-and-set would
        # catch a stale one, at the cost of a retry).
        self.data_version = data_version
        self._history: list[tuple[HistoryRow, dict[str, Any]]] = []  # each with its encoded values
        self._history_keys: dict[tuple[str, str, str], HistoryRow] = {}
        # index moves (add or remove, row) wait too, netted per row (write_rows, like every waiting kind)
        self._index: list[tuple[bool, tuple[str, str, str, str]]] = []
        # instance updates wait too (the rows are locked: their compare-and-set holds), in order, until a
        # read of one of them, a read of many instances or the commit (write_rows)
        self._updates: list[dict[str, Any]] = []
        self._updated: set[tuple[str, str]] = set()
        # new instances wait too, with the updates (write_rows; a name another writer took
        # meanwhile fails the whole transaction, whose commands then run again and see it taken); and
        # the instances lock_instances found missing are known missing without another look
        self._inserts: list[dict[str, Any]] = []
        self._absent: set[tuple[str, str]] = set()
        # new tasks, the leases lock_tasks holds, removals of held tasks (task_buffer.py)
        self._tasks = TaskBuffer()
        # leases of tasks a claim took from the table (the claim locked their rows: every one hits),
        # written with the other task writes
        self._leases: list[dict[str, Any]] = []
        # timer cancellations wait too (an instance that ends cancels its timers, mostly none), by
        # query, until the next statement on timers or the commit
        self._cancels: dict[str, list[dict[str, Any]]] = {}
        self.recorded = False  # steps were written: readers of the feed are woken after the commit

    # -- statements -----------------------------------------------------------------------------------

    def _exec(self, name: str, params: Any = None) -> psycopg.Cursor[Any]:
        try:
            return self.conn.execute(_Q[name], params)
        except psycopg.Error as exc:
            raise translate(exc, f"running {name}") from exc

    def _one(self, name: str, params: Any = None) -> tuple[Any, ...] | None:
        return self._exec(name, params).fetchone()

    def _all(self, name: str, params: Any = None) -> list[tuple[Any, ...]]:
        return self._exec(name, params).fetchall()

    def _run(self, name: str, params: Any = None) -> int:
        return self._exec(name, params).rowcount

    def _each(self, name: str, rows: Sequence[Any]) -> None:
        """One executemany: a statement per row, one round trip (only for rare writes)."""
        try:
            with self.conn.cursor() as cur:
                cur.executemany(_Q[name], rows)
        except psycopg.Error as exc:
            raise translate(exc, f"running {name}") from exc

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit: an exception inside rolls back only this block (the writes it queued too),
        then propagates. What waited from before the block waits again after a rollback: a read inside
        may have written it, and the rollback undid that."""
        history, index, updates = list(self._history), list(self._index), list(self._updates)
        tasks, leases = self._tasks.copy(), list(self._leases)
        inserts, absent = list(self._inserts), set(self._absent)
        cancels = {name: list(rows) for name, rows in self._cancels.items()}
        try:
            with self.conn.transaction():
                yield
                self.flush()  # what the block decided is written inside it: a row the server refuses
                # fails this block, not the commit of every command beside it
        except BaseException as exc:
            self._history, self._index, self._updates = history, index, updates
            self._tasks.restore(tasks)
            self._leases = leases
            self._inserts, self._absent, self._cancels = inserts, absent, cancels
            self._updated = {(u["machine"], u["id"]) for u in self._updates + self._inserts}
            self._history_keys = {(r.machine, r.id, r.idempotency_key): r for r, _ in self._history
                                  if r.idempotency_key is not None}
            if isinstance(exc, psycopg.Error):
                raise translate(exc, "releasing a savepoint") from exc
            raise

    def waiting(self) -> bool:
        """Whether writes wait in the transaction's buffers."""
        return bool(self._inserts or self._updates or self._index or self._tasks or self._leases
                    or self._cancels or self._history)

    def flush(self) -> None:
        """Write the waiting instance inserts and updates, index moves, tasks, timer cancellations and
        history records (positions come after the commit: sequence_changes): one statement
        (``write_rows``), one round trip."""
        if self.waiting():
            self._write("updates", "index", "tasks", "timers", "history")

    def _flush_updates(self) -> None:
        self._write("updates")

    def _flush_index(self) -> None:
        self._write("index")

    def _flush_tasks(self) -> None:
        self._write("tasks")

    def _flush_timers(self) -> None:
        self._write("timers")

    def _write(self, *kinds: str) -> None:
        """The waiting writes of these kinds ("updates", "index", "tasks", "timers", "history"), in one
        ``write_rows`` statement (a kind with nothing waiting goes as an empty array); the new instances,
        instance updates and task leases must each hit their row, or the transaction fails
        (:class:`StaleRowError`)."""
        rows: dict[str, list[dict[str, Any]]] = {}
        if "timers" in kinds and self._cancels:
            self._write_cancels(rows)
        if "updates" in kinds and (self._inserts or self._updates):
            rows["inserts"], rows["updates"] = self._take_instances()
        if "index" in kinds and self._index:
            rows["unindexed"], rows["indexed"] = self._take_index()
        if "tasks" in kinds and (self._tasks or self._leases):
            self._take_tasks(rows)
        if "history" in kinds and self._history:
            rows["history"] = [r for _, r in self._history]
            self._history.clear()
            self._history_keys.clear()
            self.recorded = True
        if any(rows.values()):
            self._write_rows(rows, _GROUPS[kinds])

    def _write_rows(self, rows: dict[str, list[dict[str, Any]]], kinds: tuple[str, ...]) -> None:
        """One write_rows statement with the sub-statements of ``kinds`` (each set of kinds is one text:
        prepared once), a kind without rows as an empty array."""
        params = {kind: rows_json(rows[kind]) if rows.get(kind) else "[]" for kind in kinds}
        try:
            hit = self.conn.execute(_write_statement(kinds), params).fetchone()
        except psycopg.Error as exc:
            raise translate(exc, "writing the transaction's waiting rows") from exc
        assert hit is not None
        _all_hit(hit[0], len(rows.get("inserts", ())), "instance inserts found their name taken (another writer)")
        _all_hit(hit[1], len(rows.get("updates", ())),
                 "instance updates found their row changed since it was read (another writer)")
        _all_hit(hit[2], len(rows.get("leases", ())), "claimed tasks changed under their lock")

    def _take_instances(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The waiting new instances and instance updates, netted: an instance updated more than once
        here is written once, with its last values, if it is still at the revision its first update was
        read at and each later update was read at the revision the one before it made (as the statements
        one by one would check), and gets the revision of its last; a new instance updated here is
        inserted with its last values and the revision they make (one statement cannot update a row it
        inserts)."""
        inserts, updates = self._inserts, self._updates
        self._inserts, self._updates = [], []
        self._updated.clear()
        missed = "instance updates found their row changed since it was read (another writer)"
        new: dict[tuple[str, str], dict[str, Any]] = {}
        for row in inserts:
            new[(row["machine"], row["id"])] = {**row, "revision": 0}
        netted: dict[tuple[str, str], dict[str, Any]] = {}
        for row in updates:
            key = (row["machine"], row["id"])
            inserted = new.get(key)
            if inserted is not None:
                if row["revision"] != inserted["revision"]:
                    raise StaleRowError(f"1 of {len(updates)} {missed}")
                inserted.update(status=row["status"], paused=row["paused"], step=row["step"],
                                queued=row["queued"], snapshot=row["snapshot"], updated_at=row["updated_at"],
                                revision=row["revision"] + 1)
                continue
            first = netted.get(key)
            if first is not None and row["revision"] != first["next"]:
                raise StaleRowError(f"1 of {len(updates)} {missed}")
            netted[key] = {"machine": row["machine"], "id": row["id"], "status": row["status"],
                           "paused": row["paused"], "step": row["step"], "queued": row["queued"],
                           "snapshot": row["snapshot"], "updated_at": row["updated_at"],
                           "revision": row["revision"] if first is None else first["revision"],
                           "next": row["revision"] + 1}
        return list(new.values()), list(netted.values())

    def _take_index(self) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """The waiting index moves, netted per row: a row's first move says whether it was stored before
        the transaction, its last whether it is after; only rows where the two differ are written (so
        no row is both removed and added)."""
        first: dict[tuple[str, str, str, str], bool] = {}
        last: dict[tuple[str, str, str, str], bool] = {}
        for adds, key in self._index:
            first.setdefault(key, adds)
            last[key] = adds
        self._index.clear()
        removed = [_index_row(key) for key, adds in last.items() if not adds and not first[key]]
        added = [_index_row(key) for key, adds in last.items() if adds and first[key]]
        return removed, added

    def sequence_changes(self, key: int, limit: int = 10_000) -> int:
        """Give positions to committed steps that have none (one sequencer at a time); how many."""
        self._exec("lock_sequencer", {"key": key})
        return self._exec("sequence_changes", {"limit": limit}).rowcount

    def finish(self) -> None:
        self.flush()

    def meta_int(self, key: str) -> int:
        found = self.conn.execute("SELECT to_regclass('interlock_meta')").fetchone()
        if not found or found[0] is None:
            return 0
        row = self._one("get_meta", {"key": key})
        return int(row[0]) if row else 0

    # -- instances ------------------------------------------------------------------------------------

    def get_instance(self, machine: str, id: str) -> InstanceRow | None:
        if (machine, id) in self._absent:
            return None
        if (machine, id) in self._updated:
            self._flush_updates()
        row = self._one(self._get, {"machine": machine, "id": id})
        return _instance(row) if row else None

    def ended_instances(self, keys: Sequence[tuple[str, str]]) -> list[InstanceRow]:
        """The stored rows of those of ``keys`` that have ended, in one round trip (each once: a key given
        twice is asked for once, as SQLite's ``IN`` does)."""
        if not keys:
            return []
        machines, ids = zip(*dict.fromkeys(keys), strict=True)
        return [_instance(row) for row in self._all("ended_instances", {"machines": list(machines), "ids": list(ids)})]

    def lock_instances(self, keys: Sequence[tuple[str, str]],
                       leases: Sequence[tuple[str, str, int]] = ()) -> Locked:
        """One ``FOR UPDATE SKIP LOCKED`` for all the rows, which also tells held rows (another
        transaction has them) from missing ones; with ``leases``, :meth:`lock_tasks`'s statement goes
        in the same pipeline (one round trip for both)."""
        if not keys:
            self.lock_tasks(leases)
            return Locked([], [])
        self._flush_updates()
        wanted = list(dict.fromkeys(keys))  # the statement looks each key up on its own: once each
        params = {"machines": [m for m, _ in wanted], "ids": [i for _, i in wanted]}
        tasks = self._leases_to_lock(leases)
        if not tasks:
            found = self._all("lock_instances", params)
        else:
            self._flush_tasks()
            with self.conn.cursor() as instances_cur, self.conn.cursor() as tasks_cur:
                try:
                    with self.conn.pipeline():  # leaving it syncs: the one round trip
                        instances_cur.execute(_Q["lock_instances"], params)
                        tasks_cur.execute(_Q["lock_tasks"], tasks)
                    found = instances_cur.fetchall()
                    self._tasks.hold(tasks_cur.fetchall())
                except psycopg.Error as exc:
                    raise translate(exc, "locking a batch's instances and tasks") from exc
        rows: list[InstanceRow] = []
        held: list[tuple[str, str]] = []
        for r in found:
            if r[0] is not None:
                rows.append(_instance(r))
            elif r[16]:
                held.append((r[14], r[15]))
            else:
                self._absent.add((r[14], r[15]))
        return Locked(rows, held)

    def insert_instance(self, row: InstanceRow) -> None:
        """Queued like the updates when this write transaction found the name free (lock_instances),
        else inserted at once."""
        params = _params(row)
        key = (row.machine, row.id)
        if key in self._absent:
            self._absent.discard(key)
            self._inserts.append(params)
            self._updated.add(key)
        else:
            self._insert_now(row, params)
        row.snapshot_json = params["snapshot"]
        row.revision = 0
        row.stored = (row.status, row.paused, row.queued)

    def _insert_now(self, row: InstanceRow, params: dict[str, Any]) -> None:
        if (row.machine, row.id) in self._updated:  # inserted here already, and waiting: it goes first
            self._flush_updates()
        if self._exec("insert_instance", params).rowcount != 1:
            if self.get_instance(row.machine, row.id) is not None:
                raise ConflictError(f"instance {row.id!r} of machine {row.machine!r} already exists; "
                                    "choose another id, or send it events")
            raise StaleRowError(f"instance {row.machine}/{row.id} was being created by another writer")

    def update_instance(self, row: InstanceRow) -> None:
        """Queued until :meth:`flush` (see ``_updates``); a write transaction locked the row when it
        read it, so the compare-and-set holds, and a miss fails the whole transaction."""
        if self._get != "lock_instance":  # not read under a lock: compare-and-set at once
            if self._exec("update_instance", _params(row)).rowcount != 1:
                raise StaleRowError(f"instance {row.machine}/{row.id} changed since it was read at "
                                    f"revision {row.revision} (another writer)")
        else:
            self._updates.append(_params(row))
            self._updated.add((row.machine, row.id))
        row.revision += 1
        row.stored = (row.status, row.paused, row.queued)

    def find_child(self, machine: str, id: str, invokeid: str) -> InstanceRow | None:
        self._flush_updates()
        row = self._one("find_child", {"machine": machine, "id": id, "invokeid": invokeid})
        return _instance(row) if row else None

    def children(self, machine: str, id: str) -> list[InstanceRow]:
        self._flush_updates()
        return [_instance(r) for r in self._all("children", {"machine": machine, "id": id})]

    def set_index(self, machine: str, id: str, states: Sequence[str], tags: Sequence[str], *,
                  before: tuple[Sequence[str], Sequence[str]]) -> None:
        """Queued until the transaction's next read of the index or its commit (:meth:`flush`)."""
        removed, added = moves(index_of(*before), index_of(states, tags))
        self._index.extend((False, (machine, k, v, id)) for k, v in removed)
        self._index.extend((True, (machine, k, v, id)) for k, v in added)

    def ready_instances(self, limit: int, versions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        self._flush_updates()
        params = {"limit": limit, "machines": [m for m, _ in versions], "versions": [v for _, v in versions]}
        return [(m, i) for m, i in self._all("ready_instances", params)]

    def list_instances(self, machine: str, *, state: str | None = None, tag: str | None = None,
                       status: str | None = None, after: str = "", limit: int = 100) -> list[InstanceRow]:
        self._flush_updates()
        self._flush_index()
        params: dict[str, Any] = {"machine": machine, "after": after, "limit": limit, "status": status}
        if state is not None or tag is not None:
            params.update(kind="state" if state is not None else "tag", value=state if state is not None else tag)
            name = "list_by_index" if status is None else "list_by_index_and_status"
        else:
            name = "list_all" if status is None else "list_by_status"
        return [_instance(r) for r in self._all(name, params)]

    # -- history --------------------------------------------------------------------------------------

    def append_history(self, row: HistoryRow) -> None:
        self._history.append((row, {
            "machine": row.machine, "id": row.id, "step": row.step, "at": row.at, "outcome": row.outcome,
            "event": None if row.event is None else dumps(row.event), "idempotency_key": row.idempotency_key,
            "cause": row.cause, "source": dumps(row.source), "target": dumps(row.target),
            "context_change": dumps(row.context_change), "effects": dumps(row.effects), "error": row.error}))
        if row.idempotency_key is not None:
            self._history_keys[(row.machine, row.id, row.idempotency_key)] = row

    def history_page(self, machine: str, id: str, *, after: int, limit: int) -> list[HistoryRow]:
        self.flush()
        rows = self._all("history_page", {"machine": machine, "id": id, "after": after, "limit": limit})
        return [_history(r) for r in rows]

    def history_by_key(self, machine: str, id: str, key: str) -> HistoryRow | None:
        waiting = self._history_keys.get((machine, id, key))
        if waiting is not None:
            return waiting
        row = self._one("history_by_key", {"machine": machine, "id": id, "key": key})
        return _history(row) if row else None

    def changes(self, *, after: int, limit: int) -> list[Change]:
        return [Change(*r) for r in self._all("changes", {"after": after, "limit": limit})]

    def last_position(self) -> int:
        row = self._one("last_position")
        return int(row[0]) if row else 0

    # -- inbox ----------------------------------------------------------------------------------------

    def enqueue(self, row: InstanceRow, event: dict[str, Any], *, idempotency_key: str | None,
                cause: str | None, sendid: str | None, now: float) -> int:
        found = self._one("enqueue", {"machine": row.machine, "id": row.id, "event": dumps(event),
                                      "idempotency_key": idempotency_key, "cause": cause, "sendid": sendid,
                                      "now": now})
        assert found is not None
        self._count(row, row.queued + 1)
        return int(found[0])

    def _count(self, row: InstanceRow, queued: int) -> None:
        """The inbox counter: written with the row (its update waits with the others), the only place
        it changes."""
        if queued != row.queued:
            row.queued = queued
            self.update_instance(row)

    def inbox_by_key(self, machine: str, id: str, key: str) -> QueuedEvent | None:
        row = self._one("inbox_by_key", {"machine": machine, "id": id, "key": key})
        return _queued(row) if row else None

    def take_event(self, row: InstanceRow) -> QueuedEvent | None:
        key = {"machine": row.machine, "id": row.id}
        found = self._one("next_event", key)
        if found is None:
            self._count(row, 0)
            return None
        if self._exec("remove_event", {**key, "seq": found[0]}).rowcount != 1:
            raise StaleRowError(f"inbox event {found[0]} of {row.machine}/{row.id} was taken by another writer")
        self._count(row, row.queued - 1)
        return _queued(found)

    def remove_events_by_sendid(self, row: InstanceRow, sendid: str) -> int:
        params = {"machine": row.machine, "id": row.id, "sendid": sendid}
        removed = self._exec("remove_events_by_sendid", params).rowcount
        self._count(row, row.queued - removed)
        return removed

    def remove_invocation_events(self, row: InstanceRow, invokeid: str) -> int:
        params = {"machine": row.machine, "id": row.id, "invokeid": invokeid}
        removed = self._exec("remove_invocation_events", params).rowcount
        self._count(row, row.queued - removed)
        return removed

    def clear_inbox(self, row: InstanceRow) -> int:
        removed = self._exec("clear_inbox", {"machine": row.machine, "id": row.id}).rowcount
        self._count(row, 0)
        return removed

    # -- timers ---------------------------------------------------------------------------------------

    def add_timer(self, row: TimerRow) -> None:
        self._flush_timers()
        self._exec("add_timer", {"key": row.key, "machine": row.machine, "id": row.id, "sendid": row.sendid,
                                 "target": row.target, "event": dumps(row.event), "due_at": row.due_at})

    def cancel_timers(self, machine: str, id: str, sendid: str | None) -> None:
        """Queued until the next statement on timers or the commit (see ``_cancels``)."""
        if sendid is None:
            self._cancels.setdefault("cancel_all_timers", []).append({"machine": machine, "id": id})
        else:
            self._cancels.setdefault("cancel_timers", []).append({"machine": machine, "id": id, "sendid": sendid})

    def _write_cancels(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """The waiting timer cancellations: an instance's all go in ``write_rows`` (``rows``); by send id
        (rare), they go first, one statement each. Deletes: their order does not matter."""
        cancels, self._cancels = self._cancels, {}
        by_sendid = cancels.get("cancel_timers")
        if by_sendid:
            self._each("cancel_timers", by_sendid)
        rows["cancelled"] = cancels.get("cancel_all_timers", [])

    def timers_of(self, machine: str, id: str) -> list[TimerRow]:
        self._flush_timers()
        return super().timers_of(machine, id)

    def take_due_timers(self, now: float, limit: int) -> list[TimerRow]:
        self._flush_timers()
        rows = sorted(self._all("take_due_timers", {"now": now, "limit": limit}), key=lambda r: (r[7], r[0]))
        return [TimerRow(k, m, i, s, t, loads(e), d) for _, k, m, i, s, t, e, d in rows]

    def next_wakeup(self) -> float | None:
        self._flush_tasks()
        self._flush_timers()
        row = self._one("next_wakeup")
        return None if row is None or row[0] is None else float(row[0])

    # -- tasks ----------------------------------------------------------------------------------------

    def add_task(self, row: TaskRow, now: float) -> None:
        """Queued until the next statement on tasks or the commit (task_buffer.py)."""
        self._tasks.add(row, now)

    def _take_tasks(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """The waiting leases of claimed tasks, removals and new tasks, for ``write_rows`` (``rows``). No
        task is both leased and removed (a claim forgets the leases it takes over, and removals wait
        only for held leases). A new task with the key of one removed here (one statement does not see
        its own deletes) goes in a statement after the removals."""
        leases, self._leases = self._leases, []
        removals, waiting = self._tasks.take()
        removed = [{"machine": machine, "id": id, "key": key} for key, machine, id in removals]
        added = [{"key": t.key, "machine": t.machine, "id": t.id, "invokeid": t.invokeid, "service": t.service,
                  "input": input, "policy": policy, "attempt": t.attempt, "status": t.status,
                  "available_at": t.available_at, "lease_owner": t.lease_owner, "lease_until": t.lease_until,
                  "created_at": created} for t, input, policy, created in waiting]
        if removed and added and not {r["key"] for r in removed}.isdisjoint(a["key"] for a in added):
            self._write_rows({"leases": leases, "removed": removed}, ("leases", "removed"))
            leases, removed = [], []
        rows["leases"], rows["removed"], rows["tasks"] = leases, removed, added

    def tasks_of(self, machine: str, id: str) -> list[TaskRow]:
        self._flush_tasks()
        return super().tasks_of(machine, id)

    def lock_tasks(self, leases: Sequence[tuple[str, str, int]]) -> None:
        """Hold, in one statement, the tasks still leased to these attempts (``key, owner, attempt``):
        :meth:`remove_owned_task` of one then needs no statement of its own (no claim can take it over
        before the commit: the row is locked), and its removal waits with the other writes."""
        params = self._leases_to_lock(leases)
        if not params:
            return
        self._flush_tasks()
        self._tasks.hold(self._all("lock_tasks", params))

    def _leases_to_lock(self, leases: Sequence[tuple[str, str, int]]) -> dict[str, Any]:
        """lock_tasks's parameters for the leases not held yet (empty: nothing to lock)."""
        wanted = self._tasks.to_lock(leases)
        if not wanted:
            return {}
        return {"keys": [k for k, _, _ in wanted], "owners": [o for _, o, _ in wanted],
                "attempts": [a for _, _, a in wanted]}

    def cancel_tasks(self, machine: str, id: str, invokeid: str | None) -> int:
        self._flush_tasks()
        self._tasks.unlease(machine=machine, id=id, invokeid=invokeid)
        if invokeid is None:
            return self._exec("cancel_all_tasks", {"machine": machine, "id": id}).rowcount
        return self._exec("cancel_tasks", {"machine": machine, "id": id, "invokeid": invokeid}).rowcount

    def claim_tasks(self, now: float, *, owner: str, services: Sequence[str], limit: int,
                    lease_of: Callable[[dict[str, Any]], float]) -> list[TaskRow]:
        claimed, more = self._tasks.claim_waiting(now, owner, services, limit, lease_of)
        if not more:
            return claimed
        self._flush_tasks()
        rows = [_task(r) for r in self._all("claimable_tasks", {"now": now, "services": list(services),
                                                                 "limit": more})]
        self._tasks.looked(now, services, more, len(rows))
        if not rows:
            return claimed
        leased = [dataclasses.replace(t, attempt=t.attempt + 1, status="running", lease_owner=owner,
                                      lease_until=now + lease_of(t.policy)) for t in rows]
        # the leases wait with the other task writes (the claim locked the rows: no other writer changes
        # them before the commit, and every statement on tasks in this transaction writes them first)
        self._leases.extend({"machine": t.machine, "id": t.id, "key": t.key, "owner": owner,
                             "until": t.lease_until, "now": now, "attempt": t.attempt - 1} for t in leased)
        self._tasks.unlease(t.key for t in rows)  # an expired lease this transaction held is taken over
        return claimed + leased

    def owned_task(self, key: str, owner: str, attempt: int) -> TaskRow | None:
        self._flush_tasks()
        row = self._one("owned_task", {"key": key, "owner": owner, "attempt": attempt})
        return _task(row) if row else None

    def extend_lease(self, key: str, owner: str, attempt: int, until: float) -> bool:
        self._flush_tasks()
        params = {"key": key, "owner": owner, "attempt": attempt, "until": until}
        return self._exec("extend_lease", params).rowcount == 1

    def retry_task(self, key: str, available_at: float, error: str) -> None:
        self._flush_tasks()
        self._tasks.unlease((key,))
        self._tasks.undrain()
        self._exec("retry_task", {"key": key, "available_at": available_at, "error": error})

    def remove_task(self, key: str) -> None:
        self._flush_tasks()
        self._tasks.unlease((key,))
        self._exec("remove_task", {"key": key})

    def remove_owned_task(self, key: str, owner: str, attempt: int) -> bool:
        if self._tasks.remove_held(key, owner, attempt):  # held since lock_tasks: it is still ours
            return True
        self._flush_tasks()
        params = {"key": key, "owner": owner, "attempt": attempt}
        return self._exec("remove_owned_task", params).rowcount == 1


def _all_hit(hit: int, hits: int | None, missed: str) -> None:
    """:class:`StaleRowError` when a statement whose every row must hit (``hits`` of them) did not."""
    if hits is not None and hit != hits:
        raise StaleRowError(f"{hits - hit} of {hits} {missed}")


def _index_row(key: tuple[str, str, str, str]) -> dict[str, str]:
    machine, kind, value, id = key
    return {"machine": machine, "kind": kind, "value": value, "id": id}


def _params(row: InstanceRow) -> dict[str, Any]:
    params = instance_params(row)
    params["paused"] = row.paused  # a boolean column here
    return params
