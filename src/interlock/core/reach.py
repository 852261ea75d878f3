"""What a step may know about other sessions, given to it before it runs.

The engine never asks the runtime anything in the middle of a step. A ``<send>`` to ``#_<invokeid>`` or
``#_scxml_<sessionid>`` that names no live session must raise ``error.communication`` on the internal
queue, before the events the step raises after it (SCXML 6.2.4, W3C test 496), so the runtime says up
front which targets are live. What it cannot list (the durable runtime does not list every instance)
it leaves open (``sessions`` holds every id of its form, or is ``None``): such a send becomes a
:class:`~interlock.core.effects.SendEffect`, and the runtime answers an unknown target after the step,
with ``error.communication`` on the external queue.
"""

from __future__ import annotations

from collections.abc import Container
from typing import NamedTuple


class Reach(NamedTuple):
    """``invocations``: invoke ids of this session whose invoked session is live; ``sessions``: ids that
    may name a live session (the live ones, or every id of the runtime's form when it cannot list them;
    such a send is then answered after the step), None for any id. Both are only read during the step,
    and answer from what they hold: they never reach storage."""

    invocations: Container[str] = frozenset()
    sessions: Container[str] | None = None
    # where this session receives Basic HTTP events (SCXML C.2): the URL its session id is appended to,
    # URL-quoted (``http://host/v1/basichttp/`` + ``order/42``); None: no HTTP server serves it
    basichttp: str | None = None

    def unreachable(self, target: str) -> bool:
        """True if ``target`` (``#_<invokeid>`` or ``#_scxml_<id>``) is known to name no live session."""
        if target.startswith("#_scxml_"):
            return self.sessions is not None and target[len("#_scxml_"):] not in self.sessions
        return target[2:] not in self.invocations
