"""Every route of the server as a :class:`Call`: the request to make and how to read its answer.

The sync :class:`~interlock.client.Client` and the :class:`~interlock.client.AsyncClient` only differ in
how they carry a call, so each route is described once here, without I/O::

    >>> get_instance("order", "o-1").path
    '/v1/machines/order/instances/o-1'
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from interlock.client import models
from interlock.runtime.model import HistoryEntry, Page, SendResult

T = TypeVar("T")

FORMATS = {
    "yaml": "application/yaml", "yml": "application/yaml", "json": "application/json",
    "scxml": "application/scxml+xml", "xml": "application/scxml+xml",
}


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request. ``idempotent``: sending it twice does what sending it once does, so a connection
    error may be retried; ``read`` turns the answer's JSON into the result."""

    method: str
    path: str
    read: Callable[[Any], T]
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool = False

    def __repr__(self) -> str:
        return f"<Call {self.method} {self.path}>"


def _seg(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"a name in a URL must be a non-empty string, not {value!r}")
    if "/" in value:  # the server decodes %2F before it routes: the name would not reach the route
        raise ValueError(f"{value!r} cannot be addressed over HTTP: a name in a URL cannot hold '/'")
    return quote(value, safe="")


def _instance_path(machine: str, name: str) -> str:
    return f"/v1/machines/{_seg(machine)}/instances/{_seg(name)}"


def _page(read_item: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
    return lambda body: Page(tuple(read_item(item) for item in body["items"]), body.get("next"))


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/health", dict, idempotent=True)


def machines(*, cursor: Any = None, limit: int | None = None) -> Call[Page[models.Machine]]:
    return Call("GET", "/v1/machines", _page(models.machine_of), params=_params(cursor=cursor, limit=limit),
                idempotent=True)


def get_machine(machine: str) -> Call[models.Machine]:
    return Call("GET", f"/v1/machines/{_seg(machine)}", models.machine_of, idempotent=True)


def put_version(machine: str, version: str, definition: str | bytes, *, format: str) -> Call[models.Version]:
    content_type = FORMATS.get(format.lower().lstrip("."))
    if content_type is None:
        raise ValueError(f"unknown definition format {format!r}; use one of {', '.join(sorted(FORMATS))}")
    content = definition.encode() if isinstance(definition, str) else definition
    # PUT of the same definition again answers 200, so it is safe to repeat
    return Call("PUT", f"/v1/machines/{_seg(machine)}/versions/{_seg(version)}", models.version_of,
                content=content, headers={"Content-Type": content_type}, idempotent=True)


def get_version(machine: str, version: str) -> Call[models.Version]:
    return Call("GET", f"/v1/machines/{_seg(machine)}/versions/{_seg(version)}", models.version_of,
                idempotent=True)


def create(machine: str, name: str, *, input: Mapping[str, Any] | None, version: str | None,
           idempotency_key: str | None = None) -> Call[models.RemoteInstance]:
    """A new instance. Without a key, one is made up, so that a retry after a lost answer is recognised as
    the create that made the instance (answered with it) rather than refused as a taken name."""
    body: dict[str, Any] = {"name": name, "input": dict(input or {})}
    if version is not None:
        body["version"] = version
    return Call("POST", f"/v1/machines/{_seg(machine)}/instances", models.instance_of, json=body,
                headers=_key(idempotency_key), idempotent=True)


def get_instance(machine: str, name: str) -> Call[models.RemoteInstance]:
    return Call("GET", _instance_path(machine, name), models.instance_of, idempotent=True)


WAIT_SLICE = 25  # seconds one long poll of wait_instance asks for (under the server's 30 s send timeout)


def wait_instance(machine: str, name: str, seconds: float) -> Call[models.RemoteInstance]:
    """The instance once it has ended, or after ``seconds`` (a long poll; its ``status`` says which)."""
    return Call("GET", _instance_path(machine, name), models.instance_of,
                params={"wait": "ended", "timeout": seconds}, idempotent=True)


def wait_slice(left: float | None, read_timeout: float | None) -> float:
    """Seconds the next long poll asks for, with ``left`` seconds left in all (None: no limit), ending
    well within the client's own read timeout."""
    most = WAIT_SLICE if read_timeout is None else max(0.1, min(WAIT_SLICE, read_timeout * 0.8))
    return most if left is None else round(max(0.0, min(most, left)), 3)


def list_instances(machine: str, *, state: str | None = None, tag: str | None = None, status: str | None = None,
                   cursor: Any = None, limit: int | None = None) -> Call[Page[models.RemoteInstance]]:
    params = _params(state=state, tag=tag, status=status, cursor=cursor, limit=limit)
    return Call("GET", f"/v1/machines/{_seg(machine)}/instances", _page(models.instance_of), params=params,
                idempotent=True)


def send(machine: str, name: str, event: str | Mapping[str, Any], data: Mapping[str, Any] | None = None, *,
         idempotency_key: str | None = None) -> Call[SendResult]:
    """An event as ``{"type": ..., **data}``, answered once the instance settled. Without a key, one is
    made up so that a retry after a lost answer is recognised as the same event (``duplicate``)."""
    return Call("POST", _instance_path(machine, name) + "/events", models.send_result_of,
                json=_event_body(event, data), headers=_key(idempotency_key), idempotent=True)


def send_nowait(machine: str, name: str, event: str | Mapping[str, Any], data: Mapping[str, Any] | None = None,
                *, idempotency_key: str | None = None) -> Call[None]:
    """The same event, answered (202) once it is committed, without the instance's state."""
    return Call("POST", _instance_path(machine, name) + "/events", _nothing, json=_event_body(event, data),
                params={"wait": "false"}, headers=_key(idempotency_key), idempotent=True)


def _key(idempotency_key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key if idempotency_key is not None else f"client-{uuid.uuid4()}"}


def _event_body(event: str | Mapping[str, Any], data: Mapping[str, Any] | None) -> dict[str, Any]:
    if isinstance(event, str):
        return {**(data or {}), "type": event}
    if isinstance(event, Mapping) and isinstance(event.get("type"), str):
        if data:
            raise ValueError("give the event's data either in the event mapping or as data=, not both")
        return dict(event)
    raise ValueError(f"an event is a type name or a mapping with 'type', not {event!r}")


def history(machine: str, name: str, *, after: int | None = None, limit: int | None = None) -> Call[Page[HistoryEntry]]:
    return Call("GET", _instance_path(machine, name) + "/history", _page(models.history_entry_of),
                params=_params(after=after, limit=limit), idempotent=True)


def control(machine: str, name: str, action: str) -> Call[models.RemoteInstance]:
    """pause, resume or cancel (each leaves the instance as asked however often it is repeated)."""
    if action not in ("pause", "resume", "cancel"):
        raise ValueError(f"unknown instance action {action!r}")
    return Call("POST", f"{_instance_path(machine, name)}/{action}", models.instance_of, idempotent=True)


def admin_read(machine: str, name: str, what: str) -> Call[Any]:
    """context (all of it, as a mapping), timers, tasks or children (lists) of an instance: admin only."""
    if what not in ("context", "timers", "tasks", "children"):
        raise ValueError(f"unknown admin read {what!r}; use context, timers, tasks or children")
    read = _context if what == "context" else _items
    return Call("GET", f"{_instance_path(machine, name)}/{what}", read, idempotent=True)


def create_key(name: str, scopes: Sequence[str]) -> Call[models.ApiKey]:
    return Call("POST", "/v1/keys", models.key_of, json={"label": name, "scopes": list(scopes)})


def list_keys(*, cursor: Any = None, limit: int | None = None) -> Call[Page[models.ApiKey]]:
    """A page of API keys, oldest first (revoked ones too); ``next`` goes back as ``cursor``."""
    return Call("GET", "/v1/keys", _page(models.key_of), params=_params(cursor=cursor, limit=limit),
                idempotent=True)


def revoke_key(key_id: str) -> Call[models.ApiKey]:
    """The key, revoked (revoking it again changes nothing)."""
    return Call("DELETE", f"/v1/keys/{_seg(key_id)}", models.key_of, idempotent=True)


def _items(body: Any) -> list[Any]:
    return list(body["items"]) if isinstance(body, Mapping) else list(body)


def _context(body: Any) -> dict[str, Any]:
    return dict(body["context"])


def _nothing(body: Any) -> None:
    return None

