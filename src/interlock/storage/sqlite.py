"""The SQLite store: WAL, one writer at a time, any number of readers and processes.

Durability: ``synchronous=FULL`` by default, so a committed step survives power loss, not just a crash of
the process. ``synchronous="NORMAL"`` is faster and still survives a process crash (WAL), but a power
loss may roll back the last commits; it is an explicit choice, never the default.
"""

from __future__ import annotations

import json as _json
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from interlock.errors import ConflictError, StorageError
from interlock.storage import sqlite_wal
from interlock.storage.codec import dumps as _dumps
from interlock.storage.queries import load_queries, migrations, split_statements
from interlock.storage.rows import history_row as _history
from interlock.storage.rows import instance_row as _instance
from interlock.storage.rows import queued_event as _queued
from interlock.storage.rows import task_row as _task
from interlock.storage.sqlite_errors import Connection, check_file, explain
from interlock.storage.sqlite_errors import stored_json as _loads
from interlock.storage.sqlite_history import HISTORY_CHECKS, HISTORY_TAIL, index_history_if_due
from interlock.storage.sqlite_pending import Pending, instance_params, write_rows
from interlock.storage.sqlite_turn import turn_for
from interlock.storage.state_index import index_of
from interlock.storage.store import (
    READ_ONLY,
    Change,
    HistoryRow,
    InstanceRow,
    Locked,
    QueuedEvent,
    StaleRowError,
    TaskRow,
    TimerRow,
    TransactionLost,
    closed_inside,
)
from interlock.storage.task_buffer import TaskBuffer
from interlock.storage.tx_reads import SharedQueries

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_Q = load_queries("sqlite")
WRITER_CACHE_KIB = 64 * 1024
POLL_CHANGES = 0.05  # seconds between two reads of the change feed by a waiting reader (commits of
# this process wake it at once: see wait_for_changes)
VERSION_POLL = 0.005  # seconds between two looks of a waiting reader for another process's commit
FOREIGN_WINDOW = 10.0  # seconds after another process's commit during which a waiting reader looks so often
# Pages the WAL may hold before a commit copies them back into the database file (SQLite's default is
# 1,000). Under load most commits rewrite the same hot pages (instance rows, index leaves); a larger WAL
# copies each of them back once per checkpoint instead of every few commits. The file grows to ~40 MB.
WAL_AUTOCHECKPOINT_PAGES = 10_000
# Frames a new WAL is given up front (sqlite_wal.py): the autocheckpoint's, and the commit that reaches it
# (a WAL measured 10,012 frames at 1 workflow in flight, 10,088 at 32 before its first restart)
WAL_FRAMES = WAL_AUTOCHECKPOINT_PAGES + WAL_AUTOCHECKPOINT_PAGES // 50
# prepared statements a connection keeps: the named queries and the many-row forms of the write-behind
# buffer's (sqlite_pending.write_rows: a few row counts each), which cost 0.5-4 ms to prepare again
STATEMENT_CACHE = 256
# Queries of tables the write-behind buffer never holds (timers, tasks): they need not flush it.
_UNBUFFERED = frozenset({"take_due_timers", "claimable_tasks", "owned_task", "next_timer", "next_task", "get_meta",
                         "get_definition", "all_definitions", "definitions_of", "newest_definition", "timers_of",
                         "tasks_of", "get_key", "api_keys", "api_keys_after"})


def _data_version(conn: sqlite3.Connection) -> int:
    """Moves when another connection (of any process) has committed since this one last looked."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _wal_mode(conn: Connection, timeout: float) -> None:
    """``PRAGMA journal_mode = WAL``, tried again while the file is busy, up to ``timeout`` seconds. On a
    new database the pragma writes the first page, and a connection that must upgrade its read lock to
    do so while another connection writes gets SQLITE_BUSY at once, its busy handler not called (it
    could deadlock: sqlite3_busy_handler's documentation). Two processes opening a new file at once
    met it (1 open in 20)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except StorageError as exc:
            code = getattr(exc.__cause__, "sqlite_errorcode", None)
            if code is None or code & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(0.002)


def sqlite_path(url: str) -> str:
    """``sqlite:///orders.db`` -> ``orders.db``; ``sqlite:////abs/path.db`` -> ``/abs/path.db``."""
    if not url.startswith("sqlite:///"):
        raise StorageError(f"not a SQLite URL: {url!r} (expected sqlite:///relative.db or sqlite:////abs.db)")
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:":
        raise StorageError(
            f"{url!r}: an in-memory database cannot be shared between connections; use a file path"
        )
    return path


class SQLiteStore:
    """A :class:`~interlock.storage.store.Store` over one SQLite file."""

    def __init__(self, url: str, *, synchronous: str = "FULL", busy_timeout_ms: int = 30_000,
                 history_tail: int = HISTORY_TAIL, presize_wal: bool = True) -> None:
        """``presize_wal``: give a new ``-wal`` file its working size at open (sqlite_wal.py), for a
        process that goes on to write; a short-lived one (the ``db`` and ``keys`` commands) passes False:
        it would write 42 MB to commit a row or two. Only with ``synchronous`` FULL or EXTRA: the time a
        presized WAL saves is a commit's fsync that must also make the file's new length durable; with
        NORMAL or OFF no commit syncs the WAL, and the 42 MB (~45 ms and ~14 ms of CPU an open of a new
        file, measured) bought nothing (the conformance runner opens a new file, at OFF, per test)."""
        if synchronous.upper() not in SYNCHRONOUS:
            raise StorageError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
        self.url = url
        self.path = sqlite_path(url)
        self.synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self.history_tail = history_tail  # see sqlite_history.py
        # history records this store appended since it last looked whether indexing is due (under the
        # write turn: one writer of the store at a time)
        self._unchecked = 0
        self._local = threading.local()
        # each thread's own connection, held by that thread (a thread that ends closes it); the set is
        # for close(), and weak, so it keeps no connection of a finished thread open
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._commits = threading.Condition()  # notified after each commit through this store
        self._generation = 0  # commits through this store, counted under _commits
        self._seen = threading.local()  # the generation a thread saw when it last read the changes
        self._foreign_at = -FOREIGN_WINDOW  # when a waiting reader last saw another process's commit
        self._foreign_writes = 0  # write transactions that began after another connection's commit
        self._committing = 0  # COMMITs this store began (the generation counts those that ended)
        self._others_lock = threading.Lock()  # others_committed: its own connection and last look
        self._others_conn: sqlite3.Connection | None = None
        self._others_look: tuple[int, int, int, int] | None = None
        check_file(self.path)
        presize_wal = presize_wal and self.synchronous in ("FULL", "EXTRA")
        # no database yet (SQLite would delete a WAL beside it), or one in rollback-journal mode (a WAL must
        # not appear beside it: the PRAGMA below switches it first; sqlite_wal.page_size_of)
        new = not sqlite_wal.wal_exists(self.path) and sqlite_wal.page_size_of(self.path) is None
        self.presized_wal = not new and presize_wal and sqlite_wal.presize_wal(self.path, WAL_FRAMES)
        self._conn()  # the file exists from here on
        self._turn = turn_for(self.path)  # shared by the file's stores in this process
        self._migrate()
        if new and presize_wal:  # made here: its WAL, made by SQLite, goes when these connections close (unless another
            self.close()  # process has it open too) and a presized one takes its place
            self.presized_wal = sqlite_wal.presize_wal(self.path, WAL_FRAMES)
            self._conn()  # holds it: the last connection to close deletes it, as any WAL

    # -- connections ---------------------------------------------------------------------------------

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                       factory=Connection, cached_statements=STATEMENT_CACHE)
            except sqlite3.Error as exc:
                raise explain(exc, self.path) from exc
            conn.path = self.path
            # held while this thread uses it: close() waits for it (closing a connection under another
            # thread's statement crashed the process, as when an app was closed while a waiter read)
            conn.busy = threading.RLock()
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            _wal_mode(conn, self._busy_timeout_ms / 1000)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            with self._lock:
                self._connections.add(conn)
            self._local.conn = conn
        return conn

    def _index_history_if_due(self, conn: sqlite3.Connection, appended: int) -> None:
        """Look whether the history is due for indexing (one statement) once this store has appended an
        eighth of ``history_tail`` records since it last looked, not in every transaction: between looks
        the records not indexed yet grow by at most that much per process writing the file, and readers
        find them all the same (sqlite_history.py)."""
        self._unchecked += appended
        if self._unchecked >= max(1, self.history_tail // HISTORY_CHECKS):
            self._unchecked = 0
            index_history_if_due(conn, _Q, self.history_tail)

    @contextmanager
    def write(self) -> Iterator[SQLiteTx]:
        """One write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front, so no upgrade
        deadlocks between processes)."""
        conn = self._conn()
        with conn.busy:  # held against close() while in use
            if not getattr(self._local, "writes", False):
                # A connection that writes keeps the hot pages (instances, the ends of the history and
                # index b-trees) in memory: with SQLite's default 2 MB, most steps read a page back in.
                conn.execute(f"PRAGMA cache_size = {-WRITER_CACHE_KIB}")
                self._local.writes = True
            with self._turn.taken(self._busy_timeout_ms / 1000):  # sqlite_turn.py: the next writer, of any
                # process, starts as this one ends
                conn.execute("BEGIN IMMEDIATE")
                try:
                    tx = SQLiteTx(conn, conn.execute("PRAGMA data_version").fetchone()[0])
                    if tx.data_version != getattr(self._local, "write_version", tx.data_version) \
                            and self._generation == getattr(self._local, "write_generation", None):
                        # another connection committed since this one last wrote, and none of this store's
                        # (another thread's: an API key's last use, an upload) did: another process did
                        self._foreign_writes += 1
                    self._local.write_version = tx.data_version
                    yield tx
                    tx.flush()
                    if tx.appended_history:
                        self._index_history_if_due(conn, tx.appended_history)
                except BaseException:
                    conn.rollback_if_open()
                    raise
                self._committing += 1  # before the commit moves data_version: others_committed reads both
                try:
                    conn.execute("COMMIT")
                except StorageError:
                    conn.rollback_if_open()
                    raise
            with self._commits:
                self._generation += 1
                self._local.write_generation = self._generation
                self._commits.notify_all()

    @contextmanager
    def read(self) -> Iterator[SQLiteTx]:
        """A consistent read view (a deferred transaction: WAL readers never block the writer)."""
        conn = self._conn()
        with conn.busy:  # held against close() while in use
            conn.execute("BEGIN")
            try:
                tx = SQLiteTx(conn)
                yield tx
                if tx.waiting():  # never written: a read view writes nothing (PostgreSQL's is READ ONLY)
                    raise StorageError(READ_ONLY)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def schema_version(self) -> int:
        with self.read() as tx:
            return tx.meta_int("schema_version")

    def changes(self, *, after: int, limit: int) -> list[Change]:
        self._seen.generation = self._generation  # before the read: a commit after it is not missed
        with self.read() as tx:
            self._seen.version = _data_version(tx.conn)  # the read's own view: a later commit moves it
            return tx.changes(after=after, limit=limit)

    def last_position(self) -> int:
        with self.read() as tx:
            return tx.last_position()

    def wait_for_changes(self, timeout: float) -> None:
        """SQLite has no notifications between processes: readers poll, and this paces them (at most
        POLL_CHANGES seconds). A commit through this store (this process) wakes them at once, so a
        change feed follower (server/feed.py) does not wait out the poll for the process's own steps,
        not even one committed between its last :meth:`changes` and this call. While other processes
        commit (``interlock serve --processes``, a worker: one was seen within FOREIGN_WINDOW seconds),
        a waiting reader also looks every VERSION_POLL seconds at its connection's ``data_version``
        (a statement that moves when another connection has committed: it opens and ends a read of the
        WAL's index, no table read), so their commits reach it within about 5 ms, not 50."""
        now = time.monotonic()
        deadline = now + min(timeout, POLL_CHANGES)
        seen = getattr(self._seen, "version", None)
        look = VERSION_POLL if seen is not None and now - self._foreign_at < FOREIGN_WINDOW else POLL_CHANGES
        while True:
            with self._commits:
                generation = getattr(self._seen, "generation", self._generation)
                if generation != self._generation:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._commits.wait(min(left, look))
            if look < POLL_CHANGES and self._data_version() != seen:
                break
        if seen is not None and generation == self._generation and self._data_version() != seen:
            self._foreign_at = time.monotonic()  # moved, and not by this process: look often from now on

    def _data_version(self) -> int:
        conn = self._conn()
        with conn.busy:  # held against close() while in use
            return _data_version(conn)

    def others_committed(self) -> bool:
        """Whether another connection (another process, or another store of this one) has committed since
        the last call; True on the first (it cannot tell). Two looks, neither reads a table: did a write
        transaction of this store begin after such a commit (its connection's ``data_version`` moved: it
        moves only for other connections' commits), or did the ``data_version`` of a connection kept for
        these looks move while this store committed nothing. A commit of another process made while
        this store also committed, with no write of this store after it, is not seen: callers poll too."""
        with self._others_lock:
            # before the version: no miss; a commit of this store between its COMMIT and its generation
            # moves the version with the generation unchanged, but not with ``committing`` unchanged
            writes, generation, committing = self._foreign_writes, self._generation, self._committing
            if self._others_conn is None:
                self._others_conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            version = _data_version(self._others_conn)
            last, self._others_look = self._others_look, (writes, generation, version, committing)
        if last is None:
            return True
        return writes != last[0] or (version != last[2] and generation == last[1] and committing == last[3])

    def inside_transaction(self) -> bool:
        conn: Connection | None = getattr(self._local, "conn", None)
        return conn is not None and conn.in_transaction  # this thread's own connection

    def close(self) -> None:
        """Close every connection of the store, each once no other thread is running a transaction on it
        (the waits are short: the app has stopped its writer first). A thread that uses the store
        afterwards opens a connection again."""
        if self.inside_transaction():
            raise closed_inside()
        with self._others_lock:
            if self._others_conn is not None:
                self._others_conn.close()
                self._others_conn = None
        with self._lock:
            for conn in list(self._connections):
                with conn.busy:
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- schema --------------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema to the newest version, one migration per transaction."""
        known = migrations("sqlite")
        latest = known[-1][0] if known else 0
        for version, script in known:
            with self.write() as tx:
                current = tx.meta_int("schema_version")
                if current > latest:
                    raise StorageError(
                        f"{self.path} has schema version {current}, newer than this Interlock knows "
                        f"({latest}); upgrade Interlock"
                    )
                if current >= version:
                    continue
                for statement in split_statements(script):
                    tx.conn.execute(statement)
                tx.conn.execute(_Q["set_meta"], {"key": "schema_version", "value": str(version)})


class SQLiteTx(SharedQueries):
    """A transaction on one connection; see :class:`~interlock.storage.store.WriteTx`."""

    __slots__ = ("_absent", "_cancels", "_pending", "_savepoints", "_tasks", "conn", "data_version")

    def __init__(self, conn: sqlite3.Connection, data_version: int = 0) -> None:
        self.conn = conn
        self.data_version = data_version  # changes when another connection committed in between
        self._savepoints = 0
        self._pending = Pending()
        self._absent: set[tuple[str, str]] = set()  # instances lock_instances found missing
        self._tasks = TaskBuffer()  # new tasks, held leases, removals of held tasks (task_buffer.py)
        # instances whose timers are all cancelled (they ended: mostly none), until the next statement on
        # timers or the commit
        self._cancels: list[tuple[str, str]] = []

    @property
    def appended_history(self) -> int:
        """History records this transaction wrote so far."""
        return self._pending.appended

    def waiting(self) -> bool:
        """Whether writes wait in the transaction's buffers."""
        return bool(self._pending or self._tasks or self._cancels)

    def flush(self) -> None:
        """Write what waits in the write-behind buffers (see sqlite_pending.py, task_buffer.py)."""
        if self._pending:
            self._pending.flush(self.conn, _Q)
        if self._tasks:
            self._flush_tasks()
        if self._cancels:
            self._flush_timers()

    def _one(self, name: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        if name not in _UNBUFFERED:
            self.flush()  # a query sees every change of its transaction
        row: tuple[Any, ...] | None = self.conn.execute(_Q[name], params).fetchone()
        return row

    def _all(self, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if name not in _UNBUFFERED:
            self.flush()
        cursor = self.conn.execute(_Q[name], params)
        try:
            return cursor.fetchall()
        except sqlite3.Error as exc:  # a damaged page further into the scan
            raise explain(exc, str(getattr(self.conn, "path", ""))) from exc

    def _run(self, name: str, params: dict[str, Any]) -> int:
        return self.conn.execute(_Q[name], params).rowcount

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit: an exception inside rolls back only this block, then propagates."""
        self.flush()  # what waits belongs to the enclosing transaction, not to this savepoint
        if not self.conn.in_transaction:  # outside one, SAVEPOINT would begin (and RELEASE commit) its own
            raise TransactionLost(StorageError("the write transaction ended before this command ran "
                                               "(a full disk or an I/O error); nothing of it was kept"))
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.conn.execute(f"SAVEPOINT {name}")
        absent, tasks = set(self._absent), self._tasks.copy()
        try:
            yield
            self.flush()  # what the block decided is written inside it: a row the database refuses fails
            # this block, not the next statement's (another command's) or the commit
        except BaseException as exc:
            self._pending.clear()  # everything in it was decided inside the savepoint
            self._absent = absent
            self._tasks.restore(tasks)
            self._cancels = []  # decided inside the savepoint (the ones before were written)
            if not self.conn.in_transaction:  # a full disk or an I/O error ended the transaction
                raise (exc if isinstance(exc, TransactionLost) else TransactionLost(exc)) from exc
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._savepoints -= 1
        self.conn.execute(f"RELEASE {name}")

    def meta_int(self, key: str) -> int:
        exists = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'interlock_meta'").fetchone()
        if not exists:
            return 0
        row = self._one("get_meta", {"key": key})
        return int(row[0]) if row else 0

    # -- instances -----------------------------------------------------------------------------------

    def get_instance(self, machine: str, id: str) -> InstanceRow | None:
        waiting = self._pending.instances.get((machine, id))
        if waiting is not None:
            return waiting
        if (machine, id) in self._absent:
            return None
        row = self.conn.execute(_Q["get_instance"], {"machine": machine, "id": id}).fetchone()
        return _instance(row) if row else None

    def ended_instances(self, keys: Sequence[tuple[str, str]]) -> list[InstanceRow]:
        """The stored rows of those of ``keys`` that have ended (a read: written rows waiting here are not
        asked for)."""
        if not keys:
            return []
        found = self.conn.execute(_Q["ended_instances"], {"keys": _json.dumps(list(keys))}).fetchall()
        return [_instance(row) for row in found]

    def lock_instances(self, keys: Sequence[tuple[str, str]],
                       leases: Sequence[tuple[str, str, int]] = ()) -> Locked:
        """Every stored one: ``BEGIN IMMEDIATE`` lets one writer in at a time, so no row is held, and one
        missing now stays missing until this transaction inserts it (no second look). The rows not
        waiting in the write-behind buffer are read in one statement, not one per row: less work while
        this transaction holds the file (other processes' writers wait for it), and where another
        process wrote since this writer's last transaction its cache is empty, so every row is read."""
        self.lock_tasks(leases)
        rows = []
        wanted = []
        for key in dict.fromkeys(keys):
            waiting = self._pending.instances.get(key)
            if waiting is not None:
                rows.append(waiting)
            elif key not in self._absent:
                wanted.append(key)
        if len(wanted) == 1:
            found = self.conn.execute(_Q["get_instance"], {"machine": wanted[0][0], "id": wanted[0][1]}).fetchall()
        elif wanted:
            found = self.conn.execute(_Q["get_instances"], {"keys": _json.dumps(wanted)}).fetchall()
        else:
            found = []
        stored = {(row[0], row[1]): row for row in found}
        for key in wanted:
            row = stored.get(key)
            if row is None:
                self._absent.add(key)
            else:
                rows.append(_instance(row))
        return Locked(rows, [])

    def insert_instance(self, row: InstanceRow) -> None:
        """Written with the updates (at the flush) when this write transaction found the name free
        (lock_instances: ``BEGIN IMMEDIATE`` keeps other writers out until the commit), else at once."""
        key = (row.machine, row.id)
        if row.snapshot_json is None:  # encoded now: a snapshot that is not JSON fails here
            row.snapshot_json = _dumps(row.snapshot)
        if key in self._absent:
            self._absent.discard(key)
            row.revision = 0
            row.stored = (row.status, row.paused, row.queued)
            self._pending.insert(row)
            return
        if key in self._pending.inserted:  # inserted here already, and waiting: it goes first
            self.flush()
        try:
            self._run("insert_instance", instance_params(row))
        except sqlite3.IntegrityError as exc:
            raise ConflictError(
                f"instance {row.id!r} of machine {row.machine!r} already exists; choose another id, or "
                "send it events"
            ) from exc
        row.stored = (row.status, row.paused, row.queued)

    def update_instance(self, row: InstanceRow) -> None:
        """Written at the next flush, with the row's values then (set ``snapshot_json`` with a new
        snapshot: the caller encodes it, so a snapshot that is not JSON fails where it was made)."""
        self._pending.update(row)

    def find_child(self, machine: str, id: str, invokeid: str) -> InstanceRow | None:
        row = self._one("find_child", {"machine": machine, "id": id, "invokeid": invokeid})
        return _instance(row) if row else None

    def children(self, machine: str, id: str) -> list[InstanceRow]:
        return [_instance(r) for r in self._all("children", {"machine": machine, "id": id})]

    def set_index(self, machine: str, id: str, states: Sequence[str], tags: Sequence[str], *,
                  before: tuple[Sequence[str], Sequence[str]]) -> None:
        """The instance's states and tags are now these; ``before``: what is stored (``((), ())`` for a new
        instance)."""
        self._pending.set_index((machine, id), index_of(*before), index_of(states, tags))

    def ready_instances(self, limit: int, versions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        known = _dumps([[machine, version] for machine, version in versions])
        return [(m, i) for m, i in self._all("ready_instances", {"limit": limit, "versions": known})]

    def list_instances(self, machine: str, *, state: str | None = None, tag: str | None = None,
                       status: str | None = None, after: str = "", limit: int = 100) -> list[InstanceRow]:
        params: dict[str, Any] = {"machine": machine, "after": after, "limit": limit}
        if state is not None or tag is not None:
            kind, value = ("state", state) if state is not None else ("tag", tag)
            params.update(kind=kind, value=value)
            if status is None:
                return [_instance(r) for r in self._all("list_by_index", params)]
            return [_instance(r) for r in self._all("list_by_index_and_status", {**params, "status": status})]
        if status is not None:
            return [_instance(r) for r in self._all("list_by_status", {**params, "status": status})]
        return [_instance(r) for r in self._all("list_all", params)]

    # -- history -------------------------------------------------------------------------------------

    def append_history(self, row: HistoryRow) -> None:
        self._pending.history_row(row)

    def history_page(self, machine: str, id: str, *, after: int, limit: int) -> list[HistoryRow]:
        rows = self._all("history_page", {"machine": machine, "id": id, "after": after, "limit": limit})
        return [_history(r) for r in rows]

    def history_by_key(self, machine: str, id: str, key: str) -> HistoryRow | None:
        waiting = self._pending.history_keys.get((machine, id, key))
        if waiting is not None:
            return waiting
        row = self.conn.execute(_Q["history_by_key"], {"machine": machine, "id": id, "key": key}).fetchone()
        return _history(row) if row else None

    # -- inbox ---------------------------------------------------------------------------------------

    def enqueue(self, row: InstanceRow, event: dict[str, Any], *, idempotency_key: str | None,
                cause: str | None, sendid: str | None, now: float) -> int:
        seq = self._pending.enqueue(self.conn, row.machine, row.id, event, idempotency_key, cause, sendid, now)
        self._count(row, row.queued + 1)
        return seq

    def _count(self, row: InstanceRow, queued: int) -> None:
        """The inbox counter: written with the row (write-behind), the only place it changes."""
        if queued != row.queued:
            row.queued = queued
            self.update_instance(row)

    def inbox_by_key(self, machine: str, id: str, key: str) -> QueuedEvent | None:
        for event, _ in self._pending.inbox.get((machine, id), ()):
            if event.idempotency_key == key:
                return event
        row = self.conn.execute(_Q["inbox_by_key"], {"machine": machine, "id": id, "key": key}).fetchone()
        return _queued(row) if row else None

    def take_event(self, row: InstanceRow) -> QueuedEvent | None:
        """Events queued by this transaction are newer than any stored one, so the table is read only
        when the counter says it holds some."""
        taken = self._take(row.machine, row.id, row.queued)
        self._count(row, 0 if taken is None else row.queued - 1)
        return taken

    def _take(self, machine: str, id: str, queued: int) -> QueuedEvent | None:
        waiting = self._pending.inbox.get((machine, id))
        if queued > (len(waiting) if waiting else 0):
            row = self.conn.execute(_Q["next_event"], {"machine": machine, "id": id}).fetchone()
            if row is not None:
                if self.conn.execute(_Q["remove_event"], {"seq": row[0]}).rowcount != 1:
                    raise StaleRowError(f"inbox event {row[0]} of {machine}/{id} was taken by another writer")
                return _queued(row)
        if waiting:
            event = waiting.popleft()[0]
            if not waiting:
                del self._pending.inbox[(machine, id)]
            return event
        return None

    def remove_events_by_sendid(self, row: InstanceRow, sendid: str) -> int:
        machine, id = row.machine, row.id
        removed = self._drop_waiting(machine, id, lambda e: e.sendid == sendid)
        removed += self._run("remove_events_by_sendid", {"machine": machine, "id": id, "sendid": sendid})
        self._count(row, row.queued - removed)
        return removed

    def remove_invocation_events(self, row: InstanceRow, invokeid: str) -> int:
        machine, id = row.machine, row.id
        removed = self._drop_waiting(machine, id, lambda e: e.event.get("invokeid") == invokeid)
        removed += self._run("remove_invocation_events", {"machine": machine, "id": id, "invokeid": invokeid})
        self._count(row, row.queued - removed)
        return removed

    def _drop_waiting(self, machine: str, id: str, drop: Callable[[QueuedEvent], bool]) -> int:
        """Remove the events queued in this transaction (not stored yet) that ``drop`` selects."""
        waiting = self._pending.inbox.get((machine, id))
        if not waiting:
            return 0
        kept = [e for e in waiting if not drop(e[0])]
        removed = len(waiting) - len(kept)
        if kept:
            waiting.clear()
            waiting.extend(kept)
        else:  # no empty queue left behind (the flush writes what the queues hold)
            del self._pending.inbox[(machine, id)]
        return removed

    def clear_inbox(self, row: InstanceRow) -> int:
        waiting = self._pending.inbox.pop((row.machine, row.id), None)
        removed = len(waiting or ()) + self._run("clear_inbox", {"machine": row.machine, "id": row.id})
        self._count(row, 0)
        return removed

    # -- timers --------------------------------------------------------------------------------------

    def add_timer(self, row: TimerRow) -> None:
        self._flush_timers()
        self._run("add_timer", {"key": row.key, "machine": row.machine, "id": row.id,
                                "sendid": row.sendid, "target": row.target,
                                "event": _dumps(row.event), "due_at": row.due_at})

    def cancel_timers(self, machine: str, id: str, sendid: str | None) -> None:
        if sendid is None:  # waits until the next statement on timers or the commit
            self._cancels.append((machine, id))
        else:
            self._flush_timers()
            self._run("cancel_timers", {"machine": machine, "id": id, "sendid": sendid})

    def _flush_timers(self) -> None:
        if self._cancels:
            cancels, self._cancels = list(dict.fromkeys(self._cancels)), []
            write_rows(self.conn, _Q, "cancel_all_timers", cancels)

    def timers_of(self, machine: str, id: str) -> list[TimerRow]:
        self._flush_timers()
        return super().timers_of(machine, id)

    def take_due_timers(self, now: float, limit: int) -> list[TimerRow]:
        self._flush_timers()
        rows = sorted(self._all("take_due_timers", {"now": now, "limit": limit}), key=lambda r: (r[7], r[0]))
        return [TimerRow(k, m, i, s, t, _loads(e), d) for _, k, m, i, s, t, e, d in rows]

    def changes(self, *, after: int, limit: int) -> list[Change]:
        return [Change(*r) for r in self._all("changes", {"after": after, "limit": limit})]

    def last_position(self) -> int:
        row = self._one("last_position", {})
        return int(row[0]) if row else 0

    def next_wakeup(self) -> float | None:
        """The earliest time a timer is due or a task becomes claimable."""
        self._flush_tasks()
        self._flush_timers()
        times = [self._one(q, {}) for q in ("next_timer", "next_task")]
        found = [t[0] for t in times if t and t[0] is not None]
        return min(found) if found else None

    # -- tasks ---------------------------------------------------------------------------------------

    def lock_tasks(self, leases: Sequence[tuple[str, str, int]]) -> None:
        """Find, in one statement, the tasks still leased to these attempts (``key, owner, attempt``):
        :meth:`remove_owned_task` of one then needs no statement of its own (``BEGIN IMMEDIATE`` lets one
        writer in at a time: nothing else changes them before the commit), and its removal waits with
        the other writes."""
        wanted = {key: (owner, attempt) for key, owner, attempt in self._tasks.to_lock(leases)}
        if len(wanted) < 2:  # one is cheaper removed on its own (remove_owned_task: a DELETE that checks
            return  # the lease, ~8 us of CPU) than read here (json_each: ~20 us) and then deleted
        self._flush_tasks()
        rows = self.conn.execute(_Q["lock_tasks"], {"keys": _json.dumps(list(wanted))}).fetchall()
        self._tasks.hold(r for r in rows if wanted.get(r[0]) == (r[1], r[2]))

    def add_task(self, row: TaskRow, now: float) -> None:
        """Waits until the next statement on tasks or the commit (task_buffer.py)."""
        self._tasks.add(row, now)

    def _flush_tasks(self) -> None:
        """The waiting removals, then the waiting new tasks: a statement each (sqlite_pending.write_rows)."""
        removals, waiting = self._tasks.take()
        if removals:
            write_rows(self.conn, _Q, "remove_held_task", [(key,) for key, _, _ in removals])
        if waiting:
            write_rows(self.conn, _Q, "add_task", [
                (t.key, t.machine, t.id, t.invokeid, t.service, input, policy, t.attempt, t.status,
                 t.available_at, t.lease_owner, t.lease_until, created) for t, input, policy, created in waiting])

    def tasks_of(self, machine: str, id: str) -> list[TaskRow]:
        self._flush_tasks()
        return super().tasks_of(machine, id)

    def cancel_tasks(self, machine: str, id: str, invokeid: str | None) -> int:
        self._flush_tasks()
        self._tasks.unlease(machine=machine, id=id, invokeid=invokeid)
        if invokeid is None:
            return self._run("cancel_all_tasks", {"machine": machine, "id": id})
        return self._run("cancel_tasks", {"machine": machine, "id": id, "invokeid": invokeid})

    def claim_tasks(self, now: float, *, owner: str, services: Sequence[str], limit: int,
                    lease_of: Callable[[dict[str, Any]], float]) -> list[TaskRow]:
        claimed, more = self._tasks.claim_waiting(now, owner, services, limit, lease_of)
        if not more:
            return claimed
        self._flush_tasks()
        rows = self._all("claimable_tasks", {"now": now, "services": _dumps(list(services)), "limit": more})
        self._tasks.looked(now, services, more, len(rows))
        for row in rows:
            task = _task(row)
            until = now + lease_of(task.policy)
            if not self._run("lease_task", {"key": task.key, "owner": owner, "until": until, "now": now,
                                            "attempt": task.attempt}):
                continue  # taken meanwhile: a lease that took no row is no claim
            self._tasks.unlease((task.key,))  # an expired lease this transaction held is taken over
            claimed.append(TaskRow(task.key, task.machine, task.id, task.invokeid, task.service,
                                   task.input, task.policy, task.attempt + 1, "running",
                                   task.available_at, owner, until, task.last_error))
        return claimed

    def owned_task(self, key: str, owner: str, attempt: int) -> TaskRow | None:
        self._flush_tasks()
        row = self._one("owned_task", {"key": key, "owner": owner, "attempt": attempt})
        return _task(row) if row else None

    def extend_lease(self, key: str, owner: str, attempt: int, until: float) -> bool:
        self._flush_tasks()
        return self._run("extend_lease", {"key": key, "owner": owner, "attempt": attempt, "until": until}) == 1

    def retry_task(self, key: str, available_at: float, error: str) -> None:
        self._flush_tasks()
        self._tasks.unlease((key,))
        self._tasks.undrain()
        self._run("retry_task", {"key": key, "available_at": available_at, "error": error})

    def remove_task(self, key: str) -> None:
        self._flush_tasks()
        self._tasks.unlease((key,))
        self._run("remove_task", {"key": key})

    def remove_owned_task(self, key: str, owner: str, attempt: int) -> bool:
        if self._tasks.remove_held(key, owner, attempt):  # held since lock_tasks: it is still ours
            return True
        self._flush_tasks()
        return self._run("remove_owned_task", {"key": key, "owner": owner, "attempt": attempt}) == 1
