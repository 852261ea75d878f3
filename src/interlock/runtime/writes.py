"""Every write to instances as a plain value: the one vocabulary of the durable runtime.

The embedded API (app.py), the worker (worker.py) and any other front end (the coming HTTP server) build
these values and submit them to the writer (writer.py), which carries each one out in a transaction:
``writer.call(Send("order", "42", Event("PAY")))``. A command is frozen data (comparable, printable,
easy to log or put on a wire); calling it with a :class:`~interlock.runtime.unit.Unit` runs it, which
only the writer does. Every command answers with a named result, never a positional tuple.

| command | carries out | answers |
|---|---|---|
| :class:`Create` | start an instance (its first macrostep and its children) | :class:`Written` |
| :class:`Send` | an event from a caller, applied or queued | :class:`Sent` |
| :class:`Pause` / :class:`Resume` / :class:`Cancel` | change an instance's status | :class:`Written` |
| :class:`WorkRound` | fire due timers, apply queued events, claim tasks | :class:`RoundDone` |
| :class:`RecordTask` | a task attempt's result (then claim the next task) | :class:`TaskRecorded` |
| :class:`ClaimTasks` | lease tasks to run | ``list[TaskRow]`` |
| :class:`Heartbeat` | extend a task's lease | ``bool`` (False: the lease was lost) |
| :class:`Register` | record machine versions (shape and definition), refuse a changed one | ``None`` |

Children are started inside the step that invokes them (runtime/dispatch.py), in the same transaction:
a child's start is part of its parent's write, not a command of its own.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from interlock.auth.policy import Refusal
from interlock.core.events import Event
from interlock.errors import ConflictError
from interlock.runtime import apply, commands
from interlock.runtime.fingerprint import changed_message, changed_parts
from interlock.runtime.model import Captured, capture
from interlock.runtime.tasks import Attempt
from interlock.runtime.unit import Unit
from interlock.storage.store import TaskRow

Key = tuple[str, str]


class Written(NamedTuple):
    """An instance as the write left it (captured in the writer, turned into an Instance by the caller),
    or None with the ``refusal`` of the machine's authorize rules (nothing was written)."""

    instance: Captured | None
    refusal: Refusal | None = None


class Sent(NamedTuple):
    """What became of a caller's event: ``outcome`` (applied, ignored, queued, failed, refused), the ``step``
    that recorded it (None while queued or refused unrecorded), whether it was a ``duplicate`` of an
    idempotency key, the instance, and why the machine's authorize rules refused it."""

    outcome: str
    step: int | None
    duplicate: bool
    instance: Captured
    refusal: Refusal | None = None


class RoundDone(NamedTuple):
    """A worker round: how many timers and events it handled, and the tasks it claimed to run."""

    done: int
    tasks: list[TaskRow]


class TaskRecorded(NamedTuple):
    """An attempt's ``verdict`` (done, failed, retry, stale) and the next task claimed for the same thread."""

    verdict: str
    next: list[TaskRow]


def _view(unit: Unit, machine: str, id: str) -> Written:
    return Written(capture(commands.existing(unit, machine, id)))


@dataclass(frozen=True, slots=True)
class Create:
    machine: str
    id: str
    input: dict[str, Any] | None = None
    version: str | None = None
    caller: dict[str, Any] | None = None  # who asks (auth.policy.caller_of); None: trusted code
    idempotency_key: str | None = None  # a retry of the create that used it returns that instance

    @property
    def instance_key(self) -> Key:
        """Looked up with the rest of the batch's rows in one statement: on PostgreSQL a name found free
        there needs no look of its own, and the new row goes out with the batch's other writes."""
        return (self.machine, self.id)

    def __call__(self, unit: Unit) -> Written:
        created = apply.create(unit, self.machine, self.id, input=self.input, version=self.version,
                               caller=self.caller, idempotency_key=self.idempotency_key)
        if isinstance(created, Refusal):
            return Written(None, created)
        apply.settle(unit)
        return _view(unit, self.machine, self.id)


@dataclass(frozen=True, slots=True)
class Send:
    machine: str
    id: str
    event: Event
    idempotency_key: str | None = None
    reject_unhandled: bool = False
    caller: dict[str, Any] | None = None  # who asks (auth.policy.caller_of); None: trusted code
    queue_limit: int | None = None  # InstanceBusyError instead of queueing behind this many events

    @property
    def instance_key(self) -> Key:
        """The one existing instance this command writes: the writer reads (and on PostgreSQL locks)
        the rows of a whole batch at once, and defers a command whose row another writer holds."""
        return (self.machine, self.id)

    def __call__(self, unit: Unit) -> Sent:
        answer = apply.send(unit, self.machine, self.id, self.event, idempotency_key=self.idempotency_key,
                            reject_unhandled=self.reject_unhandled, caller=self.caller,
                            queue_limit=self.queue_limit)
        return Sent(answer.outcome, answer.step, answer.duplicate,
                    capture(commands.existing(unit, self.machine, self.id)), answer.refusal)


@dataclass(frozen=True, slots=True)
class Pause:
    machine: str
    id: str
    caller: dict[str, Any] | None = None  # who asks (auth.policy.caller_of); None: trusted code

    @property
    def instance_key(self) -> Key:
        return (self.machine, self.id)

    def __call__(self, unit: Unit) -> Written:
        commands.pause(unit, self.machine, self.id, self.caller)
        return _view(unit, self.machine, self.id)


@dataclass(frozen=True, slots=True)
class Resume:
    machine: str
    id: str
    caller: dict[str, Any] | None = None  # who asks (auth.policy.caller_of); None: trusted code

    @property
    def instance_key(self) -> Key:
        return (self.machine, self.id)

    def __call__(self, unit: Unit) -> Written:
        commands.resume(unit, self.machine, self.id, self.caller)
        return _view(unit, self.machine, self.id)


@dataclass(frozen=True, slots=True)
class Cancel:
    machine: str
    id: str
    caller: dict[str, Any] | None = None  # who asks (auth.policy.caller_of); None: trusted code

    @property
    def instance_key(self) -> Key:
        return (self.machine, self.id)

    def __call__(self, unit: Unit) -> Written:
        commands.cancel(unit, self.machine, self.id, self.caller)
        return _view(unit, self.machine, self.id)


@dataclass(frozen=True, slots=True)
class WorkRound:
    """``timers``: at most this many due timers (and queued events); ``limit``: tasks to claim."""

    owner: str
    services: tuple[str, ...]
    limit: int
    timers: int
    rng: random.Random = field(compare=False, repr=False, default_factory=random.Random)

    def __call__(self, unit: Unit) -> RoundDone:
        done, tasks = commands.round_of_work(unit, owner=self.owner, services=list(self.services),
                                             limit=self.limit, timers=self.timers, rng=self.rng)
        return RoundDone(done, tasks)


@dataclass(frozen=True, slots=True)
class RecordTask:
    """A task attempt's result; then claim one task of ``services`` for the same worker thread."""

    task: TaskRow
    owner: str
    result: Attempt
    services: tuple[str, ...] = ()
    rng: random.Random = field(compare=False, repr=False, default_factory=random.Random)

    @property
    def instance_key(self) -> Key:
        """The instance the result goes to (the task names it): read (and on PostgreSQL locked) with the
        rest of the batch's rows in one statement, instead of one lookup per result."""
        return (self.task.machine, self.task.id)

    @property
    def task_lease(self) -> tuple[str, str, int]:
        """The attempt whose result this is: held with the rest of the batch's in one statement
        (``WriteTx.lock_tasks``), instead of one removal of its task per result."""
        return (self.task.key, self.owner, self.task.attempt)

    def __call__(self, unit: Unit) -> TaskRecorded:
        verdict = commands.complete(unit, self.task, self.owner, self.result, self.rng)
        follow = commands.claim(unit, owner=self.owner, services=list(self.services), limit=1, rng=self.rng)
        return TaskRecorded(verdict, follow)


@dataclass(frozen=True, slots=True)
class ClaimTasks:
    owner: str
    services: tuple[str, ...]
    limit: int
    rng: random.Random = field(compare=False, repr=False, default_factory=random.Random)

    def __call__(self, unit: Unit) -> list[TaskRow]:
        return commands.claim(unit, owner=self.owner, services=list(self.services), limit=self.limit,
                              rng=self.rng)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    task: TaskRow
    owner: str

    def __call__(self, unit: Unit) -> bool:
        return commands.heartbeat(unit, self.task, self.owner)


@dataclass(frozen=True, slots=True)
class MachineVersion:
    """A machine version as the store records it: ``shape`` (machines.shape_of) and ``definition``
    (fingerprint.definition_text)."""

    name: str
    version: str
    shape: str
    definition: str


@dataclass(frozen=True, slots=True)
class Register:
    """Record machine versions; :class:`ConflictError` if one was recorded with another shape or
    definition (nothing is recorded then)."""

    versions: tuple[MachineVersion, ...]

    def __call__(self, unit: Unit) -> None:
        for entry in self.versions:
            known_shape, known = unit.tx.register_machine(entry.name, entry.version, entry.shape, unit.now,
                                                          entry.definition)
            if known_shape != entry.shape:
                raise ConflictError(
                    f"machine {entry.name!r} version {entry.version!r} was registered in this database "
                    "with other states or transitions; its instances hold the old state ids. Give the "
                    "changed chart a new version (instances keep theirs), or register the old definition")
            parts = changed_parts(json.loads(known), json.loads(entry.definition)) if known else []
            if parts:
                raise ConflictError(changed_message(entry.name, entry.version, parts, where="in this database"))
