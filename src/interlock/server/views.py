"""The JSON shapes of the API (docs/server.md, "Shapes"): runtime values in, plain dicts out.

A context key starting with ``_`` is private: only admin callers see it (``Instance.context`` shows the
public part to everyone else; ``GET .../context`` is the admin's full view).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from interlock.app import Interlock
from interlock.auth.principal import Principal
from interlock.runtime.apply import shown_key, stored_key
from interlock.runtime.model import HistoryEntry, Instance, Page, SendResult


def public_context(context: dict[str, Any]) -> dict[str, Any]:
    """The context without its private (``_``-prefixed) keys."""
    return {k: v for k, v in context.items() if not k.startswith("_")}


def instance_view(interlock: Interlock, instance: Instance, *, admin: bool) -> dict[str, Any]:
    return {
        "machine": instance.machine,
        "id": instance.id,
        "version": instance.version,
        "status": instance.status,
        "paused": instance.paused,
        "done": instance.status == "done",
        "output": instance.output,
        "step": instance.step,
        "queued": instance.queued,
        "state": list(instance.state),
        "configuration": list(instance.configuration),
        "tags": _tags(interlock, instance),
        "context": instance.context if admin else public_context(instance.context),
        "parent": instance.parent,
        "created_at": instance.created_at,
        "updated_at": instance.updated_at,
    }


def _tags(interlock: Interlock, instance: Instance) -> list[str]:
    try:
        return list(interlock.runtime.registry.tags(instance.machine, instance.version,
                                                    instance.configuration))
    except Exception:  # a version this process cannot load: its tags are unknown, not an error
        return []


def readable_view(interlock: Interlock, instance: Instance, caller: Principal) -> dict[str, Any] | None:
    """The instance's view if the machine's read rule lets ``caller`` read it (docs/auth.md), else None:
    a write a caller may make does not show it what it may not read."""
    if interlock.read_refusal(instance, caller) is not None:
        return None
    return instance_view(interlock, instance, admin=caller.admin)


def written_view(interlock: Interlock, instance: Instance, caller: Principal) -> dict[str, Any]:
    """The answer to a create, pause, resume or cancel: the instance's view, or only what the write itself
    says (InstanceRef) when the machine's read rule does not let ``caller`` read the instance."""
    view = readable_view(interlock, instance, caller)
    if view is not None:
        return view
    return {"machine": instance.machine, "id": instance.id, "version": instance.version,
            "status": instance.status, "paused": instance.paused}


def send_view(interlock: Interlock, result: SendResult, caller: Principal) -> dict[str, Any]:
    return {"outcome": result.outcome, "step": result.step, "duplicate": result.duplicate,
            "instance": readable_view(interlock, result.instance, caller)}


def history_view(entry: HistoryEntry, *, admin: bool, subject: str | None = None) -> dict[str, Any]:
    """A step; to a caller who is not admin, its context change without private keys, its effects (and
    the event, unless a caller sent it) without the values they carry, no event's ``raw`` (the request a
    Basic HTTP event came in, headers and all), its errors without their messages,
    and its idempotency key only if it is the caller's own (``subject``), as the caller gave it."""
    data = asdict(entry)
    data["source"], data["target"], data["effects"] = list(entry.source), list(entry.target), list(entry.effects)
    if not admin:
        data["context_change"] = _public_change(entry.context_change)
        data["effects"] = [_public_effect(effect) for effect in entry.effects]
        if entry.cause is not None and entry.event is not None:  # made by a step or a task, not a caller
            data["event"] = _public_event(entry.event)
        elif entry.event is not None and entry.event.get("raw") is not None:
            # the wire form of a Basic HTTP event: its request's headers (a sender's tokens, addresses)
            data["event"] = {**entry.event, "raw": None}
        if entry.error is not None:
            data["error"] = _public_error(entry.error)
        if entry.idempotency_key is not None:
            data["idempotency_key"] = _own_key(entry.idempotency_key, subject)
    return data


def _own_key(stored: str, subject: str | None) -> str | None:
    """The idempotency key of a step to a caller who is not admin: its own key as it gave it (a restrained
    caller's keys are stored as ``["<sub>","<key>"]``), nobody else's (another caller's request ids)."""
    shown = shown_key(stored)
    return shown if subject is not None and stored == stored_key(subject, shown) else None


def _public_change(change: dict[str, Any]) -> dict[str, Any]:
    public: dict[str, Any] = {}
    changed = public_context(change.get("set", {}))
    removed = [k for k in change.get("unset", []) if not k.startswith("_")]
    if changed:
        public["set"] = changed
    if removed:
        public["unset"] = removed
    return public


# What an effect carries that a step computed from the whole context, private keys included: a sent or
# forwarded event's data, an invocation's input and inline definition, a log's value. A done effect's
# output stays: the instance's output is public (``instance_view``). So does the data of an event a
# caller sent (its entry has no ``cause``); an event a step or a task made (a send, a timer, a task's
# result, a child's event) shows its name without its data: a task's result is often what a chart keeps
# in a private key.
_CARRIED = {"data", "content", "value"}
_EVENT_CARRIED = {"data", "raw"}


def _public_effect(effect: dict[str, Any]) -> dict[str, Any]:
    """The effect's kind, names and addresses, with each value it carries (``_CARRIED``) as null."""
    shown = {k: None if k in _CARRIED else v for k, v in effect.items()}
    event = effect.get("event")
    if isinstance(event, dict):
        shown["event"] = _public_event(event)
    return shown


def _public_event(event: dict[str, Any]) -> dict[str, Any]:
    return {k: None if k in _EVENT_CARRIED else v for k, v in event.items()}


# One line of a step's errors (runtime/step_errors.py): the error event, the guard if one raised, the
# exception's class, then its message, which may quote values of the context.
_ERROR_LINE = re.compile(r"(?:\S+: (?:guard '.*?': )?\w+|hint|\S+)(?=: )")


def _public_error(error: str) -> str:
    """A step's errors without their messages: which error, in which guard, of which kind."""
    lines = []
    for line in error.splitlines():
        if line.startswith("hint: "):
            lines.append(line)
            continue
        found = _ERROR_LINE.match(line)
        lines.append(found.group(0) if found else "error")
    return "\n".join(lines)


def page_view(items: list[dict[str, Any]], next: Any) -> dict[str, Any]:
    """``{"items": [...], "next": cursor}``; ``next`` is text (pass it back as ``?cursor=``) or null."""
    return {"items": items, "next": None if next is None else str(next)}


def instances_page(interlock: Interlock, page: Page[Instance], *, admin: bool) -> dict[str, Any]:
    return page_view([instance_view(interlock, i, admin=admin) for i in page.items], page.next)
