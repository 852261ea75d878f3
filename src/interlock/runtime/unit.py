"""A unit of work inside one write transaction: the rows it reads and the instances left to settle.

Rows and parsed snapshots come from the writer's :class:`RowCache`, which outlives transactions: the
writer is the only thing in this process that changes instances, so after a commit its rows are what
the database holds. Whenever that may not be true the cache is repaired: a rolled-back transaction
empties it (rows are changed in place while a command runs), a rolled-back savepoint either empties it
(a failed queued event in :func:`~interlock.runtime.apply.settle`) or puts back the rows it changed
(:meth:`Unit.attempt`), and the writer empties it when another connection has committed since its last
transaction (``data_version``; another process shares the file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from interlock.core.snapshot import Snapshot
from interlock.runtime.registry import Registry
from interlock.runtime.watchdog import Watchdog
from interlock.storage.store import InstanceRow, QueuedEvent, WriteTx

if TYPE_CHECKING:
    from interlock.runtime.apply import Applied

Key = tuple[str, str]


class Isolate(Exception):
    """Something that must fail alone failed while the batch ran without savepoints (a queued event's
    step, a child instance's start): run the batch again with them, so the failure stays that event's
    or that invocation's (see writer.py)."""


_UNLIMITED = Watchdog(None)
_ROW_FIELDS = tuple(f.name for f in fields(InstanceRow))


class RowCache:
    """Instance rows and their parsed snapshots, as of the last commit (and this transaction's changes)."""

    __slots__ = ("limit", "rows", "snaps")

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self.rows: dict[Key, InstanceRow] = {}
        self.snaps: dict[Key, tuple[int, Snapshot]] = {}

    def clear(self) -> None:
        self.rows.clear()
        self.snaps.clear()

    def trim(self) -> None:
        """Keep the cache bounded: drop the oldest half when it is full (between transactions only)."""
        if len(self.rows) > self.limit:
            for key in list(self.rows)[: len(self.rows) // 2]:
                del self.rows[key]
                self.snaps.pop(key, None)


class Unit:
    """Shared state of one command: the transaction, the time it runs at, caches and work left.

    ``isolate``: run each queued event in its own savepoint and record a failing one as ``failed``
    (otherwise a failure raises :class:`Isolate` and the writer runs the batch again isolated).
    """

    __slots__ = ("budget", "cache", "children", "ended", "isolate", "journal", "new_tasks", "new_work", "now",
                 "outcomes", "pending", "registry", "tx", "watchdog")

    def __init__(self, tx: WriteTx, registry: Registry, now: float, *, budget: int = 1000,
                 cache: RowCache | None = None, isolate: bool = True, watchdog: Watchdog | None = None,
                 ended: set[Key] | None = None) -> None:
        self.tx = tx
        self.registry = registry
        self.now = now
        self.cache = cache if cache is not None else RowCache()
        self.isolate = isolate
        self.pending: dict[Key, None] = {}  # instances whose inbox got events here (an ordered set)
        self.outcomes: dict[int, Applied] = {}  # inbox seq -> what its event came to, for callers
        self.budget = budget  # events this unit may apply; the worker settles the rest
        self.new_work: float | None = None  # earliest timer/retry this unit created (wakes the worker)
        self.new_tasks: set[str] | None = None  # tasks created here and not claimed here (wake it too)
        self.journal: set[Key] | None = None  # rows written inside :meth:`attempt` (None: outside one)
        # [children started by the current step, child starts in progress]: bounds one step's children
        self.children = [0, 0]
        self.watchdog = watchdog or _UNLIMITED  # runs each step under the wall-clock limit
        # rows saved with an ended status (done, cancelled): the writer wakes their waiters (endings.py)
        self.ended = ended if ended is not None else set()

    def row(self, machine: str, id: str) -> InstanceRow | None:
        key = (machine, id)
        row = self.cache.rows.get(key)
        if row is None:
            row = self.tx.get_instance(machine, id)
            if row is not None:
                self.cache.rows[key] = row
        return row

    def add(self, row: InstanceRow, snap: Snapshot) -> None:
        """A row this unit inserted."""
        self.cache.rows[(row.machine, row.id)] = row
        self.remember(row, snap)
        if self.journal is not None:
            self.journal.add((row.machine, row.id))

    def snapshot(self, row: InstanceRow) -> Snapshot:
        key = (row.machine, row.id)
        cached = self.cache.snaps.get(key)
        if cached is not None and cached[0] == row.step:
            return cached[1]
        snap = Snapshot.from_json(row.snapshot)
        self.cache.snaps[key] = (row.step, snap)
        return snap

    def remember(self, row: InstanceRow, snap: Snapshot) -> None:
        self.cache.snaps[(row.machine, row.id)] = (row.step, snap)

    def save(self, row: InstanceRow) -> None:
        row.updated_at = self.now
        self.tx.update_instance(row)
        if row.status != "active":
            self.ended.add((row.machine, row.id))
        if self.journal is not None:
            self.journal.add((row.machine, row.id))

    # -- the inbox: the store counts its events in ``row.queued`` and writes the row; noted here so a
    # rolled-back attempt() puts the count back too

    def enqueue(self, row: InstanceRow, event: dict[str, Any], *, idempotency_key: str | None = None,
                cause: str | None = None, sendid: str | None = None) -> int:
        seq = self.tx.enqueue(row, event, idempotency_key=idempotency_key, cause=cause, sendid=sendid,
                              now=self.now)
        self._note(row)
        return seq

    def take_event(self, row: InstanceRow) -> QueuedEvent | None:
        taken = self.tx.take_event(row)
        self._note(row)
        return taken

    def remove_events_by_sendid(self, row: InstanceRow, sendid: str) -> int:
        removed = self.tx.remove_events_by_sendid(row, sendid)
        self._note(row)
        return removed

    def remove_invocation_events(self, row: InstanceRow, invokeid: str) -> int:
        removed = self.tx.remove_invocation_events(row, invokeid)
        self._note(row)
        return removed

    def clear_inbox(self, row: InstanceRow) -> int:
        removed = self.tx.clear_inbox(row)
        self._note(row)
        return removed

    def _note(self, row: InstanceRow) -> None:
        if self.journal is not None:
            self.journal.add((row.machine, row.id))

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """Run a block in a savepoint. If it raises, the transaction and this unit's cached rows are as
        they were before it (the rows are restored in place: a caller may hold them), then it propagates.

        Every change of a row goes through :meth:`save`, :meth:`add` or an inbox method, which note the
        row here; the savepoint writes everything waiting before it starts, so after its rollback the
        transaction holds each noted row as it was."""
        outer = self.journal
        inner: set[Key] = set()
        self.journal = inner
        try:
            with self.tx.savepoint():
                yield
        except BaseException:
            self._restore(inner)
            raise
        finally:
            self.journal = outer
            if outer is not None:
                outer |= inner

    def _restore(self, keys: set[Key]) -> None:
        for key in keys:
            self.cache.snaps.pop(key, None)
            cached = self.cache.rows.get(key)
            if cached is None:
                continue
            stored = self.tx.get_instance(*key)
            if stored is None:  # inserted inside the block
                del self.cache.rows[key]
                continue
            for name in _ROW_FIELDS:
                setattr(cached, name, getattr(stored, name))

    def forget(self) -> None:
        """Drop cached rows after a rollback; the next read comes from the transaction."""
        self.cache.clear()

    def woke(self, when: float) -> None:
        if self.new_work is None or when < self.new_work:
            self.new_work = when

    def task_added(self, key: str) -> None:
        """A task runnable now: the worker must hear of it, unless this unit claims it itself."""
        if self.new_tasks is None:
            self.new_tasks = set()
        self.new_tasks.add(key)

    def tasks_claimed(self, keys: list[str]) -> None:
        if self.new_tasks:
            self.new_tasks.difference_update(keys)

    def work_due(self) -> float | None:
        """When the worker should next look, for what this unit created (None: nothing new). A task
        this unit created and claimed (a worker thread takes the next step of its workflow) needs no
        wake-up: waking the worker for it cost an empty round per step."""
        if self.new_tasks:
            return self.now if self.new_work is None else min(self.now, self.new_work)
        return self.new_work

    def mark(self, key: Key) -> None:
        self.pending[key] = None

    def next_pending(self) -> Key | None:
        for key in self.pending:
            del self.pending[key]
            return key
        return None
