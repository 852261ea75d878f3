"""The effect interpreter: what each effect of a step does, for both runtimes.

A step of the pure engine returns effects (core/effects.py). This module decides what they mean: which
session a ``<send>`` target names, that an event to the parent carries the invocation's id, that a send
nobody can receive comes back as ``error.communication``, what a finished child tells its parent, which
event reports an invocation that cannot start. A :class:`Host` only keeps the state: the durable runtime
writes rows of the step's transaction (runtime/dispatch.py), the in-memory runner keeps Python objects
(runtime/memory.py). So the two runtimes cannot disagree on what an effect does (issue #9), only on where
they keep it.

What stays with each host: storing an event, a timer or a task, starting and stopping an invoked child
(the durable runtime creates a child instance in the step's transaction, the in-memory runner builds it
in memory), and where a ``<log>`` goes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol, TypeVar

from interlock.core.effects import (
    CancelEffect,
    CancelInvokeEffect,
    DoneEffect,
    Effect,
    ForwardEffect,
    InvokeEffect,
    LogEffect,
    SendEffect,
)
from interlock.core.events import Event
from interlock.core.execute import BASICHTTP_PROCESSOR
from interlock.runtime.addresses import parse_address
from interlock.runtime.machines import SCXML_TYPES

# The event a task's final failure (or a child cancelled by a caller) raises in the invoking instance. A
# child that cannot start raises error.execution instead (SCXML 6.4), as an unknown invoke target does.
INVOKE_ERROR = "error.invoke.{invokeid}"
DONE_INVOKE = "done.invoke.{invokeid}"

R = TypeVar("R")  # how a host names a session: a (machine, id) key, a Session object


class Host(Protocol[R]):
    """Where effects are kept; :func:`carry_out` decides what they are."""

    def key(self, sender: R, index: int) -> str:
        """The stable name of effect ``index`` of the step being carried out (the cause of what it sends)."""

    def session_id(self, sender: R) -> str:
        """``sender``'s ``_sessionid`` (what ``#_scxml_<id>`` names)."""

    def session(self, sid: str) -> R | None:
        """The session a ``#_scxml_<sid>`` target names, or None if no session can have that id."""

    def instance(self, machine: str, id: str) -> R | None:
        """The session an ``instance:<machine>/<id>`` address names, or None."""

    def parent(self, sender: R) -> tuple[R, str] | None:
        """The session that invoked ``sender`` and the invoke id it runs under, or None."""

    def child(self, sender: R, invokeid: str) -> R | None:
        """The child session ``sender`` invoked under ``invokeid``, or None."""

    def deliver(self, to: R, event: Event, *, cause: str | None, sendid: str | None = None) -> bool:
        """Queue ``event`` for ``to``; False if it cannot receive it. ``sendid``: the delayed send of its
        own that it came from, so a ``<cancel>`` finds it still queued."""

    def silent(self, sender: R) -> bool:
        """True if what ``sender`` sends now is discarded (an invocation cancelled while it exits)."""

    def rules(self, sender: R) -> str:
        """The name of the rules ``sender``'s chart follows (``xstate`` for a document)."""

    def schedule(self, sender: R, effect: SendEffect, key: str) -> None:
        """Keep a delayed send until its time; then it goes through :func:`send_now`."""

    def cancel_send(self, sender: R, sendid: str) -> None:
        """Drop the delayed sends ``sendid`` of ``sender``, and their events if fired but still queued."""

    def post(self, sender: R, event: Event, target: str, cause: str) -> None:
        """A Basic HTTP send (SCXML C.2) to URL ``target``."""

    def forget_invocation(self, sender: R, invokeid: str) -> None:
        """Drop what an earlier invocation under ``invokeid`` sent ``sender`` that is still queued."""

    def invoke(self, sender: R, effect: InvokeEffect, key: str) -> None:
        """Start an invocation (a child session or a service: :func:`classify`); :func:`invoke_failed` if
        it cannot."""

    def cancel_invoke(self, sender: R, invokeid: str) -> None:
        """The invoking state was exited: stop the invocation."""

    def log(self, sender: R, label: str | None, value: Any) -> None:
        """A ``<log>``."""

    def finished(self, sender: R, output: Any) -> None:
        """``sender`` reached a top-level final state (before its parent is told)."""


def carry_out(host: Host[R], sender: R, effects: Sequence[Effect]) -> None:
    """Carry out a step's effects, in order."""
    for index, effect in enumerate(effects):
        match effect:
            case SendEffect():
                if effect.delay_ms > 0:
                    host.schedule(sender, effect, host.key(sender, index))
                else:
                    send_now(host, sender, effect.event, effect.target, cause=host.key(sender, index))
            case CancelEffect(sendid=sendid):
                host.cancel_send(sender, sendid)
            case InvokeEffect():
                # a state entered again invokes again under the same id: what the earlier invocation sent
                # and is still queued (a result, a done event) never reaches the new one
                host.forget_invocation(sender, effect.invokeid)
                host.invoke(sender, effect, host.key(sender, index))
            case CancelInvokeEffect(invokeid=invokeid):
                host.cancel_invoke(sender, invokeid)
            case ForwardEffect(invokeid=invokeid, event=event):
                child = host.child(sender, invokeid)
                if child is not None:
                    host.deliver(child, event, cause=host.key(sender, index))
            case LogEffect(label=label, value=value):
                host.log(sender, label, value)
            case DoneEffect(output=output):
                host.finished(sender, output)
                report_done(host, sender, output, host.key(sender, index))


def send_now(host: Host[R], sender: R, event: Event, target: str | None, *, cause: str,
             sendid: str | None = None) -> None:
    """Deliver an event ``sender`` sent (now, or a delayed send ``sendid`` whose time came). A target
    nobody answers to raises ``error.communication`` in ``sender`` (SCXML 6.2.4)."""
    if host.silent(sender):
        return
    if event.origintype == BASICHTTP_PROCESSOR and target is not None:  # only a send of that type:
        host.post(sender, event, target, cause)  # a document's send to a URL reaches no one
        return
    resolved = resolve(host, sender, target)
    if resolved is not None:
        to, invokeid = resolved
        if invokeid is not None:  # to its parent, however addressed: its invocation's event
            event = event._replace(invokeid=invokeid)
        # a <cancel> must find it queued, however it was addressed
        if host.deliver(to, event, cause=cause, sendid=sendid if to == sender else None):
            return
    error = Event("error.communication", {"message": f"send target {target!r} is not reachable",
                                          "target": target, "event": event.name}, "platform",
                  event.sendid)
    host.deliver(sender, error, cause=cause)


def resolve(host: Host[R], sender: R, target: str | None) -> tuple[R, str | None] | None:
    """``(session, invoke id to stamp on the event)`` that ``target`` names from ``sender``, or None."""
    if target is None:
        return sender, None
    parent = host.parent(sender)
    if target == "#_parent":
        return parent
    found: R | None
    if target.startswith("#_scxml_"):
        sid = target[len("#_scxml_"):]
        found = sender if sid == host.session_id(sender) else host.session(sid)
    elif target.startswith("#_"):
        found = host.child(sender, target[2:])
    else:
        address = parse_address(target)
        found = host.instance(*address) if address is not None else None
    if found is None:
        return None
    if parent is not None and found == parent[0]:
        return parent
    return found, None


def invoke_failed(host: Host[R], sender: R, effect: InvokeEffect, key: str, message: str) -> None:
    """An invocation that cannot start. An SCXML chart gets ``error.execution`` (SCXML 6.4); a document
    (XState rules) gets ``error.invoke.<id>``, the event its ``onError`` listens for, as when the service
    itself fails: the chart decides what a failed start means instead of waiting for ever. Both carry
    the invoke id, so the event is dropped with its invocation if the state is left first."""
    data = {"message": message, "invokeid": effect.invokeid}
    if host.rules(sender) == "xstate":
        error = Event(INVOKE_ERROR.format(invokeid=effect.invokeid), data, "external", invokeid=effect.invokeid)
    else:
        error = Event("error.execution", data, "platform", invokeid=effect.invokeid)
    host.deliver(sender, error, cause=key)


def report_done(host: Host[R], sender: R, output: Any, key: str) -> None:
    """A finished invoked session tells its parent: ``done.invoke.<id>`` with its output."""
    parent = host.parent(sender)
    if parent is None:
        return
    to, invokeid = parent
    event = Event(DONE_INVOKE.format(invokeid=invokeid), output, "external",
                  invokeid=invokeid, origin=f"#_scxml_{host.session_id(sender)}")
    host.deliver(to, event, cause=key)


def classify(effect: InvokeEffect, services: Collection[str],
             is_machine: Callable[[str], bool]) -> tuple[str, str]:
    """``("service"|"machine"|"unknown", name)`` for an invoke. ``service:``/``machine:`` prefixes decide;
    otherwise an SCXML type with a registered machine as src is a child, then services, then machines."""
    src = effect.src or ""
    if src.startswith("service:"):
        return ("service" if src[8:] in services else "unknown"), src[8:]
    if src.startswith("machine:"):
        src = src[8:]
        return ("machine" if is_machine(src.partition("@")[0]) else "unknown"), src
    scxml = effect.type in SCXML_TYPES
    if scxml and src and is_machine(src.partition("@")[0]):
        return "machine", src
    for name in (src, effect.type):
        if name and name in services:
            return "service", name
    if src and is_machine(src.partition("@")[0]):
        return "machine", src
    return "unknown", src or effect.type
