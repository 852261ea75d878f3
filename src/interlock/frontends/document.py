"""Machine documents (YAML/JSON, XState-style config) -> :class:`~interlock.core.chart.Chart`.

A document is a mapping in XState's shape::

    id: light
    initial: green
    context: {cycles: 0}
    states:
      green:  {on: {TIMER: yellow}}
      yellow: {after: {2s: red}}
      red:    {on: {TIMER: {target: green, actions: {assign: {cycles: "cycles + 1"}}}}}

:func:`load_document` checks all of it and raises one :class:`~interlock.errors.DefinitionError` listing
every problem with its path in the document and a hint. Warnings (unreachable states) are on
``chart.warnings``. The Python API (:mod:`interlock.frontends.python`) uses the same code path.

Conventions (see docs/definitions.md): ``after`` schedules a send with id and event
``xstate.after.<state id>.#<n>`` on entry and cancels it on exit; an invoke without ``id`` gets
``<state id>:invocation[<n>]``; its ``src`` names a service (InvokeSpec type ``service``) unless written
``machine:NAME`` (type ``scxml``, a registered machine); ``onDone`` of an invoke listens for
``done.invoke.<id>``, ``onError`` for ``error.invoke.<id>``; ``onDone`` of a state for
``done.state.<state id>``. These three match the exact event name, not its dotted descendants.
"""

from __future__ import annotations

import datetime
import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any

from interlock.core.chart import Chart, build_chart
from interlock.core.content import Actions, Cancel, Param, Send
from interlock.core.spec import (
    DOCUMENT_DATAMODEL,
    ChartSpec,
    DataSpec,
    InvokeSpec,
    StateSpec,
    TransitionSpec,
)
from interlock.errors import DefinitionError, Problem
from interlock.frontends.document_actions import ActionCompiler
from interlock.frontends.document_authorize import check_events, load_authorize
from interlock.frontends.document_limits import (
    MAX_GENERATED_CODE,
    MAX_STATES,
    MAX_TRANSITIONS,
    HintedIds,
    check_tree,
    too_many,
)
from interlock.frontends.document_transitions import Transitions, invoke_id
from interlock.frontends.document_tree import Node, Tree
from interlock.frontends.document_values import (
    Implementations,
    Values,
    callable_name,
    join,
    record,
    suggest,
)
from interlock.frontends.expressions import code_budget
from interlock.frontends.webhooks import load_webhooks

__all__ = ["Implementations", "load_document"]

STATE_KEYS = frozenset({
    "id", "type", "initial", "states", "on", "always", "after", "entry", "exit", "onEntry", "onExit",
    "invoke", "tags", "meta", "description", "output", "data", "history", "target", "onDone",
})
# keys XState configs carry that mean nothing here; accepted so an exported config loads as it is
IGNORED_ROOT_KEYS = frozenset({
    "predictableActionArguments", "preserveActionOrder", "schema", "schemas", "tsTypes", "types", "$schema",
    "strict",
})
ROOT_KEYS = STATE_KEYS | IGNORED_ROOT_KEYS | {"context", "version", "name", "delays", "webhooks", "authorize"}
INVOKE_KEYS = frozenset({"id", "src", "input", "data", "onDone", "onError", "autoForward", "type"})


def load_document(doc: Mapping[str, Any], *, guards: Mapping[str, Callable[..., Any]] | None = None,
                  actions: Mapping[str, Callable[..., Any]] | None = None,
                  services: Mapping[str, Any] | None = None, delays: Mapping[str, Any] | None = None,
                  defer_services: bool = False, source: str = "",
                  code_limit: int | None = MAX_GENERATED_CODE) -> Chart:
    """Check and compile a machine document; raises :class:`DefinitionError` listing every problem.

    ``code_limit``: the characters of Python its expressions may compile to (None: no limit, for a
    document accepted once already, as an upload the store kept before the limit was lowered or added)."""
    if not isinstance(doc, Mapping):
        raise DefinitionError([Problem("", f"a machine document must be a mapping, not {type(doc).__name__}",
                                       "start it with keys like id:, initial: and states:")], source)
    check_tree(doc, source)  # bounded nesting and size before anything walks it (docs/limits.md)
    impls = Implementations(guards or {}, actions or {}, services or {}, delays or {}, defer_services)
    # compiling is the cost that grows with distinct expressions; the budget also makes a repeated one
    # generated and compiled once, so a document loaded without a limit has it too, unbounded
    with code_budget(sys.maxsize if code_limit is None else code_limit, source):
        chart = _Loader(impls, source).load(doc)
    chart.provider = functools.partial(_provide, doc, impls, source, code_limit=code_limit)
    return chart


def _provide(doc: Mapping[str, Any], impls: Implementations, source: str, *, code_limit: int | None,
             guards: Mapping[str, Callable[..., Any]] | None = None,
             actions: Mapping[str, Callable[..., Any]] | None = None,
             services: Mapping[str, Any] | None = None, delays: Mapping[str, Any] | None = None) -> Chart:
    """The same document compiled again with more implementations (later ones win)."""
    return load_document(doc, guards={**impls.guards, **(guards or {})}, actions={**impls.actions, **(actions or {})},
                         services={**impls.services, **(services or {})}, delays={**impls.delays, **(delays or {})},
                         defer_services=impls.defer_services, source=source, code_limit=code_limit)


class _Loader:
    def __init__(self, impls: Implementations, source: str) -> None:
        self.impls = impls
        self.source = source
        self.problems: list[Problem] = []
        self.services: dict[str, Any] = dict(impls.services)  # plus inline callables found in invokes
        self.tree = Tree(self.problems, STATE_KEYS, ROOT_KEYS)

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def load(self, doc: Mapping[str, Any]) -> Chart:
        named_delays = doc.get("delays") or {}
        if not isinstance(named_delays, Mapping):
            self.error("delays", "'delays' must be a mapping of name: milliseconds, duration or expression")
            named_delays = {}
        self.values = Values(self.impls, self.problems, named_delays)
        self.actions = ActionCompiler(self.values)
        self.transitions = Transitions(self.tree, self.values, self.actions)
        if "id" in doc and not (isinstance(doc["id"], str) and doc["id"]):
            self.error("id", f"the machine id must be a non-empty string, not {doc['id']!r}", "write id: my_machine")
        root = self.tree.build(doc)
        if len(self.tree.nodes) > MAX_STATES:
            raise DefinitionError([too_many("states", len(self.tree.nodes), MAX_STATES, "states",
                                            "split the machine into machines that invoke each other")], self.source)
        self.values.states = HintedIds(self.tree.ids)
        spec = self._state(root)
        count = self.transitions.count
        if count > MAX_TRANSITIONS:
            raise DefinitionError([too_many("transitions", count, MAX_TRANSITIONS, "states",
                                            "split the machine into machines that invoke each other")], self.source)
        spec.data = self._context(doc.get("context"))
        webhooks = load_webhooks(doc.get("webhooks"), self.problems)
        policy = load_authorize(doc["authorize"], self.problems, self.values.states) if "authorize" in doc else None
        if self.problems:
            raise DefinitionError(self.problems, self.source)
        services = {k: v for k, v in self.services.items() if callable(v)}
        chart = build_chart(ChartSpec(root=spec, name=str(doc.get("name") or root.id),
                                     version=str(doc.get("version", "1")), source=self.source,
                                     services=services, datamodel=DOCUMENT_DATAMODEL, semantics="xstate",
                                     unprovided=tuple(self.values.missing)))
        problems = check_events(policy, chart)
        if problems:
            raise DefinitionError(problems, self.source)
        chart.webhooks = webhooks
        chart.policy = policy
        return chart

    def _context(self, context: Any) -> list[DataSpec]:
        if context is None:
            return []
        if not isinstance(context, Mapping):
            self.error("context", f"context must be a mapping of name: initial value, not {type(context).__name__}")
            return []
        for key, value in context.items():
            self._json_like(value, join("context", key))
        # interned: compiled expressions read the context with interned constant keys (C['total']); a key
        # from the YAML or JSON parser is an equal but different string, compared by content on every read
        return [DataSpec(id=sys.intern(str(k)), value=v, path=join("context", k)) for k, v in context.items()]

    def _json_like(self, value: Any, path: str) -> None:
        """Report YAML values that are not JSON (dates, timestamps, binary): snapshots could not be stored."""
        if isinstance(value, (datetime.date, bytes, bytearray)):
            self.error(path, f"a {type(value).__name__} is not a JSON value, so a snapshot could not be stored",
                       "quote it to keep it as text, as in t: '2001-12-14'")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self._json_like(item, join(path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._json_like(item, join(path, i))

    def _state(self, node: Node) -> StateSpec:
        config, path = node.config, node.path
        if node.parent is not None and "context" in config:
            self.error(join(path, "context"), "context belongs to the machine", "move it to the top level")
        spec = StateSpec(id=node.id, kind=node.kind, path=path)  # type: ignore[arg-type]
        if "\x00" in node.id and (node.parent is None or "\x00" not in node.parent.id):
            self.error(path, f"state id {node.id!r} holds the NUL character, which a store cannot keep in a "
                       "state's name (PostgreSQL text refuses it)", "remove it")
        spec.children = [self._state(child) for child in node.children.values()]
        self._initial(node, spec)
        spec.transitions = self.transitions.of_state(node)
        entry = self.actions.block(config.get("entry", config.get("onEntry")), join(path, "entry"))
        exit_ = self.actions.block(config.get("exit", config.get("onExit")), join(path, "exit"))
        timers, cancels = self._after_actions(node)
        spec.onentry = [block for block in (entry, timers) if block]
        spec.onexit = [block for block in (cancels, exit_) if block]
        spec.invokes = self._invokes(node)
        spec.tags = self._tags(config.get("tags"), join(path, "tags"))
        spec.description = self._description(config.get("description"), join(path, "description"))
        spec.meta = self._meta(config.get("meta"), join(path, "meta"))
        if node.kind == "history":
            self._history(node, spec)
        elif "history" in config or "target" in config:
            self.error(path, "'history' and 'target' belong to history states", "add type: history")
        if "output" in config or "data" in config:
            self._output(node, spec)
        return spec

    def _initial(self, node: Node, spec: StateSpec) -> None:
        initial = node.config.get("initial")
        where = join(node.path, "initial")
        if node.kind == "parallel":
            return  # XState accepts and ignores it: every region is entered
        if node.kind == "state" and node.children:
            if initial is None:
                first = next(iter(node.children))
                self.error(node.path or "(root)", "a state with child states needs 'initial'",
                           f"add initial: {first}")
                return
            target = self.tree.resolve_initial(node, initial, where)
            spec.initial = [target] if target else None
        elif initial is not None:
            self.error(where, f"only a compound state takes 'initial' (this one is {node.kind})",
                       "remove initial:" if node.kind != "state" else "add child states: or remove initial:")

    def _after_actions(self, node: Node) -> tuple[Actions, Actions]:
        timers, cancels = [], []
        for sendid, delay_ms, delayexpr in self.transitions.timers(node):
            timers.append(Send(event=sendid, id=sendid, delay_ms=delay_ms, delayexpr=delayexpr))
            cancels.append(Cancel(sendid=sendid))
        return tuple(timers), tuple(cancels)

    def _invokes(self, node: Node) -> list[InvokeSpec]:
        value = node.config.get("invoke")
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        out = []
        for i, item in enumerate(items):
            path = join(join(node.path, "invoke"), i) if isinstance(value, list) else join(node.path, "invoke")
            if not isinstance(item, Mapping):
                self.error(path, "an invoke must be a mapping with 'src'")
                continue
            out.append(self._invoke(node, item, path, i))
        return out

    def _invoke(self, node: Node, config: Mapping[str, Any], path: str, index: int) -> InvokeSpec:
        for key in config:
            if key not in INVOKE_KEYS:
                self.error(join(path, key), f"unknown key {key!r} in an invoke", suggest(str(key), sorted(INVOKE_KEYS), "keys", self.problems))
        invokeid = invoke_id(node, config, index)
        src = self._src(config.get("src"), invokeid, join(path, "src"))
        # "machine:NAME" starts a registered machine as a child; any other src names a service
        kind = "scxml" if src is not None and src.startswith("machine:") else "service"
        spec = InvokeSpec(type=str(config.get("type") or kind), src=src.removeprefix("machine:") if src else None,
                          id=invokeid, autoforward=bool(config.get("autoForward", False)), path=path)
        payload = config.get("input", config.get("data"))
        if payload is not None:
            pairs = self.values.mapping(payload, join(path, "input"), "input", leaving=True)
            spec.params = tuple(Param(name, expr) for name, expr in pairs)
        return spec

    def _src(self, src: Any, invokeid: str, path: str) -> str | None:
        if isinstance(src, Mapping):  # XState v4: {type: name, ...}
            src = src.get("type")
        if callable(src):
            name = callable_name(src)
            name = invokeid if name == "(inline)" else name
            self.services[name] = src
            return name
        if not isinstance(src, str) or not src:
            self.error(path, "an invoke needs 'src': the name of a service, or machine:NAME for a machine")
            return None
        if src.startswith("machine:") or self.impls.defer_services or src in self.services:
            return src
        self.error(path, f"unknown service {src!r}", suggest(src, list(self.services), "services", self.problems) +
                   "; pass it in services=, or load with defer_services=True if a runtime provides it")
        return src

    def _history(self, node: Node, spec: StateSpec) -> None:
        depth = node.config.get("history", "shallow")
        if depth is True:
            depth = "shallow"
        if depth not in ("shallow", "deep"):
            self.error(join(node.path, "history"), f"history must be 'shallow' or 'deep', not {depth!r}")
            return
        spec.history = depth
        if node.config.get("target") is not None:
            where = join(node.path, "target")
            targets = [self.tree.resolve(node, t, where) for t in _as_list(node.config["target"])]
            spec.transitions = [TransitionSpec(targets=[t for t in targets if t], path=where)]

    def _output(self, node: Node, spec: StateSpec) -> None:
        key = "output" if "output" in node.config else "data"
        where = join(node.path, key)
        if node.kind != "final" and node.parent is not None:
            self.error(where, f"only final states and the machine have '{key}'", "add type: final, or remove it")
            return
        value = node.config[key]
        if isinstance(value, Mapping):
            pairs = self.values.mapping(value, where, "output", leaving=True)
            spec.donedata = record(pairs)
        else:
            spec.donedata = self.values.value(value, where, leaving=True)

    def _description(self, value: Any, path: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        self.error(path, f"description must be a string, not {type(value).__name__}", "write description: 'text'")
        return None

    def _meta(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"meta must be a mapping, not {type(value).__name__}", "write meta: {key: value}")
            return {}
        return dict(value)

    def _tags(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        items = _as_list(value)
        if not all(isinstance(t, str) for t in items):
            self.error(path, "tags must be strings")
            return ()
        if any("\x00" in t for t in items):
            self.error(path, "a tag holds the NUL character, which a store cannot keep in a tag (PostgreSQL "
                       "text refuses it)", "remove it")
            return ()
        return tuple(items)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
