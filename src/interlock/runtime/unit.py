"""A unit of work inside one write transaction: the rows it has read and the instances left to settle.

Every change is written through to the transaction at once, so when a nested savepoint rolls back,
forgetting the cached rows is enough to be consistent again.
"""

from __future__ import annotations

from interlock.core.snapshot import Snapshot
from interlock.runtime.registry import Registry
from interlock.storage.store import InstanceRow, WriteTx

Key = tuple[str, str]


class Unit:
    """Shared state of one command: the transaction, the time it runs at, caches and work left."""

    __slots__ = ("budget", "new_work", "now", "outcomes", "pending", "registry", "rows", "snaps", "tx")

    def __init__(self, tx: WriteTx, registry: Registry, now: float, *, budget: int = 1000) -> None:
        self.tx = tx
        self.registry = registry
        self.now = now
        self.rows: dict[Key, InstanceRow] = {}
        self.snaps: dict[Key, tuple[int, Snapshot]] = {}
        self.pending: dict[Key, None] = {}  # instances whose inbox got events here (an ordered set)
        self.outcomes: dict[int, tuple[str, int]] = {}  # inbox seq -> (outcome, step), for callers
        self.budget = budget  # events this unit may apply; the worker settles the rest
        self.new_work: float | None = None  # earliest timer/task this unit created (wakes the worker)

    def row(self, machine: str, id: str) -> InstanceRow | None:
        key = (machine, id)
        row = self.rows.get(key)
        if row is None:
            row = self.tx.get_instance(machine, id)
            if row is not None:
                self.rows[key] = row
        return row

    def snapshot(self, row: InstanceRow) -> Snapshot:
        key = (row.machine, row.id)
        cached = self.snaps.get(key)
        if cached is not None and cached[0] == row.step:
            return cached[1]
        snap = Snapshot.from_json(row.snapshot)
        self.snaps[key] = (row.step, snap)
        return snap

    def remember(self, row: InstanceRow, snap: Snapshot) -> None:
        self.snaps[(row.machine, row.id)] = (row.step, snap)

    def save(self, row: InstanceRow) -> None:
        row.updated_at = self.now
        self.tx.update_instance(row)

    def forget(self) -> None:
        """Drop cached rows after a rollback; the next read comes from the transaction."""
        self.rows.clear()
        self.snaps.clear()

    def woke(self, when: float) -> None:
        if self.new_work is None or when < self.new_work:
            self.new_work = when

    def mark(self, key: Key) -> None:
        self.pending[key] = None

    def next_pending(self) -> Key | None:
        for key in self.pending:
            del self.pending[key]
            return key
        return None
