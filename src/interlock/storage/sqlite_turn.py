"""Writers take turns on a SQLite file: a lock that wakes the next writer as soon as the last one is done.

SQLite lets one connection write at a time. A connection that finds the file locked sleeps and tries
again (``busy_timeout``), with sleeps that grow to 100 ms; a process that commits again as soon as it
has committed (a server's writer under load) finds the lock free at nearly every try, and the other
process's writer sleeps on: with two ``interlock serve`` workers over one file at 64 requests in flight,
sends waited up to 3 s (p99 2.8-3.6 s, p50 9-11 ms; docs/benchmarks.md, "Server workers"). So every
write transaction first takes its turn here: a lock in this process (threads), then an exclusive
``flock`` on ``<database>-lock`` (processes), both blocking in the kernel, which wakes a waiter when the
holder lets go. SQLite's own lock is still taken inside the turn (``BEGIN IMMEDIATE``), so a program that
does not take turns (the ``sqlite3`` shell, an older Interlock) stays excluded as before, by SQLite.

The lock file is separate from the database: closing any descriptor of the database file would drop
the POSIX locks SQLite holds on it in this process. The kernel releases a ``flock`` when its process
ends, however it ends. Where ``fcntl`` is missing (Windows), only the threads of a process take turns.
"""

from __future__ import annotations

import os
import threading
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from interlock.errors import StorageError

CLOSE_WAIT = 5.0  # seconds close() waits for a write in progress before it leaves the lock file open


class WriteTurn:
    """``with turn:`` around one write transaction of one SQLite file (not reentrant)."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-lock"
        self._threads = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if fcntl is not None:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX)  # the GIL is released while it waits
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            if fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _descriptor(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            except OSError as exc:
                raise StorageError(f"cannot open the writers' lock file {self.path!r} beside the database: "
                                   f"{exc.strerror}; the database's folder must be writable") from exc
        return self._fd

    def close(self) -> None:
        """Close the lock file; the next write opens it again. A write still in progress (a thread the
        store's owner did not stop) keeps it open: its descriptor must not be closed under it."""
        if not self._threads.acquire(timeout=CLOSE_WAIT):
            return
        try:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        finally:
            self._threads.release()
