"""Executable content (SCXML 4 and 6.2): interpret actions against a step's working state.

Each block runs until an action fails; the failure becomes ``error.execution`` on the internal queue and
the rest of the block is skipped (SCXML 4.9). Anything that reaches the world becomes an effect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from interlock.core.content import (
    Actions,
    Assign,
    Cancel,
    Custom,
    Foreach,
    If,
    Log,
    Param,
    Raise,
    Script,
    Send,
    Update,
)
from interlock.core.datamodel import Expr, Scope
from interlock.core.effects import LogEffect, SendEffect
from interlock.core.events import Event
from interlock.core.values import detached

if TYPE_CHECKING:
    from interlock.core.run import Run

SCXML_PROCESSOR = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor"
BASICHTTP_PROCESSOR = "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
_SEND_TYPES = {None: SCXML_PROCESSOR, "scxml": SCXML_PROCESSOR, SCXML_PROCESSOR: SCXML_PROCESSOR,
               "basichttp": BASICHTTP_PROCESSOR, BASICHTTP_PROCESSOR: BASICHTTP_PROCESSOR}
HTTP_SCHEMES = ("http://", "https://")
HTTP_POST = "HTTP.POST"  # the name of a Basic HTTP event that names none (SCXML C.2)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_DELAY_TEXT = 64  # longest duration text parse_delay reads
MAX_DELAY_MS = 2**53  # longest delay: exact as a float, storable as a 64-bit integer
_UNITS = ("ms", "s", "m", "h", "d")  # "ms" before "m" and "s": the longest suffix wins
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0, None: 1.0}


class SendError(Exception):
    """A send that cannot be delivered; becomes error.communication rather than error.execution."""


class SendFailed(Exception):
    """A send whose evaluation or validation failed; carries its id for the error event (SCXML 5.10.1)."""

    def __init__(self, cause: Exception, sendid: str) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.sendid = sendid


def run_block(run: Run, actions: Actions) -> None:
    """Execute one block; an exception stops it and raises error.execution."""
    run.scoped = True
    try:
        for action in actions:
            kind = type(action)
            # the two usual actions, a context update from a document or a Python function, inline (no
            # cast(): it is a call; ``kind is`` does not narrow for mypy)
            if kind is Update:
                update = action.expr.fn(run)  # type: ignore[union-attr]
            elif kind is Custom and not action.params:  # type: ignore[union-attr]
                update = action.fn(run.context, run.event)  # type: ignore[union-attr]
            else:
                handler = _HANDLERS.get(kind)
                if handler is None:
                    raise TypeError(f"unknown action {action!r}")
                handler(run, run, action)  # the run is its own scope
                continue
            if type(update) is dict and update:  # merged here without another call
                if run.copied:
                    run.context.update(update)
                else:
                    run.context = {**run.context, **update}
                    run.copied = True
            else:
                merge(run, update)
    except SendFailed as exc:
        run.raise_error("error.execution", exc.cause, exc.sendid)
    except Exception as exc:
        run.raise_error("error.execution", exc)


def execute(run: Run, scope: Scope, action: object) -> None:
    """Execute a single action; raises on failure."""
    handler = _HANDLERS.get(type(action))
    if handler is None:
        raise TypeError(f"unknown action {action!r}")
    handler(run, scope, action)


def _raise(run: Run, scope: Scope, action: Raise) -> None:
    run.queue(Event(action.event, None, "internal"))


def _assign(run: Run, scope: Scope, action: Assign) -> None:
    action.location(scope, action.expr.fn(scope))


def _update(run: Run, scope: Scope, action: Update) -> None:
    update = action.expr.fn(scope)
    if type(update) is dict and update:  # the usual result, merged here without another call
        if scope.copied:
            scope.context.update(update)
        else:
            scope.context = {**scope.context, **update}
            scope.copied = True
    else:
        merge(scope, update)


def _cancel(run: Run, scope: Scope, action: Cancel) -> None:
    expr = action.sendidexpr
    run.cancel(str(expr(scope)) if expr is not None else str(action.sendid))


def _log(run: Run, scope: Scope, action: Log) -> None:
    run.emit(LogEffect(action.label, action.expr(scope) if action.expr is not None else None))


def _if(run: Run, scope: Scope, action: If) -> None:
    for cond, body in action.branches:
        if cond is None or run.check(cond):
            for inner in body:
                execute(run, scope, inner)
            return


def _script(run: Run, scope: Scope, action: Script) -> None:
    action.code(scope)


def _custom(run: Run, scope: Scope, action: Custom) -> None:
    params = action.params
    context = scope.context
    update = action.fn(context, scope.event, **params) if params else action.fn(context, scope.event)
    if type(update) is dict and update:  # the usual result, merged here without another call
        if scope.copied:
            context.update(update)
        else:
            scope.context = {**context, **update}
            scope.copied = True
    else:
        merge(scope, update)


def merge(scope: Scope, update: Any) -> None:
    """Merge an action's result (a mapping of updates, or None) into the context."""
    if update is None:
        return
    if type(update) is not dict and not isinstance(update, Mapping):
        raise TypeError(f"an assign function must return a mapping of context updates, got {type(update).__name__}")
    if update:
        scope.writable().update(update)


def _foreach(run: Run, scope: Scope, action: Foreach) -> None:
    array = action.array(scope)
    if isinstance(array, Mapping):
        items = list(array.values())
    elif isinstance(array, (list, tuple, set, frozenset, range)):
        items = list(array)
    else:
        raise TypeError(f"foreach array {action.array.source!r} is not a collection: {array!r}")
    for index, item in enumerate(items):
        action.item(scope, item)
        if action.index is not None:
            action.index(scope, index)
        for inner in action.actions:
            execute(run, scope, inner)


def evaluate_data(scope: Scope, namelist: tuple[tuple[str, Expr], ...], params: tuple[Param, ...],
                  content: Any) -> Any:
    """The data of a send, invoke or donedata: its content, or a mapping of namelist and params; a copy
    taken now, so later actions of the step do not change it."""
    if content is not None:
        return detached(content(scope) if isinstance(content, Expr) else content)
    if not namelist and not params:
        return None
    data: dict[str, Any] = {}
    for name, expr in namelist:
        data[name] = expr(scope)
    for p in params:
        source = p.expr if p.expr is not None else p.location
        data[p.name] = source(scope) if source is not None else None
    return detached(data)


def parse_delay(value: Any) -> int:
    """A delay in milliseconds from a number (ms) or a CSS2 duration string ("2s", "150ms", ".5s", "1m")."""
    if isinstance(value, bool):
        raise ValueError(f"invalid delay {value!r}")
    if isinstance(value, (int, float)):
        ms = float(value)
    elif isinstance(value, str):
        ms = _parse_duration(value)
    else:
        raise ValueError(f"invalid delay: a {type(value).__name__}; use a number of milliseconds or a duration "
                         "like '2s'")
    if ms != ms or ms in (float("inf"), float("-inf")):
        raise ValueError(f"invalid delay {value!r}: it must be a finite number")
    if ms < 0:
        raise ValueError(f"invalid delay {value!r}: it must not be negative")
    if ms > MAX_DELAY_MS:
        raise ValueError(f"invalid delay {value!r}: the longest delay is {MAX_DELAY_MS:,} ms (about 285 years)")
    return round(ms)


def _parse_duration(text: str) -> float:
    """``"2s"``, ``" .5 m "``, ``"150ms"`` -> milliseconds, in one linear pass (no backtracking regex: the
    text may come from an untrusted expression)."""
    if len(text) > MAX_DELAY_TEXT:
        raise ValueError(f"invalid delay: {len(text):,} characters long; a duration is at most {MAX_DELAY_TEXT}")
    body = text.strip()
    unit = next((u for u in _UNITS if body.endswith(u)), None)
    number = body[: len(body) - len(unit)].rstrip() if unit else body
    whole, dot, fraction = number.partition(".")
    if not (whole.isdigit() or not whole) or not (fraction.isdigit() or not fraction) or not (whole or fraction) \
            or (dot and not fraction) or not number.isascii():
        raise ValueError(f"invalid delay {text!r}: use a number of milliseconds or a duration like '2s'")
    return float(number) * _UNIT_MS[unit]


def send(run: Run, scope: Scope, action: Send) -> None:
    """<send> (SCXML 6.2): evaluate, validate, then queue internally or emit a SendEffect."""
    sendid = action.id
    try:
        name = action.event if action.eventexpr is None else str(action.eventexpr(scope))
        target = action.target if action.targetexpr is None else str(action.targetexpr(scope))
        kind = action.type if action.typeexpr is None else str(action.typeexpr(scope))
    except Exception as exc:
        raise SendFailed(exc, sendid or "") from exc
    if sendid is None:
        sendid = run.next_id("send")
        if action.idlocation is not None:
            action.idlocation(scope, sendid)
    try:
        _send(run, scope, action, name, target, kind, sendid)
    except SendFailed:
        raise
    except Exception as exc:
        raise SendFailed(exc, sendid) from exc


def _send(run: Run, scope: Scope, action: Send, name: str | None, target: str | None,
          kind: str | None, sendid: str) -> None:
    delay = action.delay_ms
    if action.delayexpr is not None:
        delay = parse_delay(action.delayexpr(scope))
    data = evaluate_data(scope, action.namelist, action.params, action.content)
    if kind not in _SEND_TYPES:
        raise ValueError(f"unsupported send type {kind!r}")
    if _SEND_TYPES[kind] == BASICHTTP_PROCESSOR:
        _send_http(run, name, target, data, sendid, delay or 0)
        return
    if name is None:
        raise ValueError("send has neither an event name nor event data")
    explicit_id = action.id is not None or action.idlocation is not None
    if target == "#_internal":
        if delay:
            raise ValueError("a send to #_internal cannot be delayed: the internal queue is only for the "
                             "current macrostep; send to the session itself (no target) instead")
        run.queue(Event(name, data, "internal", sendid if explicit_id else None))
        return
    if target is not None and not (target.startswith("#_") or _SCHEME.match(target)):
        raise ValueError(f"invalid send target {target!r}: use #_parent, #_<invokeid>, "
                         "#_scxml_<sessionid> or an address with a scheme such as instance:order/42")
    origin = f"#_scxml_{run.sessionid}"
    delayed = bool(delay)
    event = Event(name, data, "external", sendid if explicit_id or delayed else None,
                  origin, _SEND_TYPES[kind])
    if (target is not None and target.startswith("#_") and target not in ("#_parent", origin)
            and run.reachable is not None and run.reachable.unreachable(target)):
        run.raise_error("error.communication", SendError(f"target {target!r} is not reachable"), sendid)
        return
    run.emit(SendEffect(sendid, event, target, _SEND_TYPES[kind], delay or 0))
    if delayed and (target is None or target == origin):
        run.add_pending(sendid)  # it comes back to this session, which then forgets it



def _send_http(run: Run, name: str | None, target: str | None, data: Any, sendid: str,
               delay: int) -> None:
    """A send through the Basic HTTP Event I/O Processor (SCXML C.2): an HTTP POST to ``target``, done
    by the runtime. Without an http(s) URL as target it cannot be sent: error.communication on the
    internal queue (W3C test 577). Without an event name the receiver names it after the method
    (``HTTP.POST``), so that is the name it is sent under."""
    if target is None or not target.startswith(HTTP_SCHEMES):
        why = "has no target" if target is None else f"target {target!r} is not an http(s) URL"
        run.raise_error("error.communication", SendError(f"a Basic HTTP send {why}"), sendid)
        return
    event = Event(name or HTTP_POST, data, "external", sendid, f"#_scxml_{run.sessionid}",
                  BASICHTTP_PROCESSOR)
    run.emit(SendEffect(sendid, event, target, BASICHTTP_PROCESSOR, delay))


_HANDLERS: dict[type, Callable[[Run, Scope, Any], None]] = {
    Raise: _raise, Assign: _assign, Update: _update, Send: send, Cancel: _cancel, Log: _log, If: _if,
    Foreach: _foreach, Script: _script, Custom: _custom,
}
