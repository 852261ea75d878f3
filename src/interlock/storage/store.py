"""The one narrow interface every store implements (SQLite and PostgreSQL).

A store knows rows, not statecharts: the runtime decides what a step means and the store keeps it.
Rules that make a second implementation behave the same:

- ``write()`` is one transaction. Whatever a block writes commits together.
- Many writers (processes, hosts) may share one database. Each instance row carries a ``revision``:
  writing a row is a compare-and-set on the revision it was read at, and a row changed meanwhile raises
  :class:`StaleRowError` (the writer then runs its commands again on fresh rows). On SQLite, where
  ``BEGIN IMMEDIATE`` lets one writer in at a time, the check is enforced and tested all the same.
- Claims are atomic and notice a lost row: due timers are deleted and returned by one statement (only the
  rows this transaction deleted come back), an inbox event taken by someone else raises
  :class:`StaleRowError`, tasks are leased only while free or expired (PostgreSQL: ``FOR UPDATE SKIP
  LOCKED``) and a lease that did not take its row is dropped from the claim.
- A change feed: every committed step gets a global ``position``, without gaps a reader could skip and in
  each instance's step order, so ``Store.changes(after=p)`` resumes exactly (see :class:`Change`).
- History is append-only; reading a page costs the page, not the history.
- Values are plain Python data (JSON-ready); the store encodes them.
- Writes may wait in memory (write-behind) until the next query of the same transaction, the next
  savepoint or the commit, and then go out together; reads of the transaction always see them.
  ``update_instance`` keeps the row object and writes its values as they are at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from interlock.errors import ConflictError, StorageError


@dataclass(slots=True)
class InstanceRow:
    """An instance as stored. ``snapshot`` is ``Snapshot.to_json()`` data."""

    machine: str
    id: str
    version: str
    status: str  # active | done | cancelled | failed
    paused: bool
    step: int
    queued: int
    snapshot: dict[str, Any]
    parent_machine: str | None = None
    parent_id: str | None = None
    parent_invokeid: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    revision: int = 0  # bumped by every write of the row: the compare-and-set of concurrent writers
    snapshot_json: str | None = field(default=None, repr=False, compare=False)  # ``snapshot`` encoded
    # (status, paused, queued) as the database holds them, when the store knows (None: unknown); lets a
    # store write only what a step changed (a step rarely changes these, and they are indexed)
    stored: tuple[str, bool, int] | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class HistoryRow:
    """One step of an instance: what came in, what changed, what it asked the world to do.

    Read-only by convention, not frozen: one is built per step on the writer's thread, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost 3.6 us here against 0.55 us.
    Callers get :class:`~interlock.runtime.model.HistoryEntry`, which is frozen.
    """

    machine: str
    id: str
    step: int
    at: float
    outcome: str  # started | applied | ignored | failed | cancelled
    event: dict[str, Any] | None
    idempotency_key: str | None
    cause: str | None
    source: list[str]
    target: list[str]
    context_change: dict[str, Any]
    effects: list[dict[str, Any]]
    error: str | None = None


class QueuedEvent(NamedTuple):
    """An event in an instance's inbox, waiting to be applied in ``seq`` order."""

    seq: int
    machine: str
    id: str
    event: dict[str, Any]
    idempotency_key: str | None
    cause: str | None
    sendid: str | None
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class TimerRow:
    """A delayed send owned by (machine, id); ``target`` as the chart wrote it (None: the sender)."""

    key: str
    machine: str
    id: str
    sendid: str
    target: str | None
    event: dict[str, Any]
    due_at: float


@dataclass(frozen=True, slots=True)
class TaskRow:
    """An invoked service. ``attempt`` counts claims; ``policy`` is the retry policy as JSON."""

    key: str
    machine: str
    id: str
    invokeid: str
    service: str
    input: Any
    policy: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    status: str = "pending"
    available_at: float = 0.0
    lease_owner: str | None = None
    lease_until: float | None = None
    last_error: str | None = None


class StaleRowError(ConflictError):
    """An instance row (or the inbox event a step was to take) changed since this transaction read it:
    another writer got there first. Nothing of the transaction is kept; the writer retries its commands."""


class TransactionLost(BaseException):  # not an Exception: no per-command handler may catch it
    """The database ended the write transaction under a command (a full disk, an I/O error): nothing of
    the batch is kept, and no later command may run outside the transaction. It passes every handler
    that isolates one command's failure, so the writer answers the whole batch with ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class DefinitionRow:
    """A machine definition uploaded through the HTTP API: the whole document, immutable per version."""

    name: str
    version: str
    format: str  # yaml | json | scxml
    text: str
    registered_at: float


@dataclass(frozen=True, slots=True)
class KeyRow:
    """An API key as stored: the sha256 ``digest`` of the whole key, never the key (auth/keys.py)."""

    id: str
    digest: str
    scopes: tuple[str, ...]
    label: str
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self) -> str:  # never the digest
        state = " revoked" if self.revoked else ""
        return f"<KeyRow {self.id} {self.label!r} scopes={list(self.scopes)}{state}>"


@dataclass(frozen=True, slots=True)
class Change:
    """One committed step in the change feed: ``position`` orders all steps of the database."""

    position: int
    machine: str
    id: str
    step: int
    outcome: str
    at: float


class Locked(NamedTuple):
    """What :meth:`WriteTx.lock_instances` found: the ``rows`` now held by this transaction, and the keys
    of instances that exist but another writer ``held`` (missing instances are in neither)."""

    rows: list[InstanceRow]
    held: list[tuple[str, str]]


class ReadTx(Protocol):
    """A consistent read view."""

    def get_instance(self, machine: str, id: str) -> InstanceRow | None: ...
    def ended_instances(self, keys: Sequence[tuple[str, str]]) -> list[InstanceRow]:
        """The rows of those of these instances whose status is not ``active``: each once, in any order."""
        ...
    def history_page(self, machine: str, id: str, *, after: int, limit: int) -> list[HistoryRow]: ...
    def history_by_key(self, machine: str, id: str, key: str) -> HistoryRow | None: ...
    def list_instances(self, machine: str, *, state: str | None = None, tag: str | None = None,
                       status: str | None = None, after: str = "", limit: int = 100) -> list[InstanceRow]: ...
    def next_wakeup(self) -> float | None: ...
    def children(self, machine: str, id: str) -> list[InstanceRow]: ...
    def timers_of(self, machine: str, id: str) -> list[TimerRow]: ...  # soonest first
    def tasks_of(self, machine: str, id: str) -> list[TaskRow]: ...  # by key
    # uploaded machine definitions
    def get_definition(self, name: str, version: str) -> DefinitionRow | None: ...
    def definitions(self, name: str | None = None) -> list[DefinitionRow]:
        """Uploaded definitions (of one machine, or all), by name, oldest first."""
    def newest_definition(self, name: str) -> str | None:
        """The version of ``name`` uploaded last (the last of :meth:`definitions`), None if none was."""
    # API keys
    def get_key(self, id: str) -> KeyRow | None: ...
    def api_keys(self, *, after: str = "", limit: int = 100) -> list[KeyRow]:
        """A page of API keys (revoked ones too), oldest first: at most ``limit``, those after the key
        whose id is ``after`` (``""``: from the first; an id no key has: none)."""


# what a read view says of a write made in it (a store may have held it back until the commit)
READ_ONLY = "a read transaction cannot write (the write was not kept): write in store.write()"


class WriteTx(ReadTx, Protocol):
    """One write transaction. Every method's change commits or rolls back with the block; a store may
    keep changes waiting until a statement that must see them, the end of a savepoint or the commit
    (``flush`` writes them now). The times a transaction is given (``now``) never go back: once a claim
    found no more claimable tasks in the table, later claims of the transaction may skip the table."""

    data_version: int  # changes between two transactions when another process (connection) wrote

    def savepoint(self) -> AbstractContextManager[None]: ...
    def flush(self) -> None: ...
    def register_machine(self, name: str, version: str, shape: str, now: float,
                         definition: str | None = None) -> tuple[str, str | None]:
        """Record a machine version (first time only) and return the shape and definition it was first
        recorded with."""
    # instances
    def insert_instance(self, row: InstanceRow) -> None: ...  # ConflictError if the id is taken
    def update_instance(self, row: InstanceRow) -> None:
        """Write the row if the database still holds it at ``row.revision`` (then bump it), else raise
        :class:`StaleRowError` (at once or when the transaction's writes go out)."""
    def lock_instances(self, keys: Sequence[tuple[str, str]],
                       leases: Sequence[tuple[str, str, int]] = ()) -> Locked:
        """Read many instance rows at once for this transaction, skipping (never waiting for) rows
        another writer holds: the writer runs a batch's commands on the rows it got and defers the
        commands of the ``held`` ones to the next batch. ``leases``: :meth:`lock_tasks` of these in the
        same go (PostgreSQL: the same round trip)."""
    def find_child(self, machine: str, id: str, invokeid: str) -> InstanceRow | None: ...
    def save_definition(self, row: DefinitionRow) -> DefinitionRow:
        """Keep ``row`` unless its (name, version) is kept already; return the row kept (compare it to
        tell a repeat from a conflict)."""
    def insert_key(self, row: KeyRow) -> None: ...  # ConflictError if the id is taken
    def revoke_key(self, id: str, now: float) -> KeyRow | None:
        """Revoke the key (a second revocation keeps the first time); the key, None if there is none."""
    def touch_key(self, id: str, now: float) -> None: ...  # last_used_at, never moved back
    def set_index(self, machine: str, id: str, states: Sequence[str], tags: Sequence[str], *,
                  before: tuple[Sequence[str], Sequence[str]]) -> None: ...
    def ready_instances(self, limit: int, versions: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """Instances with events to apply that this process can step: ended ones, and active ones of
        the given (machine, version) pairs."""
    # history
    def append_history(self, row: HistoryRow) -> None: ...
    # inbox: its methods keep ``row.queued`` equal to the instance's queued events (the one place that
    # counts them) and write the row with the count, in this transaction (no trigger: rules live here)
    def enqueue(self, row: InstanceRow, event: dict[str, Any], *, idempotency_key: str | None,
                cause: str | None, sendid: str | None, now: float) -> int:
        """Queue an event for the instance (counted in ``row.queued``); its sequence number."""
    def inbox_by_key(self, machine: str, id: str, key: str) -> QueuedEvent | None: ...
    def take_event(self, row: InstanceRow) -> QueuedEvent | None:
        """Remove and return the oldest queued event (uncounted); None when there is none (the count is
        then 0); :class:`StaleRowError` if another writer took it."""
    def remove_events_by_sendid(self, row: InstanceRow, sendid: str) -> int: ...  # how many (uncounted)
    def remove_invocation_events(self, row: InstanceRow, invokeid: str) -> int: ...  # Event.invokeid
    def clear_inbox(self, row: InstanceRow) -> int: ...  # the count is 0 after it
    # timers
    def add_timer(self, row: TimerRow) -> None: ...
    def cancel_timers(self, machine: str, id: str, sendid: str | None) -> None: ...  # None: all
    def take_due_timers(self, now: float, limit: int) -> list[TimerRow]:
        """Delete and return timers due at ``now``, earliest first (scheduling order among equals): only
        the rows this transaction deleted, so two writers never both fire one timer."""
    # tasks
    def add_task(self, row: TaskRow, now: float) -> None:
        """``row.key`` begins with ``'<machine>/<id>#'`` of the instance it belongs to (the invoke or send
        effect's key, dispatch.effect_key): SQLite finds an instance's tasks as that range of keys."""
    def cancel_tasks(self, machine: str, id: str, invokeid: str | None) -> int: ...  # None: all
    def claim_tasks(self, now: float, *, owner: str, services: Sequence[str], limit: int,
                    lease_of: Callable[[dict[str, Any]], float]) -> list[TaskRow]: ...  # of task.policy
    def owned_task(self, key: str, owner: str, attempt: int) -> TaskRow | None: ...
    def extend_lease(self, key: str, owner: str, attempt: int, until: float) -> bool: ...
    def retry_task(self, key: str, available_at: float, error: str) -> None: ...
    def remove_task(self, key: str) -> None: ...
    def remove_owned_task(self, key: str, owner: str, attempt: int) -> bool: ...  # False: stale
    def lock_tasks(self, leases: Sequence[tuple[str, str, int]]) -> None:
        """The results of these attempts (``key, owner, attempt``) are about to be recorded: hold the
        tasks still leased to them at once (PostgreSQL: one statement for a writer's batch, after which
        :meth:`remove_owned_task` of each needs none of its own). Only a hint: every method answers the
        same with or without it."""


def closed_inside() -> StorageError:
    """What closing a store (or its app) from inside one of its own transactions raises: the block would
    go on with a closed connection (SQLite's raw ``ProgrammingError`` at its COMMIT), or the close would
    wait for the connection the block holds."""
    return StorageError("a store was closed from inside one of its own transactions (a "
                        "`with store.write()` or `store.read()` block of this thread): nothing was closed; "
                        "close it (or the app) after the block ends")


class Store(Protocol):
    """A database holding instances. Safe to share between threads; open one per process."""

    url: str

    def write(self) -> AbstractContextManager[WriteTx]: ...
    def read(self) -> AbstractContextManager[ReadTx]: ...
    def schema_version(self) -> int: ...
    def close(self) -> None:
        """Close the store's connections; ``StorageError`` (:func:`closed_inside`) when this thread is
        inside one of its transactions."""
    def inside_transaction(self) -> bool:
        """Whether the calling thread is inside one of this store's ``write()`` or ``read()`` blocks."""
    def changes(self, *, after: int, limit: int) -> list[Change]:
        """Committed steps after a position, in position order (the change feed)."""
    def last_position(self) -> int:
        """The change feed's head: the position of the last committed step, 0 before the first."""
    def wait_for_changes(self, timeout: float) -> None:
        """Block until another commit may have added changes, or ``timeout`` seconds (a wake-up only:
        callers read :meth:`ReadTx.changes` again either way; a lost notification costs a timeout)."""
    def others_committed(self) -> bool:
        """Without blocking: whether another process (or another store on the database) committed since
        the last call; True the first time (it cannot tell). A hint for pollers: it may miss a commit
        (they poll as well) and, rarely, answer True for none."""

