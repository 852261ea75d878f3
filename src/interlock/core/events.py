"""Events and event descriptors (SCXML 5.9.1 and 3.12.1)."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

EventType = Literal["platform", "internal", "external"]


class Event(NamedTuple):
    """An event as the chart sees it: ``_event`` in SCXML.

    >>> Event("order.placed", {"id": 42}).name
    'order.placed'
    """

    name: str
    data: Any = None
    type: EventType = "external"
    sendid: str | None = None
    origin: str | None = None
    origintype: str | None = None
    invokeid: str | None = None
    raw: str | None = None  # the message as it arrived (SCXML 5.10.1), from the Basic HTTP processor

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON data, leaving out unset fields."""
        out: dict[str, Any] = {"name": self.name}
        if self.data is not None:
            out["data"] = self.data
        if self.type != "external":
            out["type"] = self.type
        for key in ("sendid", "origin", "origintype", "invokeid", "raw"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """Inverse of :meth:`to_json`; also accepts ``{"type": NAME, ...payload}`` XState-style objects."""
        if "name" in data:
            return cls(
                data["name"],
                data.get("data"),
                data.get("type", "external"),
                data.get("sendid"),
                data.get("origin"),
                data.get("origintype"),
                data.get("invokeid"),
                data.get("raw"),
            )
        payload = {k: v for k, v in data.items() if k != "type"}
        return cls(data["type"], payload or None)


def as_event(value: Event | str | dict[str, Any]) -> Event:
    """Accept an :class:`Event`, a bare name, or a JSON object and return an :class:`Event`."""
    if isinstance(value, Event):
        return value
    if isinstance(value, str):
        return Event(value)
    return Event.from_json(value)


def normalize_descriptor(descriptor: str) -> str:
    """``foo.*`` and ``foo.`` mean the same as ``foo``; ``*`` stays ``*`` (SCXML 3.12.1)."""
    while descriptor.endswith(".*"):
        descriptor = descriptor[:-2]
    return descriptor.rstrip(".") if descriptor != "*" else descriptor


def descriptor_matches(descriptor: str, name: str) -> bool:
    """True when a normalized descriptor matches an event name by token prefix.

    >>> descriptor_matches("error", "error.execution"), descriptor_matches("err", "error")
    (True, False)
    """
    if descriptor == "*" or descriptor == name:
        return True
    return name.startswith(descriptor) and name[len(descriptor)] == "."
