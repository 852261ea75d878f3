"""Effects: what a step asks its runtime to do in the world, as frozen JSON-ready data.

The engine never performs an effect. A runtime executes them after it has stored the step that produced
them, and feeds their results back as events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from interlock.core.events import Event


@dataclass(frozen=True, slots=True)
class SendEffect:
    """Deliver ``event`` to ``target`` after ``delay_ms``; ``target`` None means this session's queue.

    Targets use SCXML forms: ``#_parent``, ``#_<invokeid>``, ``#_scxml_<sessionid>``, or any other address
    the runtime understands (for example an instance ``machine/instance-id``).
    """

    sendid: str
    event: Event
    target: str | None = None
    type: str | None = None
    delay_ms: int = 0
    kind: Literal["send"] = "send"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "sendid": self.sendid, "event": self.event.to_json(),
                "target": self.target, "type": self.type, "delay_ms": self.delay_ms}


@dataclass(frozen=True, slots=True)
class CancelEffect:
    """Cancel a delayed send that has not been delivered yet."""

    sendid: str
    kind: Literal["cancel"] = "cancel"

    def to_json(self) -> dict[str, Any]:
        return {"sendid": self.sendid, "kind": self.kind}  # as asdict, without its recursive copy


@dataclass(frozen=True, slots=True)
class InvokeEffect:
    """Start an invoked child: a machine (``type`` scxml) or a named service.

    ``src`` names it (a document path, a registered machine, or a service name); ``content`` carries an inline
    definition as text. ``data`` holds the evaluated params/namelist.
    """

    invokeid: str
    state: str
    type: str
    src: str | None = None
    content: Any = None
    data: dict[str, Any] = field(default_factory=dict)
    autoforward: bool = False
    kind: Literal["invoke"] = "invoke"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CancelInvokeEffect:
    """Stop an invoked child because the state that invoked it was exited."""

    invokeid: str
    kind: Literal["cancel_invoke"] = "cancel_invoke"

    def to_json(self) -> dict[str, Any]:
        # as asdict, without its recursive copy (strings only): every step that leaves a state with a
        # running invocation records one
        return {"invokeid": self.invokeid, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class ForwardEffect:
    """Forward an external event to an invoked child that asked for ``autoforward``."""

    invokeid: str
    event: Event
    kind: Literal["forward"] = "forward"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "invokeid": self.invokeid, "event": self.event.to_json()}


@dataclass(frozen=True, slots=True)
class LogEffect:
    """A ``<log>`` from the chart."""

    label: str | None
    value: Any
    kind: Literal["log"] = "log"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DoneEffect:
    """The session reached a top-level final state; ``output`` is its donedata.

    A runtime reports it to the parent as ``done.invoke.<invokeid>``.
    """

    output: Any = None
    kind: Literal["done"] = "done"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


Effect = SendEffect | CancelEffect | InvokeEffect | CancelInvokeEffect | ForwardEffect | LogEffect | DoneEffect


def effect_from_json(data: dict[str, Any]) -> Effect:
    """Rebuild an effect from :meth:`to_json` output."""
    kind = data["kind"]
    fields = {k: v for k, v in data.items() if k != "kind"}
    if kind == "send":
        fields["event"] = Event.from_json(fields["event"])
        return SendEffect(**fields)
    if kind == "forward":
        fields["event"] = Event.from_json(fields["event"])
        return ForwardEffect(**fields)
    classes: dict[str, type[Any]] = {"cancel": CancelEffect, "invoke": InvokeEffect,
                                     "cancel_invoke": CancelInvokeEffect, "log": LogEffect,
                                     "done": DoneEffect}
    if kind not in classes:
        raise ValueError(f"unknown effect kind {kind!r}")
    effect: Effect = classes[kind](**fields)
    return effect
