"""Writers take turns on a SQLite file: a lock that wakes the next writer as soon as the last one is done.

SQLite lets one connection write at a time. A connection that finds the file locked sleeps and tries
again (``busy_timeout``), with sleeps that grow to 100 ms; a process that commits again as soon as it
has committed (a server's writer under load) finds the lock free at nearly every try, and the other
process's writer sleeps on: with two ``interlock serve`` processes over one file at 64 requests in
flight, sends waited up to 3 s (docs/benchmarks.md, "Server processes"). So every write transaction
first takes its turn here: a lock between the threads of this process (one :class:`WriteTurn` per file
per process, whichever store objects write it), then an exclusive ``flock`` on ``<database>-lock``
between processes, which the kernel hands to a waiter as soon as the holder lets go. SQLite's own lock is
still taken inside the turn (``BEGIN IMMEDIATE``), so a program that does not take turns (the ``sqlite3``
shell, an older Interlock) stays excluded as before, by SQLite.

Limits: a thread waits for another thread of its process at most the store's busy timeout (then the
busy :class:`StorageError`); a thread that already has the turn and asks again (a write inside a write,
through any store of the file) is refused at once. The wait for another *process* has no time limit
(``flock`` has none): the kernel ends it when that process lets go or ends, however it ends; a process
stopped while it writes (SIGSTOP, a paused container) holds the others' writes until it goes on or ends.

The lock file is separate from the database: closing any descriptor of the database file would drop
the POSIX locks SQLite holds on it in this process. It is created with the database file's permission
bits (and, by root, given the database's owner, as SQLite does for ``-wal`` and ``-shm``), and opened
read-only where it may not be written (``flock`` needs no write access). A child made by ``fork``
closes its copy of the descriptor (its parent's turn is not its own). Where ``fcntl`` is missing
(Windows), only the threads of a process take turns.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from interlock.errors import StorageError

_TURNS: weakref.WeakValueDictionary[tuple[int, int], WriteTurn] = weakref.WeakValueDictionary()
_REGISTRY = threading.Lock()


def turn_for(database: str) -> WriteTurn:
    """The process's turn for the database file at path ``database`` (which must exist), shared by every
    store of it: the file is known by its device and inode, so two paths to it (a symbolic link, a bind
    mount, another case of its name on a case-insensitive disk) share one turn."""
    found = os.stat(database)
    key = (found.st_dev, found.st_ino)
    with _REGISTRY:
        turn = _TURNS.get(key)
        if turn is None:
            turn = _TURNS[key] = WriteTurn(os.path.realpath(database))
        return turn


class WriteTurn:
    """``with turn.taken(timeout):`` around one write transaction of one SQLite file."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.path = f"{database}-lock"
        self._threads = threading.Lock()
        self._owner: int | None = None  # the thread that has the turn
        self._fd: int | None = None
        self._closer: weakref.finalize[..., WriteTurn] | None = None

    def taken(self, timeout: float) -> Taken:
        """The turn, for the block; ``timeout``: seconds to wait for another thread of this process (the
        store's busy timeout)."""
        return Taken(self, timeout)

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = _open_lock_file(self.path, self.database)
            self._closer = weakref.finalize(self, os.close, self._fd)
        return self._fd

    def _after_fork(self) -> None:
        """In a child made by ``fork``: its copy of the descriptor shares the parent's lock, so it is
        closed (never unlocked: that would end the parent's turn), and the threads' lock is new."""
        if self._closer is not None:
            self._closer.detach()
            self._closer = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._threads = threading.Lock()
        self._owner = None


def _open_lock_file(path: str, database: str) -> int:
    try:
        owner: os.stat_result | None = os.stat(database)
    except OSError:
        owner = None
    mode = owner.st_mode & 0o666 if owner is not None else 0o644
    cloexec = getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | cloexec, mode)
    except PermissionError:
        try:  # another account created it and keeps it to itself: a lock needs no write access
            return os.open(path, os.O_RDONLY | cloexec)
        except OSError as exc:
            raise _unusable(path, exc) from exc
    except OSError as exc:
        raise _unusable(path, exc) from exc
    if owner is not None and hasattr(os, "geteuid") and os.geteuid() == 0:
        with contextlib.suppress(OSError):  # root made it for a database another account owns (as
            os.fchown(fd, owner.st_uid, owner.st_gid)  # SQLite does for -wal and -shm)
    return fd


def _unusable(path: str, exc: OSError) -> StorageError:
    return StorageError(f"cannot open the writers' lock file {path!r} beside the database: {exc.strerror}; "
                        "the account needs to create files in the database's folder (as SQLite does for "
                        "the -wal and -shm files) or to read the lock file another account created")


def _reset_after_fork() -> None:
    global _REGISTRY
    _REGISTRY = threading.Lock()
    for turn in list(_TURNS.values()):
        turn._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class Taken:
    """A turn being taken: ``__enter__`` waits for it, ``__exit__`` hands it on. A class, not a generator
    context manager, as it is taken around every write transaction (a generator costs ~1.5 us more)."""

    __slots__ = ("_threads", "_timeout", "_turn")

    def __init__(self, turn: WriteTurn, timeout: float) -> None:
        self._turn = turn
        self._timeout = timeout
        self._threads: threading.Lock | None = None

    def __enter__(self) -> None:
        turn = self._turn
        me = threading.get_ident()
        if turn._owner == me:
            raise StorageError(f"a write transaction of {turn.database} is already open in this thread; "
                               "a write cannot start inside another (finish the first one, or write from "
                               "another thread)")
        threads = turn._threads
        if not threads.acquire(timeout=self._timeout):
            raise StorageError(f"{turn.database} stayed locked by another thread of this process longer "
                               f"than the busy timeout ({self._timeout:g} s); retry, or find the thread "
                               "holding a long transaction")
        self._threads = threads
        try:
            if fcntl is not None:
                fcntl.flock(turn._descriptor(), fcntl.LOCK_EX)  # the GIL is released while it waits
        except BaseException:
            self._release()
            raise
        turn._owner = me

    def __exit__(self, *exc: object) -> None:
        turn = self._turn
        try:
            turn._owner = None
            if fcntl is not None and turn._fd is not None and self._threads is turn._threads:
                fcntl.flock(turn._fd, fcntl.LOCK_UN)  # (not in a child forked meanwhile: not its turn)
        finally:
            self._release()

    def _release(self) -> None:
        threads, self._threads = self._threads, None
        if threads is not None and threads.locked():
            threads.release()
