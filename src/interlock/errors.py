"""Errors raised by Interlock.

Every error derives from one root, so ``except InterlockError`` catches them all::

    InterlockError
    ├── DefinitionError        a machine document or builder call is invalid (lists every problem)
    ├── NotFoundError          an unknown machine, instance or version
    ├── ConflictError          a name is already taken, or an instance is not in a state to accept a call
    │   └── TaskLostError      a task's lease was lost: it was cancelled or another worker took it over
    ├── EventRejectedError     an event was refused (not accepted by the current state, malformed, too large)
    ├── AuthorizationError     a caller may not do what it asked
    │   ├── UnauthenticatedError   no credentials, or credentials that do not verify (HTTP 401)
    │   └── ForbiddenError         the caller is known but a scope or a machine's rule refuses (HTTP 403)
    ├── StepLimitError         a step went over a limit: it did not settle (a loop of eventless transitions or
    │                          raised events), its expressions spent the step's work budget, or it ran past
    │                          the runtime's wall-clock limit (docs/limits.md)
    └── StorageError           the database failed or holds data this version cannot read

Each error carries a message that says what went wrong, where, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class InterlockError(Exception):
    """The root of every error Interlock raises."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found while loading a machine definition.

    ``path`` locates it in the document (``states.green.on.TIMER[0].target``), ``hint`` says how to fix it.
    """

    path: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text


class DefinitionError(InterlockError):
    """A machine definition is invalid; ``problems`` lists every error found, not just the first."""

    def __init__(self, problems: Sequence[Problem], source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(self.problems)} problem(s){where}:"]
        lines.extend(f"  - {p}" for p in self.problems)
        super().__init__("\n".join(lines))


class NotFoundError(InterlockError):
    """An unknown machine, instance or version was named."""


class ConflictError(InterlockError):
    """A name is already taken, or the target is not in a state that allows the call."""


class EventRejectedError(InterlockError):
    """An event was refused: malformed, too large, or not accepted by the instance's current state."""


class InstanceBusyError(InterlockError):
    """An instance has as many events waiting as it may hold (``Interlock(max_queued=...)``): nothing was
    queued; send again once it has applied some (it is paused, or busy with a long queue)."""


class StepLimitError(InterlockError):
    """A step went over a limit and was aborted: too many microsteps (the chart loops without waiting for an
    event), too much expression work, or too long on the wall clock. Nothing the step did is kept."""


class StorageError(InterlockError):
    """The store failed, or holds data this version of Interlock cannot read."""


class AuthorizationError(InterlockError):
    """A caller may not do what it asked. ``reason`` is a stable, machine-readable code
    (``credentials.missing``, ``token.expired``, ``scope.missing``, ``rule.refused``, ...)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class UnauthenticatedError(AuthorizationError):
    """No credentials were given, or they do not verify (unknown key, bad signature, expired token)."""


class ForbiddenError(AuthorizationError):
    """The caller is known, but a scope it lacks or a machine's authorization rule refuses the call."""
