"""The PostgreSQL store: many processes on many hosts share one database.

``Interlock("postgresql://user@host:5432/db")``. Connections come from a psycopg_pool pool (one per
store, so one per process); every write is one transaction at READ COMMITTED:

- instance rows are written with a compare-and-set on their revision (a lost race is a
  :class:`~interlock.storage.store.StaleRowError`, and the writer runs its commands again);
- due timers, ready inboxes and tasks are claimed with ``FOR UPDATE SKIP LOCKED``, so processes take
  different work instead of waiting for each other;
- steps are recorded without a change-feed position; reading the feed first numbers the committed ones
  (one sequencer at a time, under an advisory lock), so positions have no gaps and a reader following
  them never skips a step; ``NOTIFY interlock_changes``, sent just after the commit in a transaction
  of its own (inside it, PostgreSQL's notification lock would serialize every process's commit flush),
  wakes readers, who poll as well, so a lost notification only delays them.

A connection lost mid-transaction rolls the transaction back: nothing of it is kept, and the caller gets a
:class:`~interlock.errors.StorageError` that says so (lost during ``COMMIT``, the outcome is unknown:
retry with an idempotency key). The pool replaces broken connections, so the next command reconnects.
Schema migrations run under an advisory lock when a store opens, or with ``interlock db upgrade URL``.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from interlock.errors import StorageError
from interlock.storage import postgres_tx
from interlock.storage.postgres_tx import PostgresTx, translate
from interlock.storage.queries import load_queries, migrations
from interlock.storage.store import READ_ONLY, Change, closed_inside

_Q = load_queries("postgres")
MIGRATION_LOCK = 0x1E7C_0C4B  # pg_advisory_xact_lock key: one process migrates at a time
SEQUENCER_LOCK = 0x1E7C_F33D  # one change-feed sequencer at a time
CHANNEL = "interlock_changes"
# A connection back from work less than this many seconds ago is not pinged when taken from the pool: the
# ping (an empty query) was one round trip of every transaction. One that broke in that moment fails its
# transaction like a connection lost mid-transaction (the pool then replaces it), which a ping could not
# prevent either: the server may go away just after it.
CHECK_AFTER_IDLE = 1.0


def _configure(conn: psycopg.Connection[Any]) -> None:
    """A new pooled connection's planner: no sequential scan where an index can serve. Every statement of
    the store finds its rows through an index (by key, or a partial index of the few rows it wants), and
    the driver's prepared statements keep the plan made at their first uses: in a new database, while a
    table was a page or two, that plan was a scan of the whole table, and it stayed one as the table grew
    (until the table's first ANALYZE, a minute or more later), every batch reading every row. A statement
    no index can serve still scans the table.

    And no JIT compilation: a disabled scan is costed 10^10, far over ``jit_above_cost``, so every
    statement that still scans (the feed's one-row counter in ``sequence_changes``, run by every read of
    the change feed) was compiled by LLVM each time: 200-300 ms for a statement that runs in 0.3 ms. The
    store's statements read a few rows by index; compiling never pays for them."""
    conn.execute("SET enable_seqscan = off")
    conn.execute("SET jit = off")


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class PostgresStore:
    """A :class:`~interlock.storage.store.Store` over one PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int = 8, connect_timeout: float = 10.0,
                 migrate: bool = True, **_: object) -> None:
        if not is_postgres_url(url):
            raise StorageError(f"not a PostgreSQL URL: {url!r} (expected postgresql://user@host:5432/db)")
        self.url = url
        try:  # fail fast and clearly (the pool would retry until its timeout)
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {_safe(url)}: {str(exc).strip()}; is the "
                               "server running and the URL right (postgresql://user@host:port/database)?"
                               ) from exc
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = weakref.WeakKeyDictionary()
        self._pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=False, check=self._check,
                                    configure=_configure, reset=self._stamp, timeout=connect_timeout,
                                    kwargs={"autocommit": True}, name="interlock")
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:
            self._pool.close()
            raise StorageError(f"cannot connect to PostgreSQL at {_safe(url)}: {exc}; is the server running "
                               "and the URL right (postgresql://user@host:port/database)?") from exc
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._token = uuid.uuid4().hex  # the payload of this store's NOTIFYs (others_committed)
        self._notify = postgres_tx.notify_text(self._token)
        self._others_lock = threading.Lock()
        self._others: psycopg.Connection[Any] | None = None  # others_committed's LISTEN connection
        self._writes = 0
        self._inside = threading.local()  # depth: this thread's open transactions (close() refuses)
        if migrate:
            self.migrate()

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check on checkout, only for a connection idle for CHECK_AFTER_IDLE seconds or more."""
        if time.monotonic() - self._returned.get(conn, 0.0) >= CHECK_AFTER_IDLE:
            ConnectionPool.check_connection(conn)

    def _stamp(self, conn: psycopg.Connection[Any]) -> None:
        self._returned[conn] = time.monotonic()

    # -- transactions ---------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        """One write transaction; its waiting rows go out just before ``COMMIT`` (one statement, and the
        history's feed positions come after: PostgresTx.sequence_changes). BEGIN and COMMIT go through
        libpq directly (postgres_tx.command); a COMMIT of recorded steps takes the NOTIFY that wakes
        readers of the feed along in its message (postgres_tx.commit)."""
        self._writes += 1
        with self._begun(b"BEGIN") as conn:
            try:
                tx = PostgresTx(conn, self._writes, writing=True)
                try:
                    yield tx
                    tx.finish()
                except BaseException:
                    postgres_tx.command(conn, b"ROLLBACK", check=False)
                    raise
                if tx.recorded:  # the NOTIFY in the COMMIT's message, run after it (postgres_tx.commit)
                    postgres_tx.commit(conn, self._notify)
                else:
                    postgres_tx.command(conn, b"COMMIT")
            except psycopg.Error as exc:
                raise translate(exc, "committing a transaction") from exc

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        """A consistent read view (REPEATABLE READ, read only), set by its BEGIN: no statement of its own
        (it was one round trip of every read)."""
        with self._begun(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") as conn:
            try:
                tx = PostgresTx(conn)
                try:
                    yield tx
                    if tx.waiting():  # never written (and the transaction is READ ONLY)
                        raise StorageError(READ_ONLY)
                except BaseException:
                    postgres_tx.command(conn, b"ROLLBACK", check=False)
                    raise
                postgres_tx.command(conn, b"COMMIT")
            except psycopg.Error as exc:
                raise translate(exc, "reading") from exc

    @contextmanager
    def _begun(self, begin: bytes) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection with a transaction begun. A connection that BEGIN finds broken (it died
        while idle in the pool, too soon after its return for the checkout check: CHECK_AFTER_IDLE) is
        put back, which discards it, and the BEGIN is tried again on another, up to once per connection
        the pool holds (a server restart breaks them all): nothing of the transaction was sent yet, so
        nothing can be lost or done twice."""
        tries = self._pool.max_size + 1
        for attempt in range(1, tries + 1):
            with self._connection() as conn:
                try:
                    postgres_tx.command(conn, begin)
                except psycopg.OperationalError as exc:
                    if attempt == tries or not conn.broken:
                        raise translate(exc, "beginning a transaction") from exc
                    continue
                depth = self._depth()  # the entering thread's, wherever the block ends (a generator
                depth[0] += 1          # holding one may be closed by another thread)
                try:
                    yield conn
                finally:
                    depth[0] -= 1
                return

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise translate(exc, "using a connection") from exc
        except StorageError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg_pool"):  # PoolTimeout, PoolClosed
                raise StorageError(f"no PostgreSQL connection to {_safe(self.url)}: {exc}") from exc
            raise

    def changes(self, *, after: int, limit: int) -> list[Change]:
        """Number the steps committed since the last reader did (sequence_changes), then read."""
        while True:
            with self.write() as tx:
                if tx.sequence_changes(SEQUENCER_LOCK) < 10_000:
                    break
        with self.read() as tx:
            return tx.changes(after=after, limit=limit)

    def last_position(self) -> int:
        """Number the steps committed since the last reader did, then read the feed's head."""
        while True:
            with self.write() as tx:
                if tx.sequence_changes(SEQUENCER_LOCK) < 10_000:
                    break
        with self.read() as tx:
            return tx.last_position()

    def schema_version(self) -> int:
        with self.read() as tx:
            return tx.meta_int("schema_version")

    def inside_transaction(self) -> bool:
        return self._depth()[0] > 0

    def _depth(self) -> list[int]:
        """This thread's count of open transactions, as a cell: a block ends on the count of the thread
        that began it (restoring a saved value on the ending thread set that thread's count instead)."""
        depth: list[int] | None = getattr(self._inside, "depth", None)
        if depth is None:
            depth = self._inside.depth = [0]
        return depth

    def close(self) -> None:
        if self.inside_transaction():  # the pool's close would wait for the connection the block holds
            raise closed_inside()
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        with self._others_lock:
            if self._others is not None:
                self._others.close()
                self._others = None
        self._pool.close()

    # -- the change feed's wake-up ---------------------------------------------------------------------

    def others_committed(self) -> bool:
        """Whether a NOTIFY of another store (another process) arrived since the last call: a connection
        of its own LISTENs (opened by the first call, which answers True: it cannot tell), and each call
        drains what arrived without waiting, skipping this store's own NOTIFYs (their payload is its
        token). A broken connection answers True (something may have been missed); the next call opens
        another."""
        with self._others_lock:
            conn = self._others
            try:
                if conn is None or conn.closed:
                    self._others = conn = psycopg.connect(self.url, autocommit=True)
                    conn.execute(f"LISTEN {CHANNEL}")
                    return True
                foreign = False
                for notice in conn.notifies(timeout=0):  # all that arrived: the next call starts afresh
                    foreign = foreign or notice.payload != self._token
                return foreign
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                self._others = None
                return True

    def wait_for_changes(self, timeout: float) -> None:
        """Return when a commit notified ``interlock_changes`` or after ``timeout`` seconds."""
        with self._listen_lock:
            try:
                if self._listener is None or self._listener.closed:
                    self._listener = psycopg.connect(self.url, autocommit=True)
                    self._listener.execute(f"LISTEN {CHANNEL}")
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.Error:  # the connection broke: polling carries on, reconnect next time
                if self._listener is not None:
                    self._listener.close()
                self._listener = None

    # -- schema ---------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to the newest version, every migration in one transaction under an advisory
        lock (processes starting together wait for the first). Returns the version."""
        known = migrations("postgres")
        latest = known[-1][0] if known else 0
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            current = PostgresTx(conn).meta_int("schema_version")
            if current > latest:
                raise StorageError(f"{_safe(self.url)} has schema version {current}, newer than this "
                                   f"Interlock knows ({latest}); upgrade Interlock")
            for version, script in known:
                if version > current:
                    conn.execute(script.encode())  # a script: no parameters, so several statements
                    conn.execute(_Q["set_meta"], {"key": "schema_version", "value": str(version)})
        return latest


def _safe(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        user, _, host = rest.rpartition("@")
        rest = f"{user.split(':', 1)[0]}@{host}"
    return f"{scheme}{sep}{rest}"
