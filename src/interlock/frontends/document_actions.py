"""Actions in a machine document (entry, exit, transition ``actions``) -> executable content.

Forms accepted, each alone or in a list::

    "notify"                                   a named action (Python implementation)
    {type: notify, params: {to: ops}}          the same with static params: fn(context, event, **params)
    {assign: {total: "total + event.amount"}}  also {type: assign, assignment: {...}}; a string expression
                                               evaluating to a mapping is merged into the context
    {raise: DONE}                              also {raise: {type: DONE, ...payload}}
    {send: {event: PING, to: child, delay: 2s, id: ping}}   also sendTo; {sendParent: EVENT}
    {cancel: ping}
    {log: "'total is ' + str(total)"}           also {type: log, label: x, expr: ...}
    {if: "total > 10", then: [...], else: [...]}

XState exports (``xstate.assign``, ``xstate.raise``, ``xstate.send``, ``xstate.cancel``, ``xstate.log``)
load as they are; their values are literals. Send targets: ``parent`` or ``#_parent`` is the parent,
a bare name is an invoked child (``#_<name>``); ``#_...`` and ``scheme:...`` addresses pass through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from interlock.core.content import (
    Action,
    Actions,
    Assign,
    Cancel,
    Custom,
    If,
    Log,
    Param,
    Raise,
    Send,
    Update,
)
from interlock.core.datamodel import key_location
from interlock.frontends.document_stored import storing
from interlock.frontends.document_values import Values, callable_name, join, suggest

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SHORTHAND = ("assign", "raise", "send", "sendTo", "sendParent", "cancel", "log", "if")
_ALIASES = {"xstate.assign": "assign", "xstate.raise": "raise", "xstate.send": "send",
            "xstate.sendTo": "send", "sendTo": "send", "xstate.cancel": "cancel", "xstate.log": "log"}
_KEYS = {
    "assign": {"type", "assignment", "assign"},
    "raise": {"type", "event", "raise", "delay", "id"},
    "send": {"type", "event", "to", "delay", "id", "data", "send", "sendTo", "sendParent"},
    "cancel": {"type", "sendId", "id", "cancel"},
    "log": {"type", "label", "expr", "log", "message"},
    "if": {"if", "then", "else"},
}


class ActionCompiler:
    """Compiles document actions against the implementations, reporting problems into ``values``."""

    def __init__(self, values: Values) -> None:
        self.values = values
        self.impls = values.impls

    def block(self, value: Any, path: str) -> Actions:
        """One action or a list of them -> a tuple of actions (problems reported, bad ones left out)."""
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        out: list[Action] = []
        for i, item in enumerate(items):
            action = self.action(item, join(path, i) if isinstance(value, list) else path)
            if isinstance(action, tuple):
                out.extend(action)
            elif action is not None:
                out.append(action)
        return tuple(out)

    def action(self, value: Any, path: str) -> Action | Actions | None:
        if callable(value):
            return Custom(callable_name(value), value)
        if isinstance(value, str):
            return self._named(value, {}, path)
        if not isinstance(value, Mapping):
            self.values.error(path, f"an action must be a name or an object, not {type(value).__name__}")
            return None
        kind = value.get("type")
        literal = isinstance(kind, str) and kind.startswith("xstate.")
        if kind is None:
            kind = next((k for k in _SHORTHAND if k in value), None)
            if kind is None:
                self.values.error(path, "an action object needs 'type' or one of: " + ", ".join(_SHORTHAND))
                return None
        if not isinstance(kind, str):
            self.values.error(join(path, "type"), "an action type must be a string")
            return None
        kind = "send" if kind == "sendParent" else _ALIASES.get(kind, kind)
        if kind not in _KEYS:
            return self._named(kind, value.get("params") or {}, path, value)
        if kind == "send":
            value = _flatten_send(value)
        unknown = set(value) - _KEYS[kind]
        for key in sorted(unknown):
            self.values.error(join(path, key), f"unknown key {key!r} in a {kind} action",
                              suggest(key, sorted(_KEYS[kind] - {"type"}), "keys", self.values.problems))
        handler: Callable[[Mapping[str, Any], str, bool], Action | Actions | None] = getattr(self, f"_{kind}")
        return handler(value, path, literal)

    def _named(self, name: str, params: Any, path: str, value: Mapping[str, Any] | None = None) -> Action | None:
        fn = self.impls.actions.get(name)
        if fn is None:
            fn = self.values.unprovided(path, "action", name,
                                        suggest(name, list(self.impls.actions), "actions", self.values.problems)
                                        + "; implement it in Python and provide it (actions=)")
        if value is not None:
            for key in sorted(set(value) - {"type", "params"}):
                self.values.error(join(path, key), f"unknown key {key!r} in action {name!r}",
                                  "a named action takes only 'type' and 'params'")
        if not isinstance(params, Mapping):
            self.values.error(join(path, "params"), "params must be a mapping")
            return None
        return Custom(name, fn, dict(params))

    def _assign(self, value: Mapping[str, Any], path: str, literal: bool) -> Action | Actions | None:
        key = "assign" if "assign" in value else "assignment"
        body, where = value.get(key), join(path, key)
        if callable(body) or isinstance(body, str):
            expr = self.values.value(body, where)  # a function or expression giving a mapping to merge
            return Update(storing(expr, merged=True)) if expr is not None else None
        pairs = tuple(self.values.mapping(body, where, "an assignment", literal=literal))
        if any("." in name for name, _ in pairs):
            # dotted keys write into nested objects, one after the other
            return tuple(Assign(key_location(name), storing(expr)) for name, expr in pairs)
        # every value is computed from the context as it was before this action, as in XState
        return Update(self.values.assignment(body, list(pairs), literal=literal)) if pairs else None

    def _raise(self, value: Mapping[str, Any], path: str, literal: bool) -> Action | None:
        event = value.get("raise", value.get("event"))
        if isinstance(event, str) and "delay" not in value and "id" not in value:
            return Raise(event)
        send = dict(value, to="#_internal", event=event)
        send.pop("raise", None)
        return self._send(send, path, literal)

    def _send(self, value: Mapping[str, Any], path: str, literal: bool) -> Action | None:
        to = value.get("to")
        name, params = self._event(value.get("event"), join(path, "event"), literal)
        if name is None:
            return None
        delay_ms, delayexpr = (None, None)
        if value.get("delay") is not None:
            delay_ms, delayexpr = self.values.delay(value["delay"], join(path, "delay"))
        content = (self.values.value(value["data"], join(path, "data"), literal=literal, leaving=True)
                   if "data" in value else None)
        sendid = value.get("id")
        return Send(event=name, target=_target(to), id=str(sendid) if sendid is not None else None,
                    delay_ms=delay_ms, delayexpr=delayexpr, params=params, content=content)

    def _event(self, event: Any, path: str, literal: bool) -> tuple[str | None, tuple[Param, ...]]:
        if isinstance(event, str) and event:
            return event, ()
        if isinstance(event, Mapping) and isinstance(event.get("type"), str):
            payload = {k: v for k, v in event.items() if k != "type"}
            pairs = self.values.mapping(payload, path, "an event payload", literal=literal, leaving=True)
            return event["type"], tuple(Param(name, expr) for name, expr in pairs)
        self.values.error(path, "an event must be a name or an object with 'type'",
                          "write event: NAME or event: {type: NAME, amount: 'total'}")
        return None, ()

    def _cancel(self, value: Mapping[str, Any], path: str, literal: bool) -> Action | None:
        sendid = next((value[k] for k in ("cancel", "sendId", "id") if k in value), None)
        if not isinstance(sendid, str) or not sendid:
            self.values.error(path, "cancel needs the id of a send", "write {cancel: my-send-id}")
            return None
        return Cancel(sendid=sendid)

    def _log(self, value: Mapping[str, Any], path: str, literal: bool) -> Action | None:
        source = next((value[k] for k in ("log", "expr", "message") if k in value), None)
        label = value.get("label")
        expr = (self.values.value(source, join(path, "log"), literal=literal, leaving=True)
                if source is not None else None)
        return Log(str(label) if label is not None else None, expr)

    def _if(self, value: Mapping[str, Any], path: str, literal: bool) -> Action | None:
        cond = self.values.guard(value["if"], join(path, "if"))
        then = self.block(value.get("then"), join(path, "then"))
        branches: list[tuple[Any, Actions]] = [(cond, then)]
        if "else" in value:
            branches.append((None, self.block(value["else"], join(path, "else"))))
        return If(tuple(branches)) if cond is not None else None


def _target(value: Any) -> str | None:
    if value is None:
        return None
    to = str(value)
    if to == "parent":
        return "#_parent"
    if to.startswith("#_") or _SCHEME.match(to):
        return to
    return f"#_{to.removeprefix('#')}"


def _flatten_send(value: Mapping[str, Any]) -> dict[str, Any]:
    """``{send: {event, to, ...}}``, ``{send: EVENT}``, ``{sendParent: EVENT}`` -> ``{event, to, ...}``."""
    for key in ("sendParent", "sendTo", "send"):
        if key in value:
            rest = {k: v for k, v in value.items() if k != key}
            if key == "sendParent":
                rest.setdefault("to", "#_parent")
            body = value[key]
            if isinstance(body, Mapping) and "event" in body:
                return {**rest, **body}
            return {**rest, "event": body}
    return dict(value)
