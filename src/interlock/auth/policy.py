"""Per-machine authorization: who may create, read, control and send which event to an instance, in
which state (docs/auth.md, "Machine rules").

A machine's policy holds one rule per operation; a rule is ``fn(access) -> bool`` over an
:class:`Access`, the plain facts of one request: the caller (``claims``, ``caller``), the instance
(``name``, ``state``, ``context``, ``In()``) and, for a send, the ``event``. Documents write rules as
expressions of the safe language (frontends/document_authorize.py compiles them into such functions);
trusted Python configs may give callables.

Rules decide for callers that are not admin, and for the instances of uploaded machines when they send to
or invoke other machines (``caller.kind`` ``instance``: runtime/callers.py). An operation the policy has no rule for is refused
(``rule.missing``): a machine that declares rules allows only what they allow. A rule that raises, or
gives anything but True or False, refuses too (``rule.failed``), never allows. The runtime decides send,
create and control inside the write transaction, against the state the event meets (a queued event's
when it is taken from the inbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from interlock.auth.principal import Principal
from interlock.core.datamodel import Budget
from interlock.core.events import Event
from interlock.errors import ForbiddenError

__all__ = ["OPERATIONS", "Access", "Policy", "Refusal", "Rule", "caller_of"]

log = logging.getLogger("interlock.auth")
# what a policy has rules for; "control" is pause, resume and cancel (``access.operation`` says which)
OPERATIONS = ("create", "read", "send", "control")
CONTROL = ("pause", "resume", "cancel")
MAX_CLAIM_DEPTH = 8  # a token's claims nested deeper are not given to rules (docs/limits.md)


@dataclass(frozen=True, slots=True)
class Access:
    """What a rule decides from. ``state`` holds the active leaf states and ``configuration`` every active
    state (``In()`` asks it); for ``create``, the instance as its start would leave it. A rule allows by
    returning True; False refuses, and anything else (None, a string, a number) refuses as a failure."""

    operation: str
    caller: Mapping[str, Any]
    name: str
    configuration: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)
    event: Event | None = None
    now: float = 0.0  # seconds since the epoch, the runtime's clock (``now()`` in an expression)
    # the expression work budget the rules of one request share (a listing asks the read rule of every
    # instance it reads): None, a whole budget for this rule alone
    work: Budget | None = field(default=None, compare=False, repr=False)

    @property
    def claims(self) -> Mapping[str, Any]:
        """The caller's verified token claims (``{"sub": ...}`` for an API key)."""
        claims: Mapping[str, Any] = self.caller.get("claims") or {"sub": self.caller.get("sub")}
        return claims

    def In(self, state_id: str) -> bool:  # the SCXML predicate's name, as in document expressions
        """Is the state active?"""
        return state_id.removeprefix("#") in self.configuration


Rule = Callable[[Access], Any]


class Refusal(NamedTuple):
    """Why a policy refused: ``reason`` (``rule.refused``, ``rule.missing``, ``rule.failed``), the
    ``message`` for the caller (names the rule, never the instance's state or data), and the ``detail``
    for the history and the logs (the state, and what a failing rule raised)."""

    reason: str
    message: str
    detail: str = ""

    def error(self) -> ForbiddenError:
        """The caller's error; the detail goes to the log (``interlock.auth``, INFO) only."""
        log.info("refused: %s (%s)", self.message, self.detail)
        return ForbiddenError(self.message, reason=self.reason)


@dataclass(frozen=True, slots=True)
class Policy:
    """A machine's rules: ``send`` maps event names, ``prefix.*`` and ``*`` (any other) to rules."""

    create: Rule | None = None
    read: Rule | None = None
    control: Rule | None = None
    send: Mapping[str, Rule] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # rule path -> its text, for messages

    def decide(self, access: Access, machine: str) -> Refusal | None:
        """None if ``access`` is allowed (its rule gave True, nothing else), else why not."""
        operation = access.operation
        if operation == "send":
            assert access.event is not None
            name = access.event.name
            key = self.send_key(name)
            path = f"send.{key or '*'}"
            rule = self.send.get(key) if key is not None else None
            what = f"send event {name!r} to"
        else:
            path = "control" if operation in CONTROL else operation
            rule = getattr(self, path)
            what = f"{operation}"
        who = f"{access.caller.get('sub')!r} may not {what} {machine}/{access.name}"
        state = f"in state {list(access.state)}" if access.state else "in no state yet"
        if rule is None:
            return Refusal("rule.missing", f"{who}: machine {machine!r} has authorize rules but none for "
                           f"this (authorize.{path}); only admins may", state)
        try:
            allowed = rule(access)
        except Exception as exc:  # a rule that cannot decide refuses
            return Refusal("rule.failed", f"{who}: the rule {self._named(path)} could not decide (it failed), "
                           "so the call is refused", f"{state}; {type(exc).__name__}: {exc}")
        if allowed is True:
            return None
        if allowed is False:
            return Refusal("rule.refused", f"{who}: the rule {self._named(path)} is false", state)
        return Refusal("rule.failed", f"{who}: the rule {self._named(path)} gave {type(allowed).__name__}, "
                       "not true or false, so the call is refused", state)

    def send_key(self, name: str) -> str | None:
        """The send rule an event meets: its own name, else the longest ``prefix.*`` that covers it
        (``payment.*`` covers ``payment.ok`` and ``payment.ok.late``), else ``*`` (None: no rule)."""
        if name in self.send:
            return name
        parts = name.split(".")
        for end in range(len(parts) - 1, 0, -1):
            key = ".".join(parts[:end]) + ".*"
            if key in self.send:
                return key
        return "*" if "*" in self.send else None

    def _named(self, path: str) -> str:
        source = self.sources.get(path)
        return f"authorize.{path} ({source})" if source else f"authorize.{path}"


def caller_of(principal: Principal | None) -> dict[str, Any] | None:
    """The caller as rules see it and as a queued event keeps it (plain JSON); None for admin callers and
    trusted code, which no machine rule restrains."""
    if principal is None or principal.admin:
        return None
    caller: dict[str, Any] = {"kind": principal.kind, "sub": principal.subject,
                              "scopes": sorted(principal.scopes)}
    if principal.claims:
        # kept with a queued event, so stored: a claim nested deeper than MAX_CLAIM_DEPTH is left out
        caller["claims"] = {k: v for k, v in principal.claims.items() if _depth(v) <= MAX_CLAIM_DEPTH}
    return caller


def _depth(value: Any, limit: int = MAX_CLAIM_DEPTH + 1) -> int:
    """How deeply ``value`` nests lists and mappings (counting stops past ``limit``)."""
    if limit <= 0 or not isinstance(value, list | dict):
        return 0
    children = value.values() if isinstance(value, dict) else value
    return 1 + max((_depth(v, limit - 1) for v in children), default=0)
