"""Values in a machine document: expressions, literals, Python callables, guards and delays.

One rule for every place a document holds a value (assignments, event payloads, invoke input, output):
a string is an expression in the safe language, anything else is a literal, and a Python callable (from
the Python API) is called as ``fn(context, event)``. Write a literal string as an expression: ``"'hi'"``.
XState's own action objects (``xstate.assign``, ``xstate.send``...) are the exception: their values are
literals, because that is what they mean in an XState export.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock.core.content import Update
from interlock.core.datamodel import Expr, Scope
from interlock.core.execute import parse_delay
from interlock.errors import Problem
from interlock.frontends.document_limits import MAX_HINTED_PROBLEMS
from interlock.frontends.document_stored import charged_leaving, merged_check, storing
from interlock.frontends.expressions import (
    ExpressionError,
    compile_expression,
    compile_fused,
    compile_record,
    constant,
)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Implementations:
    """What a document refers to by name: guards, actions and delays in Python, and invokable services.

    ``defer_services`` says invoke sources are resolved later (by a runtime's registry), so an unknown
    ``src`` is not a problem at load time.
    """

    guards: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    actions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    services: Mapping[str, Any] = field(default_factory=dict)
    delays: Mapping[str, Any] = field(default_factory=dict)
    defer_services: bool = False


def join(path: str, key: object) -> str:
    """``states.a`` + ``on`` -> ``states.a.on``; an int key becomes an index: ``on.GO[1]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def suggest(name: str, known: list[str], what: str, problems: list[Problem] | None = None) -> str:
    """A did-you-mean hint; a plain one once ``problems`` holds MAX_HINTED_PROBLEMS (each search compares
    ``name`` with every known name: many problems would make loading slow)."""
    if problems is not None and len(problems) >= MAX_HINTED_PROBLEMS:
        return f"see the known {what}"
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    if known:
        return f"known {what}: " + ", ".join(repr(k) for k in sorted(known)[:12])
    return f"no {what} are defined"


def call_with_context(fn: Callable[..., Any], name: str) -> Expr:
    """An :class:`Expr` calling a trusted Python callable as ``fn(context, event)``, with no other overhead."""
    def call(scope: Scope) -> Any:
        return fn(scope.context, scope.event)

    return Expr(name, call, fn)


def callable_name(fn: Callable[..., Any]) -> str:
    name = getattr(fn, "__name__", "") or type(fn).__name__
    return "(inline)" if name == "<lambda>" else name


class Values:
    """Compiles document values, collecting every problem instead of stopping at the first."""

    def __init__(self, impls: Implementations, problems: list[Problem],
                 named_delays: Mapping[str, Any] | None = None) -> None:
        self.impls = impls
        self.problems = problems
        self.missing: list[Problem] = []  # named guards and actions without implementations (for provide)
        self.delays = {**(named_delays or {}), **impls.delays}
        self.states: Collection[str] | None = None  # the state ids, once known: In() is checked against them
        # guards compiled from an expression and assignments compiled as one record, by id: what fused() needs
        # to compile the two together (the Expr is kept with it, so its id is not reused)
        self.guards: dict[int, tuple[Expr, str]] = {}
        self.records: dict[int, tuple[Expr, list[tuple[str, str]], Callable[[dict[str, Any], Scope], Any]]] = {}

    def unprovided(self, path: str, kind: str, name: str, hint: str) -> Callable[..., Any]:
        """A named guard or action without an implementation yet (XState's ``provide`` supplies it later).

        The chart loads; ``start`` refuses it until ``provide`` gives every such name a function.
        """
        self.missing.append(Problem(path, f"unknown {kind} {name!r}", hint, severity="warning"))

        def not_provided(*args: Any, **kwargs: Any) -> Any:
            raise LookupError(f"{kind} {name!r} has no implementation")  # start() refuses such charts first

        return not_provided

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def expression(self, source: str, path: str) -> Expr | None:
        try:
            return compile_expression(source, states=self.states)
        except ExpressionError as exc:
            self.error(path, f"bad expression {source!r}: {exc.message}", exc.hint)
            return None

    def value(self, value: Any, path: str, *, literal: bool = False, leaving: bool = False) -> Expr | None:
        """An expression string, a Python callable, or a literal (every value if ``literal``).

        ``leaving``: the value leaves the step (sent event data, invoke input, output, a log), so an
        expression's result is charged to the step's budget by its size written out (:func:`leaving`).
        """
        if callable(value):
            return call_with_context(value, callable_name(value))
        if isinstance(value, str) and not literal:
            expr = self.expression(value, path)
            return charged_leaving(expr) if leaving and expr is not None else expr
        return constant(value)

    def assignment(self, value: Any, pairs: list[tuple[str, Expr]], *, literal: bool = False) -> Expr:
        """``{name: value}`` to merge into the context, each stored value checked (document_stored.py).

        When every value of ``value`` (already compiled into ``pairs`` without problems) is an expression,
        it is one compiled function that checks its plain values inline.
        """
        items = [(str(k), v) for k, v in value.items()] if isinstance(value, Mapping) else []
        if not literal and len(items) == len(pairs) and all(type(v) is str for _, v in items):
            source = "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
            check = merged_check(source)
            expr = compile_record(items, states=self.states, check=check)
            self.records[id(expr)] = (expr, items, check)
            return expr
        return storing(record(pairs), merged=True)

    def fused(self, cond: Expr | None, update: Any) -> tuple[Expr, Update] | None:
        """A guard expression and an assignment (``update``, a transition's only action) compiled into one
        function (:func:`compile_fused`), when both are the compiled forms made here; else None. The caller
        makes sure the transition is targetless (see :class:`~interlock.core.content.Update` ``ready``)."""
        guard = self.guards.get(id(cond)) if cond is not None else None
        if guard is None or guard[0] is not cond or type(update) is not Update:
            return None
        record = self.records.get(id(update.expr))
        if record is None or record[0] is not update.expr:
            return None
        expr, items, check = record
        fused = compile_fused(guard[0], expr, items, states=self.states, check=check)
        return (fused, Update(expr, ready=True)) if fused is not None else None

    def mapping(self, value: Any, path: str, what: str, *, literal: bool = False,
                leaving: bool = False) -> list[tuple[str, Expr]]:
        """``{name: value}`` with every value compiled; a problem if it is not a mapping."""
        if not isinstance(value, Mapping):
            self.error(path, f"{what} must be a mapping of name: value, not {type(value).__name__}")
            return []
        out = []
        for key, item in value.items():
            expr = self.value(item, join(path, key), literal=literal, leaving=leaving)
            if expr is not None:
                out.append((str(key), expr))
        return out

    # --- guards ---

    def guard(self, value: Any, path: str) -> Expr | None:
        """A named guard, an expression, a callable, or ``{type, params}`` / ``{and|or: [...]}`` / ``{not: g}``."""
        if callable(value):
            return call_with_context(value, callable_name(value))
        if isinstance(value, str):
            if value in self.impls.guards:
                return call_with_context(self.impls.guards[value], value)
            if IDENTIFIER.match(value):
                fn = self.unprovided(path, "guard", value,
                                     suggest(value, list(self.impls.guards), "guards", self.problems) +
                                     f"; provide it (guards=), or to test a context value write 'context.{value}'")
                return call_with_context(fn, value)
            expr = self.expression(value, path)
            if expr is not None:
                self.guards[id(expr)] = (expr, value)
            return expr
        if isinstance(value, Mapping):
            return self._guard_object(value, path)
        self.error(path, f"a guard must be a name, an expression or an object, not {type(value).__name__}")
        return None

    def _guard_object(self, value: Mapping[str, Any], path: str) -> Expr | None:
        for combinator in ("and", "or"):
            if combinator in value:
                parts = value[combinator]
                if not isinstance(parts, list) or not parts:
                    self.error(join(path, combinator), f"'{combinator}' takes a non-empty list of guards")
                    return None
                guards = [self.guard(g, join(join(path, combinator), i)) for i, g in enumerate(parts)]
                if any(g is None for g in guards):
                    return None
                return _combine(combinator, [g for g in guards if g is not None])
        if "not" in value:
            inner = self.guard(value["not"], join(path, "not"))
            return Expr(f"not {inner.source}", lambda scope: not inner(scope)) if inner else None
        name = value.get("type")
        if not isinstance(name, str):
            self.error(path, "a guard object needs 'type' (a guard name), or 'and', 'or' or 'not'")
            return None
        fn = self.impls.guards.get(name)
        if fn is None:
            fn = self.unprovided(join(path, "type"), "guard", name,
                                 suggest(name, list(self.impls.guards), "guards", self.problems)
                                 + "; provide it (guards=)")
        params = dict(value.get("params") or {})
        return Expr(name, lambda scope: fn(scope.context, scope.event, **params))

    # --- delays ---

    def delay(self, value: Any, path: str) -> tuple[int | None, Expr | None]:
        """``(delay_ms, None)`` for a fixed delay, ``(None, expr)`` for a computed one."""
        if isinstance(value, str) and value in self.delays:
            return self.delay(self.delays[value], path)
        if callable(value):
            return None, call_with_context(value, callable_name(value))
        try:
            return parse_delay(value), None
        except ValueError:
            pass
        if isinstance(value, str) and not IDENTIFIER.match(value):
            return None, self.expression(value, path)
        self.error(path, f"invalid delay {value!r}",
                   "use milliseconds (1000), a duration ('2s', '150ms', '1m'), or a named delay (" +
                   suggest(str(value), list(self.delays), "delays", self.problems) + ")")
        return None, None


def _combine(kind: str, guards: list[Expr]) -> Expr:
    source = f" {kind} ".join(f"({g.source})" for g in guards)
    if kind == "and":
        return Expr(source, lambda scope: all(g(scope) for g in guards))
    return Expr(source, lambda scope: any(g(scope) for g in guards))


def record(pairs: list[tuple[str, Expr]]) -> Expr:
    """An :class:`Expr` building ``{name: value}`` from compiled values, all read from the same context."""
    source = "{" + ", ".join(f"{k}: {e.source}" for k, e in pairs) + "}"
    fns = [(k, e.fn) for k, e in pairs]
    return Expr(source, lambda scope: {k: fn(scope) for k, fn in fns})
