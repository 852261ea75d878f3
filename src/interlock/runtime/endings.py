"""Waiting for an instance to end (status ``done`` or ``cancelled``) without polling the store.

The writer notes every instance row it saves with a status other than ``active`` (:meth:`Unit.save`)
and, once the transaction has committed, hands those keys and its row cache to :meth:`Endings.ended`,
which wakes whoever waits for them (:meth:`interlock.Interlock.wait`) with the row as committed
(:class:`~interlock.runtime.model.Captured`, taken only for keys someone waits for). After a commit the
writer's cached rows are what the database holds (unit.py); a row that is no longer cached, or cached as
``active`` again (a rolled-back savepoint undid the end it noted), wakes its waiters with None instead:
read the instance and wait on. An instance ended by another process sharing the database wakes no one
here: the waiter reads it again every ``poll`` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from interlock.runtime.model import Captured, capture
from interlock.storage.store import InstanceRow

Key = tuple[str, str]
Wake = Callable[[Captured | None], None]


class Endings:
    """Who waits for which instance to end, woken after the commit that ended it."""

    __slots__ = ("_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[Key, list[Wake]] = {}

    def watch(self, key: Key, wake: Wake) -> None:
        """Call ``wake`` (from the writer's thread: it must be quick) whenever ``key`` may have ended."""
        with self._lock:
            self._waiting.setdefault(key, []).append(wake)

    def unwatch(self, key: Key, wake: Wake) -> None:
        with self._lock:
            wakes = self._waiting.get(key)
            if wakes is None:
                return
            wakes.remove(wake)
            if not wakes:
                del self._waiting[key]

    def ended(self, keys: Iterable[Key], rows: Mapping[Key, InstanceRow]) -> None:
        """These instances' rows were committed with an ended status (``rows``: the writer's cache, as
        committed): wake their waiters."""
        if not self._waiting:  # read without the lock: a waiter reads the row after it watches
            return
        with self._lock:
            woken = [(key, list(wakes)) for key in keys if (wakes := self._waiting.get(key))]
        for key, wakes in woken:
            row = rows.get(key)
            captured = capture(row) if row is not None and row.status != "active" else None
            for wake in wakes:
                wake(captured)
