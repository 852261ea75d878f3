"""What expressions see while a step runs, and the compiled forms front ends give them.

Front ends compile every expression, location and script into an :class:`Expr` or :class:`Location`
once, at load time. The engine only calls them with a :class:`Scope`; it never parses or evaluates source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from interlock.core.events import Event

STEP_WORK_LIMIT = 1_000_000  # work units all expressions of one step may spend (docs/limits.md)
# the budget a step starts with, as a float: charging a float takes its result from CPython's free list,
# where charging an int allocates a new int each time (counts of units stay exact: they are far below 2**53)
WORK_UNITS = float(STEP_WORK_LIMIT)


class WorkLimitError(Exception):
    """The expressions of one step spent their whole :class:`Budget`; the step is aborted."""


class Budget:
    """The expression work one step may still do. Every evaluation in the step charges the same budget,
    so a loop of eventless transitions cannot multiply a per-evaluation limit (front ends charge it)."""

    __slots__ = ("left",)

    def __init__(self, units: int = STEP_WORK_LIMIT) -> None:
        self.left = float(units)

    def charge(self, units: float) -> None:
        try:
            self.left -= units
        except OverflowError:  # an int past a float's range (a width of 2**8000, say): more than any budget
            self.left = -math.inf
        if self.left < 0:
            raise WorkLimitError(f"the expressions of this step did too much work (over {STEP_WORK_LIMIT:,} "
                                 "units); simplify them or move the computation into a Python action")


def evaluate_on(expr: Callable[[Scope], Any], scope: Scope, work: Budget | None) -> Any:
    """``expr`` over ``scope``, charged to ``work`` when given: the budget several evaluations share (the
    rules one listing asks, the expressions of one webhook request), which the scope (itself a budget)
    takes over for the evaluation and hands back what is left. None: the scope's own whole budget."""
    if work is None:
        return expr(scope)
    scope.left = work.left
    try:
        return expr(scope)
    finally:
        work.left = scope.left


class Scope(Budget):
    """The datamodel view for one step: context, ``_event``, ``In()``, session variables and time.

    ``context`` is copied before its first change in a step, so the snapshot a step started from is never
    mutated (copy on write). ``live`` is the set of active state nodes, kept current by the step.
    A scope is also the step's work :class:`Budget` (one scope per step, so one budget per step): compiled
    expressions charge the scope itself, and no separate object is made per step.
    """

    __slots__ = ("_live", "_states", "context", "copied", "event", "name", "now", "sessionid")
    # a scope is no step's light path (a Run's own ``light`` slot says when it is): what a fused guard reads
    light: bool = False

    def __init__(self, context: dict[str, Any], live: Container[Any], states: Mapping[str, Any],
                 sessionid: str, name: str, now: float, copied: bool = False) -> None:
        self.context = context
        self._live = live
        self._states = states
        self.copied = copied
        self.event: Event | None = None
        self.sessionid = sessionid
        self.name = name
        self.now = now
        self.left = WORK_UNITS

    def In(self, state_id: str) -> bool:  # the SCXML predicate keeps its spec name
        """SCXML ``In(stateID)``: is the state active?"""
        return self._states.get(state_id) in self._live

    @property
    def ioprocessors(self) -> dict[str, Any]:
        """SCXML ``_ioprocessors``: how other sessions can reach this one."""
        location = {"location": f"#_scxml_{self.sessionid}"}
        out = {"scxml": location, "http://www.w3.org/TR/scxml/#SCXMLEventProcessor": dict(location)}
        prefix = self.basichttp_prefix()
        if prefix is not None:
            http = {"location": prefix + quote(self.sessionid, safe="/")}
            out["basichttp"] = http
            out["http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"] = dict(http)
        return out

    def basichttp_prefix(self) -> str | None:
        """Where this session receives Basic HTTP events (SCXML C.2), before its quoted session id; None
        when no HTTP server serves it (core/reach.py). A plain scope has none; a step's run knows."""
        return None

    def writable(self) -> dict[str, Any]:
        """The context, copied first if this step has not written to it yet."""
        if not self.copied:
            self.context = dict(self.context)
            self.copied = True
        return self.context


@dataclass(frozen=True, slots=True)
class Expr:
    """A compiled expression: ``fn(scope)`` gives its value. ``source`` is kept for messages and diagrams.

    ``direct``, when given, is a trusted Python callable that ``fn`` only calls as
    ``direct(scope.context, scope.event)``: the step's guard loop calls it itself, one call less."""

    source: str
    fn: Callable[[Scope], Any]
    direct: Callable[[dict[str, Any], Event | None], Any] | None = None

    def __call__(self, scope: Scope) -> Any:
        return self.fn(scope)

    def __repr__(self) -> str:
        return f"Expr({self.source!r})"


@dataclass(frozen=True, slots=True)
class Location:
    """A compiled assignment target: ``fn(scope, value)`` stores ``value`` there or raises."""

    source: str
    fn: Callable[[Scope, Any], None]

    def __call__(self, scope: Scope, value: Any) -> None:
        self.fn(scope, value)

    def __repr__(self) -> str:
        return f"Location({self.source!r})"


def key_location(path: str) -> Location:
    """A location that is a dotted key path into the context (``order.total``), as documents use."""
    keys = path.split(".")

    def assign(scope: Scope, value: Any) -> None:
        ctx = scope.writable()
        if len(keys) == 1:
            ctx[keys[0]] = value
            return
        head = ctx.get(keys[0])
        if not isinstance(head, dict):
            raise KeyError(f"cannot assign {path!r}: {keys[0]!r} is not an object")
        scope.charge(len(head))  # copying the path costs its size: charged like expression work
        node = ctx[keys[0]] = dict(head)
        for key in keys[1:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                raise KeyError(f"cannot assign {path!r}: {key!r} is not an object")
            scope.charge(len(child))
            node[key] = node = dict(child)
        node[keys[-1]] = value

    return Location(path, assign)
