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
from interlock.runtime.apply import shown_key
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


def history_view(entry: HistoryEntry, *, admin: bool) -> dict[str, Any]:
    """A step; to a caller who is not admin, its context change without private keys, its error's kind
    only, and its idempotency key as its caller gave it (a restrained caller's is stored with its ``sub``)."""
    data = asdict(entry)
    data["source"], data["target"], data["effects"] = list(entry.source), list(entry.target), list(entry.effects)
    if not admin:
        data["context_change"] = _public_change(entry.context_change)
        if entry.error is not None:
            data["error"] = public_error(entry.error)
        if entry.idempotency_key is not None:
            data["idempotency_key"] = shown_key(entry.idempotency_key)
    return data


_KIND = re.compile(r"[A-Za-z][\w.]*")


def public_error(error: str) -> str:
    """A history entry's error as a caller who is not admin sees it: its kind (``error.execution``,
    ``rule.failed``, ``StorageError``), the text before the first ``": "``. The rest quotes what failed,
    private context values included (``ValueError: invalid literal for int(): 's3cret'``, a rule's
    failure); admins read it whole."""
    kind = error.partition(": ")[0]
    return kind if _KIND.fullmatch(kind) else "error"


def _public_change(change: dict[str, Any]) -> dict[str, Any]:
    public: dict[str, Any] = {}
    changed = public_context(change.get("set", {}))
    removed = [k for k in change.get("unset", []) if not k.startswith("_")]
    if changed:
        public["set"] = changed
    if removed:
        public["unset"] = removed
    return public


def page_view(items: list[dict[str, Any]], next: Any) -> dict[str, Any]:
    """``{"items": [...], "next": cursor}``; ``next`` is text (pass it back as ``?cursor=``) or null."""
    return {"items": items, "next": None if next is None else str(next)}


def instances_page(interlock: Interlock, page: Page[Instance], *, admin: bool) -> dict[str, Any]:
    return page_view([instance_view(interlock, i, admin=admin) for i in page.items], page.next)
