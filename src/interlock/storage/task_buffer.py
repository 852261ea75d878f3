"""A write transaction's task writes that wait, shared by the SQLite and the PostgreSQL stores.

A workflow's step records a task's result (removing the task), then its transition adds the next task,
then the same command claims it for the thread that ran the last one: three statements on the tasks
table per step, each a round trip on PostgreSQL and, on SQLite, a call that lets the GIL go (see
sqlite_pending.py). Here they wait in memory instead:

- **new tasks** wait by key, with their input and policy encoded, until the next statement on the tasks
  table or the commit; a claim in the same transaction leases them where they wait (the task is
  inserted already claimed), with input and policy as the table would give them back;
- **held leases**: ``lock_tasks`` reads, in one statement for a batch, the tasks still leased to the
  attempts whose results the batch records; removing one of those then needs no statement of its own and
  waits with the other writes (its row cannot change meanwhile: PostgreSQL holds the row lock, SQLite
  lets one writer in at a time). Every statement that changes a task forgets the leases it may change;
- **drained**: a claim that found no more claimable tasks of some services at some time lets later
  claims of the transaction skip the table (a claim takes claimable tasks in no order; what commits
  meanwhile is for the next transaction), until something makes a task claimable again.

The store writes what :meth:`TaskBuffer.take` hands it (removals first, then the new tasks) before any
other statement on tasks and before its commit, and copies the buffer around a savepoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from interlock.errors import StorageError
from interlock.storage.codec import dumps
from interlock.storage.sqlite_errors import stored_json as loads
from interlock.storage.store import StaleRowError, TaskRow

Lease = tuple[str, str, int]  # key, owner, attempt
Waiting = tuple[TaskRow, str, str, float]  # the task, its input and policy as JSON, when it was added
_NEVER = (float("-inf"), frozenset[str]())


class TaskBuffer:
    """New tasks, held leases and removals of one write transaction (see the module docstring)."""

    __slots__ = ("drained", "leased", "removals", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[str, Waiting] = {}
        # key -> owner, attempt, machine, id, invokeid of a task lock_tasks found leased to that attempt
        self.leased: dict[str, tuple[str, int, str, str, str]] = {}
        self.removals: list[tuple[str, str, str]] = []  # key, machine, id of held tasks to remove
        self.drained: tuple[float, frozenset[str]] = _NEVER

    def __bool__(self) -> bool:
        return bool(self.waiting or self.removals)

    def copy(self) -> TaskBuffer:
        """What to restore if a savepoint rolls back."""
        other = TaskBuffer()
        other.waiting, other.leased = dict(self.waiting), dict(self.leased)
        other.removals, other.drained = list(self.removals), self.drained
        return other

    def restore(self, saved: TaskBuffer) -> None:
        self.waiting, self.leased, self.removals, self.drained = (
            saved.waiting, saved.leased, saved.removals, saved.drained)

    # -- new tasks --------------------------------------------------------------------------------------

    def add(self, row: TaskRow, now: float) -> None:
        if not row.key.startswith(f"{row.machine}/{row.id}#"):  # the store contract (Store.add_task)
            raise StorageError(f"task key {row.key!r} does not begin with {row.machine}/{row.id}# (its "
                               "instance's machine and id): build it with dispatch.effect_key")
        if row.key in self.waiting:
            raise StaleRowError(f"task {row.key} was added twice in one transaction")
        task = TaskRow(row.key, row.machine, row.id, row.invokeid, row.service, row.input, row.policy, 0,
                       "pending", now)  # (the constructor: 2.2 us, replace(): 3.6)
        self.waiting[row.key] = (task, dumps(row.input), dumps(row.policy), now)

    def take(self) -> tuple[list[tuple[str, str, str]], list[Waiting]]:
        """The removals and the new tasks to write now (in that order); the buffer forgets them. Written
        new tasks are claimable in the table: a claim looks there again."""
        removals, self.removals = self.removals, []
        waiting = list(self.waiting.values())
        if waiting:
            self.waiting = {}
            self.drained = _NEVER
        return removals, waiting

    def lease_waiting(self, now: float, owner: str, services: Sequence[str], limit: int,
                      lease_of: Callable[[dict[str, Any]], float]) -> list[TaskRow]:
        """Claim new tasks where they wait: what a lease of their row would make of them."""
        claimed: list[TaskRow] = []
        for key, (task, input, policy, created) in self.waiting.items():
            if len(claimed) >= limit:
                break
            if task.status != "pending" or task.service not in services or task.available_at > now:
                continue
            stored = loads(policy)
            leased = TaskRow(key, task.machine, task.id, task.invokeid, task.service, loads(input), stored,
                             task.attempt + 1, "running", task.available_at, owner, now + lease_of(stored))
            self.waiting[key] = (leased, input, policy, created)
            claimed.append(leased)
        return claimed

    def claim_waiting(self, now: float, owner: str, services: Sequence[str], limit: int,
                      lease_of: Callable[[dict[str, Any]], float]) -> tuple[list[TaskRow], int]:
        """A claim's first part: the new tasks it leases where they wait, and how many more to look for
        in the table (0: none, or the table has no more of them as far as this transaction goes)."""
        if not services or limit <= 0:
            return [], 0
        claimed = self.lease_waiting(now, owner, services, limit, lease_of)
        drained = now <= self.drained[0] and self.drained[1].issuperset(services)
        return claimed, 0 if drained else limit - len(claimed)

    def looked(self, now: float, services: Sequence[str], wanted: int, found: int) -> None:
        """The table gave ``found`` of the ``wanted`` claimable tasks: if fewer, a later claim of this
        transaction need not look there again."""
        if found < wanted:
            self.drained = (now, frozenset(services))

    def undrain(self) -> None:
        """A task became claimable (a retry): the next claim looks at the table again."""
        self.drained = _NEVER

    # -- held leases ------------------------------------------------------------------------------------

    def to_lock(self, leases: Sequence[Lease]) -> list[Lease]:
        """The leases not held yet, without duplicates."""
        return [lease for lease in dict.fromkeys(leases) if lease[0] not in self.leased]

    def hold(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows of ``key, lease_owner, attempt, machine, id, invokeid`` still leased as asked."""
        for key, owner, attempt, machine, id, invokeid in rows:
            self.leased[key] = (owner, attempt, machine, id, invokeid)

    def unlease(self, keys: Iterable[str] = (), *, machine: str | None = None, id: str | None = None,
                invokeid: str | None = None) -> None:
        """Forget held leases a statement changes (by key, or an instance's: all or one invoke's)."""
        for key in list(keys):
            self.leased.pop(key, None)
        if machine is not None:
            for key, (_, _, m, i, inv) in list(self.leased.items()):
                if m == machine and i == id and (invokeid is None or inv == invokeid):
                    del self.leased[key]

    def remove_held(self, key: str, owner: str, attempt: int) -> bool:
        """Remove a task held for this attempt, with the other waiting writes; False: not held (the store
        asks the table)."""
        held = self.leased.get(key)
        if held is None or held[:2] != (owner, attempt):
            return False
        del self.leased[key]
        self.removals.append((key, held[2], held[3]))
        return True
