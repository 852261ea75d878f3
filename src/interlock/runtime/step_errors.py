"""The errors a step's expressions raised, said in one text for the history, the log and ``simulate``.

A guard that fails counts as false (SCXML 5.9) and an action that fails stops its block; both become
``error.execution`` events that a chart rarely handles. Without this text the event would look plainly
``ignored``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from interlock.core.events import Event

_EXACT_AND = re.compile(r"event\.name == '[^']*' and \((.*)\)", re.S)
XSTATE_HINT = (
    "the event's fields are under 'data' because it was sent as {'type': NAME, 'data': {...}} (an XState "
    "habit): here the fields of an event are the keys beside 'type' ({'type': NAME, 'amount': 1}), or "
    "Event(NAME, {...}); as sent, they are read as event.data.data.FIELD")


def describe(errors: Sequence[dict[str, Any]], event: Event | None) -> str | None:
    """One line per error (``error.execution: guard 'event.amount > 10': EvaluationError: ...``), with
    a hint when the event looks sent in XState's shape; None when there were none."""
    if not errors:
        return None
    lines = []
    for error in errors:
        where = f"guard {written(error['guard'])!r}: " if error.get("guard") else ""
        lines.append(f"{error.get('event', 'error')}: {where}{error.get('error')}: {error.get('message')}")
    if event is not None and xstate_shaped(event):
        lines.append(f"hint: {XSTATE_HINT}")
    return "\n".join(lines)


def written(guard: str) -> str:
    """The guard as the document wrote it: a document's ``onDone``/``onError`` guard is compiled into
    ``event.name == 'done.invoke.x' and (GUARD)`` (see cli/labels.py)."""
    match = _EXACT_AND.fullmatch(guard)
    return match.group(1) if match else guard


def xstate_shaped(event: Event) -> bool:
    """Whether the event's data is ``{"data": {...}}`` (and maybe more): fields nested one level too deep."""
    data = event.data
    return isinstance(data, dict) and isinstance(data.get("data"), dict)
