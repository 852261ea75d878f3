"""What the durable runtime hands back to callers: plain, frozen values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from interlock.runtime.addresses import address
from interlock.storage.codec import dumps, loads
from interlock.storage.store import HistoryRow, InstanceRow

T = TypeVar("T")
Outcome = Literal["applied", "ignored", "queued", "failed"]


@dataclass(frozen=True, slots=True)
class Instance:
    """An instance as it is now.

    ``configuration`` lists every active state (the root included) in document order; ``state`` only the
    active atomic states (leaves), which is what one usually asks about.
    """

    machine: str
    id: str
    version: str
    status: str  # active | done | cancelled
    paused: bool
    step: int
    queued: int
    configuration: tuple[str, ...]
    state: tuple[str, ...]
    context: dict[str, Any]
    output: Any
    parent: str | None  # "machine/id" of the instance that invoked this one
    created_at: float
    updated_at: float

    @property
    def address(self) -> str:
        """``instance:<machine>/<id>``: how charts address this instance in a ``<send target>``."""
        return address(self.machine, self.id)

    def __repr__(self) -> str:
        return (f"<Instance {self.machine}/{self.id} v{self.version} {self.status} state={list(self.state)} "
                f"step={self.step}{' paused' if self.paused else ''}>")


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of a sent event once the instance settled.

    - ``outcome``: ``applied`` (transitions were taken), ``ignored`` (no transition accepted it; it is in
      the history), ``queued`` (the instance is paused; it will be applied on resume) or ``failed`` (it
      waited behind other events and its step raised; it is recorded with the error, see runtime.md).
    - ``step``: the history step that recorded it (None while queued).
    - ``duplicate``: the idempotency key was seen before; nothing changed and this is the recorded result.
    - ``instance``: the instance after settling (from a server's client, None when the machine's read rule
      does not let the caller read it).
    """

    outcome: Outcome
    step: int | None
    duplicate: bool
    instance: Instance

    @property
    def applied(self) -> bool:
        return self.outcome == "applied"

    def __repr__(self) -> str:
        dup = " duplicate" if self.duplicate else ""
        return f"<SendResult {self.outcome}{dup} step={self.step} {self.instance!r}>"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of an instance. ``outcome``: started | applied | ignored | failed | cancelled."""

    step: int
    at: float
    outcome: str
    event: dict[str, Any] | None
    idempotency_key: str | None
    cause: str | None
    source: tuple[str, ...]
    target: tuple[str, ...]
    context_change: dict[str, Any]
    effects: tuple[dict[str, Any], ...]
    error: str | None = None

    def __repr__(self) -> str:
        name = self.event.get("name") if self.event else None
        return f"<HistoryEntry #{self.step} {self.outcome} {name or ''} -> {list(self.target)}>"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; pass ``next`` back as ``after`` for the following page. ``next`` is None on
    the last page (also when it is exactly full), so a loop never asks for an empty page."""

    items: tuple[T, ...]
    next: Any

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def instance_of(row: InstanceRow, leaves: tuple[str, ...]) -> Instance:
    """An instance from a row read for this caller alone (a read transaction's own row)."""
    snap = row.snapshot
    parent = f"{row.parent_machine}/{row.parent_id}" if row.parent_machine else None
    return Instance(row.machine, row.id, row.version, row.status, row.paused, row.step, row.queued,
                    tuple(snap["configuration"]), leaves, snap["context"], snap.get("output"), parent,
                    row.created_at, row.updated_at)


class Captured(NamedTuple):
    """A row's values at one moment, taken by the writer (cheap: a tuple, no copies) and turned into an
    :class:`Instance` by the caller's thread after the commit. The snapshot dict is never changed in
    place (a step replaces it, and the core copies a context before writing to it), so reading it later
    is safe."""

    machine: str
    id: str
    version: str
    status: str
    paused: bool
    step: int
    queued: int
    snapshot: dict[str, Any]
    parent_machine: str | None
    parent_id: str | None
    created_at: float
    updated_at: float


def capture(row: InstanceRow) -> Captured:
    return Captured(row.machine, row.id, row.version, row.status, row.paused, row.step, row.queued,
                    row.snapshot, row.parent_machine, row.parent_id, row.created_at, row.updated_at)


def instance_from(captured: Captured, leaves: tuple[str, ...]) -> Instance:
    """The caller's own copy (its context and output are copies: changing them changes no instance)."""
    machine, id, version, status, paused, step, queued, snap, parent_machine, parent_id, created, updated = (
        captured)
    parent = f"{parent_machine}/{parent_id}" if parent_machine else None
    return Instance(machine, id, version, status, paused, step, queued, tuple(snap["configuration"]), leaves,
                    _copy(snap["context"]), _copy(snap.get("output")), parent, created, updated)


_SCALARS = (str, int, float, bool, type(None))


def _copy(value: Any) -> Any:
    """A deep copy of JSON data (cheap for the common flat context of scalars)."""
    if isinstance(value, dict):
        if all(isinstance(v, _SCALARS) for v in value.values()):
            return dict(value)
        return loads(dumps(value))
    if isinstance(value, list):
        return loads(dumps(value))
    return value


def entry_of(row: HistoryRow) -> HistoryEntry:
    return HistoryEntry(row.step, row.at, row.outcome, row.event, row.idempotency_key, row.cause,
                        tuple(row.source), tuple(row.target), row.context_change, tuple(row.effects),
                        row.error)
