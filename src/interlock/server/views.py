"""The JSON shapes of the API (docs/server.md, "Shapes"): runtime values in, plain dicts out.

A context key starting with ``_`` is private: only admin callers see it (``Instance.context`` shows the
public part to everyone else; ``GET .../context`` is the admin's full view).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from interlock.app import Interlock
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


def send_view(interlock: Interlock, result: SendResult, *, admin: bool) -> dict[str, Any]:
    return {"outcome": result.outcome, "step": result.step, "duplicate": result.duplicate,
            "instance": instance_view(interlock, result.instance, admin=admin)}


def history_view(entry: HistoryEntry) -> dict[str, Any]:
    data = asdict(entry)
    data["source"], data["target"], data["effects"] = list(entry.source), list(entry.target), list(entry.effects)
    return data


def page_view(items: list[dict[str, Any]], next: Any) -> dict[str, Any]:
    """``{"items": [...], "next": cursor}``; ``next`` is text (pass it back as ``?cursor=``) or null."""
    return {"items": items, "next": None if next is None else str(next)}


def instances_page(interlock: Interlock, page: Page[Instance], *, admin: bool) -> dict[str, Any]:
    return page_view([instance_view(interlock, i, admin=admin) for i in page.items], page.next)
