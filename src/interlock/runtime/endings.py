"""Waiting for an instance to end (status ``done`` or ``cancelled``) without polling the store per waiter.

The writer notes every instance row it saves with a status other than ``active`` (:meth:`Unit.save`)
and, once the transaction has committed, hands those keys and its row cache to :meth:`Endings.ended`,
which wakes whoever waits for them (:meth:`interlock.Interlock.wait`) with the row as committed
(:class:`~interlock.runtime.model.Captured`, taken only for keys someone waits for). After a commit the
writer's cached rows are what the database holds (unit.py); a row that is no longer cached, or cached as
``active`` again (a rolled-back savepoint undid the end it noted), wakes its waiters with None instead:
they read the instance and wait on.

Instances ended by another app (another process on the database, or a second app in this one) are found
by one poller thread per app, which runs only while someone waits: it asks the store which of the
watched instances have ended (``ended_instances``: one statement, only those rows read) and wakes their
waiters, every ``poll`` seconds and as soon as it sees that another app has committed (it looks every
LOOK seconds: ``Store.others_committed``, a statement that reads no table on SQLite, a drain of
notifications on PostgreSQL), so another process's end reaches a waiter within about LOOK seconds, not
``poll`` (with many waiters, such reads are spaced READ_GAP_PER_KEY a watched instance: 5,000 waiters
within about 0.5 s). This app's own commits do not make it read. Closing the
app wakes every waiter with None: its read then raises the app's "closed" error.

Waking never raises into the writer: an asyncio waiter whose loop was closed is dropped, and any other
failure of a wake is logged and that waiter dropped. The waiters of one event loop are woken with one
``call_soon_threadsafe`` per commit, not one per waiter.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from interlock.runtime.model import Captured, capture
from interlock.storage.store import InstanceRow

log = logging.getLogger("interlock.runtime")

Key = tuple[str, str]
ReadEnded = Callable[[list[Key]], dict[Key, InstanceRow]]
POLL_BACKOFF = 5.0  # seconds the poller waits after a failed read
LOOK = 0.02  # seconds between two looks of the poller for another app's commit
# seconds between two reads prompted by other apps' commits, per watched instance: a read costs some 5 us
# of CPU a watched instance, so this keeps such reads near 5% of a core (5,000 async waiters while another
# process commits steadily: 2.8 s of CPU in 5 s at a read per look); 32 waiters read at each look, 5,000
# every 0.5 s
READ_GAP_PER_KEY = 1e-4


class Signal:
    """How a waiting thread is woken: :meth:`set` from any thread; :meth:`wait` returns True once the
    signal is set and takes it (one wait per set, however many sets came before it).

    A lock used as a binary semaphore, as the writer's replies are (writer.py, ``_Reply``): a
    ``threading.Event`` builds a Condition (a second lock, a deque, a lock per wait) and runs Python code
    in each set and wait; creating, setting and taking one cost about 10 us of CPU, this about 1.3 us
    (measured: 100,000 of each). Every ``Interlock.wait`` and ``execute`` waits on one."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # held while not set

    def set(self) -> None:
        try:  # noqa: SIM105 (a plain try: this runs on the writer thread after commits)
            self._lock.release()
        except RuntimeError:  # set already (releasing an unlocked lock raises): nothing to add
            pass

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set (at most ``timeout`` seconds); True if it was, and it is taken."""
        return self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))


class Waiter:
    """One caller waiting for one instance: the rows it was woken with (None: read it) and how it is
    woken: a thread's :class:`Signal`, or an asyncio event set on its own loop (``loop``)."""

    __slots__ = ("ends", "event", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.ends: list[Captured | None] = []
        self.loop = loop
        self.event: Signal | asyncio.Event = Signal() if loop is None else asyncio.Event()

    def take(self) -> Captured | None:
        """The row of the commit that ended the instance, if a wake brought one (and forget the wakes)."""
        captured = self.ends[-1] if self.ends else None
        self.ends.clear()
        return captured


class Endings:
    """Who waits for which instance to end; woken after the commit that ended it, or by the poller."""

    def __init__(self, read_ended: ReadEnded, poll: float,
                 others_committed: Callable[[], bool] | None = None) -> None:
        self._read_ended = read_ended
        self._poll = poll
        self._others_committed = others_committed
        self._lock = threading.Lock()
        self._waiting: dict[Key, dict[Waiter, None]] = {}
        self._kick = threading.Event()  # set on closing: the poller stops at once
        self._poller: threading.Thread | None = None
        self._closed = False
        self._stopping = threading.Event()  # the app is closing: a failed read is not worth a warning

    def watch(self, key: Key, waiter: Waiter) -> None:
        """Wake ``waiter`` whenever ``key`` may have ended (and when the app closes)."""
        with self._lock:
            self._waiting.setdefault(key, {})[waiter] = None
            if self._closed:  # called on the waiter's own thread (or loop): set its event here
                waiter.ends.append(None)
                waiter.event.set()
            elif self._poller is None or not self._poller.is_alive():
                self._poller = threading.Thread(target=self._poll_loop, name="interlock-endings", daemon=True)
                self._poller.start()

    def unwatch(self, key: Key, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._waiting.get(key)
            if waiters is None:
                return
            waiters.pop(waiter, None)
            if not waiters:
                del self._waiting[key]

    def ended(self, keys: Iterable[Key], rows: Mapping[Key, InstanceRow]) -> None:
        """These instances' rows were committed with an ended status (``rows``: the writer's cache, as
        committed, or rows just read): wake their waiters. Never raises."""
        if not self._waiting:  # read without the lock: a waiter reads the row after it watches
            return
        with self._lock:
            woken = [(key, list(found)) for key in keys if (found := self._waiting.get(key))]
        loops: dict[asyncio.AbstractEventLoop, list[Waiter]] = {}
        for key, group in woken:
            row = rows.get(key)
            captured = capture(row) if row is not None and row.status != "active" else None
            for waiter in group:
                waiter.ends.append(captured)
                if waiter.loop is None:
                    _set(waiter)
                else:
                    loops.setdefault(waiter.loop, []).append(waiter)
        for loop, pending in loops.items():
            try:
                loop.call_soon_threadsafe(_set_all, pending)
            except RuntimeError:  # the loop was closed with these waiters pending: nobody is left to wake
                for waiter in pending:
                    self._drop(waiter)
            except Exception:
                log.exception("waking %d waiters of an event loop failed; they are dropped", len(pending))
                for waiter in pending:
                    self._drop(waiter)

    def stopping(self) -> None:
        """The app begins to close (before it refuses reads): the poller stops without a warning."""
        self._stopping.set()

    def close(self) -> None:
        """Wake every waiter (with None: its read finds the app closed) and stop the poller."""
        with self._lock:
            self._closed = True
            keys = list(self._waiting)
        self.ended(keys, {})
        self._kick.set()
        poller = self._poller
        if poller is not None and poller is not threading.current_thread():
            poller.join()

    def _drop(self, waiter: Waiter) -> None:
        with self._lock:
            for key, waiters in list(self._waiting.items()):
                if waiters.pop(waiter, 0) is None and not waiters:
                    del self._waiting[key]

    def _poll_loop(self) -> None:
        """While someone waits: read the watched instances every ``poll`` seconds, and soon after another
        app has committed (looked for every LOOK seconds; read at most once per READ_GAP_PER_KEY seconds
        a watched instance, so a read's cost stays a small share of a core however many wait); wake the
        ended ones."""
        look = min(LOOK, self._poll) if self._others_committed is not None else self._poll
        next_read = time.monotonic() + self._poll
        last_read = float("-inf")
        foreign = False  # another app committed since the last read
        while True:
            self._kick.wait(look)
            with self._lock:
                if self._closed or self._stopping.is_set():
                    return
                keys = list(self._waiting)
                if not keys:  # nobody waits: the next watch starts a poller again
                    self._poller = None
                    return
            now = time.monotonic()
            foreign = self._others() or foreign
            if now < next_read and not (foreign and now >= last_read + len(keys) * READ_GAP_PER_KEY):
                continue
            try:
                rows = self._read_ended(keys)
            except Exception as exc:  # the store is down or closing: waiters keep waiting
                if self._stopping.is_set():  # the app is closing: close() wakes every waiter
                    return
                log.warning("looking for instances ended by other processes failed (%s); again in %s s",
                            exc, POLL_BACKOFF)
                next_read = time.monotonic() + max(self._poll, POLL_BACKOFF)
                self._kick.wait(max(self._poll, POLL_BACKOFF))  # no looks either: they would fail too
                continue
            foreign, last_read, next_read = False, now, now + self._poll
            if rows:
                self.ended(list(rows), rows)

    def _others(self) -> bool:
        """Whether another app committed since the last look (False if that cannot be told now)."""
        try:
            return self._others_committed is not None and self._others_committed()
        except Exception:  # the store is closing or down: the timed reads carry on, and say so
            return False


def _set(waiter: Waiter) -> None:
    event = waiter.event
    assert isinstance(event, Signal)
    event.set()


def _set_all(waiters: list[Waiter]) -> None:
    for waiter in waiters:
        waiter.event.set()
