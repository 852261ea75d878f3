"""The ``authorize:`` section of a machine document: who may create, read, control and send which event to
its instances, in which state (docs/auth.md, "Machine rules")::

    authorize:
      create: "claims.role == 'clerk'"
      read: "owner == claims.sub or claims.role == 'support'"
      control: false                       # pause, resume, cancel: admins only
      send:
        SUBMIT: "owner == claims.sub and In('draft')"
        APPROVE: "claims.role == 'manager' and owner != claims.sub"
        "payment.*": "claims.get('role') == 'billing'"   # payment.ok, payment.failed.late, ...
        "*": "owner == claims.sub"         # any other event

Each rule is an expression of the safe language, ``true`` or ``false`` (in a trusted Python config also a
callable ``fn(access) -> bool`` over :class:`~interlock.auth.policy.Access`). An expression reads the
instance's context as guards do (``owner`` or ``context.owner``), ``event`` (for sends), ``In('state')``
and the names in :data:`NAMES`. ``send`` may be one rule for every event. An operation without a rule is
refused to every caller but admins; rules never restrain admins or trusted code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from interlock.auth.policy import OPERATIONS, Access, Policy, Rule
from interlock.core.chart import Chart
from interlock.core.datamodel import Expr, Scope, evaluate_on
from interlock.errors import Problem
from interlock.frontends.document_values import join, suggest
from interlock.frontends.expressions import ExpressionError, compile_expression

__all__ = ["MAX_SEND_RULES", "NAMES", "check_events", "load_authorize"]

# the names a rule reads besides the context, event and In(): who calls, which instance, its state
NAMES = ("claims", "caller", "name", "state", "operation")
MAX_SEND_RULES = 256


class RuleScope(Scope):
    """The scope an authorize expression runs in: the instance's context, the event, ``In()`` over the
    active states, and :data:`NAMES` in ``values``. An evaluation has its own work budget, or the one its
    request shares among all the rules it asks (``Access.work``: a listing asks one per instance)."""

    __slots__ = ("values",)

    def __init__(self, access: Access) -> None:
        active = {state: state for state in access.configuration}
        super().__init__(access.context if isinstance(access.context, dict) else dict(access.context),
                         active, active, "", "authorize", access.now)
        self.event = access.event
        self.values = {"claims": access.claims, "caller": access.caller, "name": access.name,
                       "state": list(access.state), "operation": access.operation}


def load_authorize(section: Any, problems: list[Problem], states: Collection[str]) -> Policy | None:
    """The ``authorize:`` mapping (the document has the key) compiled into a :class:`Policy`; each problem,
    with its path, is added to ``problems``. An empty section (or every rule commented out: null) is one."""
    if not isinstance(section, Mapping) or not section:
        problems.append(Problem("authorize", "authorize must be a mapping of operation: rule (an empty one "
                                "would grant nothing and be mistaken for no rules)",
                                "write authorize: {read: true, send: {SUBMIT: \"owner == claims.sub\"}}, or "
                                "leave the section out for no rules"))
        return None
    sources: dict[str, str] = {}
    rules: dict[str, Rule | None] = {}
    for key, value in section.items():
        path = join("authorize", key)
        if key not in OPERATIONS:
            problems.append(Problem(path, f"unknown operation {key!r} in authorize",
                                    suggest(str(key), list(OPERATIONS), "operations")))
            continue
        if key == "send":
            continue
        rules[key] = _rule(value, path, problems, states, sources)
    send: dict[str, Rule] = {}
    value = section.get("send")
    if isinstance(value, Mapping):
        if len(value) > MAX_SEND_RULES:
            problems.append(Problem("authorize.send", f"{len(value)} send rules; the limit is {MAX_SEND_RULES}",
                                    "give events that share a rule one '*' rule"))
            return None
        for event, rule_value in value.items():
            path = join("authorize.send", event)
            if not isinstance(event, str) or not event:
                problems.append(Problem(path, f"a send rule is keyed by an event name or '*', not {event!r}"))
                continue
            rule = _rule(rule_value, path, problems, states, sources)
            if rule is not None:
                send[event] = rule
    elif value is not None:
        rule = _rule(value, "authorize.send", problems, states, sources)
        if rule is not None:
            send["*"] = rule
            sources["send.*"] = sources.pop("send", "")
    return Policy(create=rules.get("create"), read=rules.get("read"), control=rules.get("control"),
                  send=send, sources={k: v for k, v in sources.items() if v})


def check_events(policy: Policy | None, chart: Chart) -> list[Problem]:
    """A send rule for an event that no transition of ``chart`` takes is a typo (the event meant falls
    to the ``*`` rule, or is refused): each is a problem, with the events the chart does take."""
    if policy is None:
        return []
    descriptors = {name for t in chart.transitions for name in t.events}
    taken = sorted(descriptors)
    problems = []
    for event in policy.send:
        if event == "*" or _taken(event.removesuffix(".*"), descriptors, prefix=event.endswith(".*")):
            continue
        problems.append(Problem(join("authorize.send", event), f"no transition takes event {event!r}",
                                suggest(event, taken, "events")))
    return problems


def _taken(event: str, descriptors: set[str], *, prefix: bool = False) -> bool:
    """Does a transition's event descriptor (``a.b`` matches ``a.b.c``; ``*`` matches all) take ``event``
    (with ``prefix``: some event under it)?"""
    if event in descriptors or "*" in descriptors or event + ".*" in descriptors:
        return True
    if prefix and any(d.startswith(event + ".") for d in descriptors):
        return True
    parts = event.split(".")
    return any(".".join(parts[:i]) in descriptors or ".".join(parts[:i]) + ".*" in descriptors
               for i in range(1, len(parts)))


def _rule(value: Any, path: str, problems: list[Problem], states: Collection[str],
          sources: dict[str, str]) -> Rule | None:
    key = path.removeprefix("authorize.")
    if callable(value):  # a trusted Python config's own function
        sources[key] = getattr(value, "__qualname__", "") or "<callable>"
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        sources[key] = str(value).lower()
        return (lambda access: True) if value else (lambda access: False)
    if isinstance(value, str):
        try:
            expr = compile_expression(value, states=states, names=NAMES)
        except ExpressionError as exc:
            problems.append(Problem(path, exc.message, exc.hint))
            return None
        sources[key] = value
        return _evaluate(expr)
    problems.append(Problem(path, f"a rule is an expression, true or false, not {type(value).__name__}",
                            "as in \"owner == claims.sub and In('draft')\""))
    return None


def _evaluate(expr: Expr) -> Rule:
    def rule(access: Access) -> Any:
        return evaluate_on(expr, RuleScope(access), access.work)

    return rule
