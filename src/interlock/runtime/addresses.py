"""How instances are named in send targets.

- session id of an instance: ``<machine>/<id>`` (what ``_sessionid`` holds; ``#_scxml_<session id>``)
- address: ``instance:<machine>/<id>`` (a target with a scheme, for charts and callers)

The machine name ends at the first ``/``; the instance id may contain more.
"""

from __future__ import annotations

SCHEME = "instance:"


def session_id(machine: str, id: str) -> str:
    return f"{machine}/{id}"


def address(machine: str, id: str) -> str:
    return f"{SCHEME}{machine}/{id}"


def split_session(sid: str) -> tuple[str, str] | None:
    """``order/42`` -> ``("order", "42")``; None if it is not a session id of the durable runtime."""
    machine, sep, id = sid.partition("/")
    return (machine, id) if sep and machine and id else None


def parse_address(target: str) -> tuple[str, str] | None:
    """``instance:order/42`` -> ``("order", "42")``; None for any other form."""
    if not target.startswith(SCHEME):
        return None
    return split_session(target[len(SCHEME):])


class SessionIds:
    """The ids that can name an instance at all (``<machine>/<id>``), as a container: what the durable
    runtime tells a step about ``#_scxml_`` targets before it runs (core/reach.py). Whether such an
    instance exists is answered when the send is dispatched."""

    __slots__ = ()

    def __contains__(self, sid: object) -> bool:
        return isinstance(sid, str) and split_session(sid) is not None


SESSION_IDS = SessionIds()
