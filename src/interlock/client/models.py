"""What the client hands back: the server's JSON turned into frozen values.

Instances, send results, history entries and pages are the embedded API's own types
(:class:`~interlock.Instance` and friends), so code written against :class:`~interlock.Interlock` reads a
remote instance the same way. :class:`RemoteInstance` adds what only the server reports (``tags``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interlock.runtime.model import HistoryEntry, Instance, SendResult
from interlock.storage.store import Change


@dataclass(frozen=True, slots=True, repr=False)
class RemoteInstance(Instance):
    """An instance as a server reported it: an :class:`~interlock.Instance` plus its active ``tags``."""

    tags: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status == "done"


@dataclass(frozen=True, slots=True)
class Version:
    """One registered version of a machine; ``definition`` is its document text (empty for Python machines
    the server's application registered, whose logic is code)."""

    name: str
    version: str
    format: str
    definition: str
    mermaid: str
    registered_at: float | None
    source: str  # upload | app

    def __repr__(self) -> str:
        return f"<Version {self.name}@{self.version} {self.format} from {self.source}>"


@dataclass(frozen=True, slots=True)
class Machine:
    """A machine the server knows: its versions (oldest first) and the one new instances use."""

    name: str
    versions: tuple[str, ...]
    latest: str | None

    def __repr__(self) -> str:
        return f"<Machine {self.name} latest={self.latest} versions={list(self.versions)}>"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key. ``secret`` is only set in the answer to :meth:`~interlock.client.Client.create_key`:
    the server keeps a hash, so it cannot be read again."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: float | None
    revoked: bool
    secret: str | None = None

    def __repr__(self) -> str:  # never the secret
        state = " revoked" if self.revoked else ""
        return f"<ApiKey {self.id} {self.name!r} scopes={list(self.scopes)}{state}>"


def instance_of(data: Mapping[str, Any]) -> RemoteInstance:
    """``{"machine": ..., "id": ..., ...}`` (the server's Instance shape) -> :class:`RemoteInstance`."""
    return RemoteInstance(
        machine=data["machine"], id=data["id"], version=str(data["version"]), status=data["status"],
        paused=bool(data.get("paused", False)), step=int(data.get("step", 0)), queued=int(data.get("queued", 0)),
        configuration=tuple(data.get("configuration") or ()), state=tuple(data.get("state") or ()),
        context=dict(data.get("context") or {}), output=data.get("output"), parent=data.get("parent"),
        created_at=float(data.get("created_at") or 0.0), updated_at=float(data.get("updated_at") or 0.0),
        tags=tuple(data.get("tags") or ()))


def send_result_of(data: Mapping[str, Any]) -> SendResult:
    """A server's SendResult; its ``instance`` is None when the machine's read rule does not let this
    client read the instance (docs/auth.md, "Machine rules"): the one case where a SendResult has none."""
    instance = data.get("instance")
    return SendResult(data["outcome"], data.get("step"), bool(data.get("duplicate", False)),
                      instance_of(instance) if instance is not None else None)  # type: ignore[arg-type]


def history_entry_of(data: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        step=int(data["step"]), at=float(data.get("at") or 0.0), outcome=data["outcome"], event=data.get("event"),
        idempotency_key=data.get("idempotency_key"), cause=data.get("cause"),
        source=tuple(data.get("source") or ()), target=tuple(data.get("target") or ()),
        context_change=dict(data.get("context_change") or {}), effects=tuple(data.get("effects") or ()),
        error=data.get("error"))


def machine_of(data: Mapping[str, Any]) -> Machine:
    versions = tuple(str(v["version"]) if isinstance(v, Mapping) else str(v) for v in data.get("versions") or ())
    latest = data.get("latest")
    return Machine(data["name"], versions, str(latest) if latest is not None else None)


def version_of(data: Mapping[str, Any]) -> Version:
    diagram = data.get("diagram") or {}
    return Version(data["name"], str(data["version"]), data.get("format", ""), data.get("definition") or "",
                   diagram.get("mermaid", "") if isinstance(diagram, Mapping) else "",
                   data.get("registered_at"), data.get("source", "upload"))


def key_of(data: Mapping[str, Any]) -> ApiKey:
    # the key itself is in "key", in the answer to its creation only
    return ApiKey(str(data["id"]), data.get("label", data.get("name", "")), tuple(sorted(data.get("scopes") or ())),
                  data.get("created_at"), bool(data.get("revoked", False) or data.get("revoked_at")),
                  data.get("key") if isinstance(data.get("key"), str) else data.get("secret"))


@dataclass(frozen=True, slots=True, repr=False)
class RemoteChange(Change):
    """A change from the live feed: a :class:`~interlock.Change` and, when the server sent it, the instance
    as it was read just after the change (it may already be at a later step)."""

    instance: RemoteInstance | None = None

    def __repr__(self) -> str:
        return f"<RemoteChange #{self.position} {self.machine}/{self.id} step={self.step} {self.outcome}>"


def change_of(data: Mapping[str, Any]) -> RemoteChange:
    instance = data.get("instance")
    return RemoteChange(int(data["position"]), data["machine"], data["id"], int(data.get("step", 0)),
                        data.get("outcome", ""), float(data.get("at") or 0.0),
                        instance_of(instance) if isinstance(instance, Mapping) else None)
