"""The blocking client: ``Client("http://host:8000", key=...)``, one method per route of the server."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from interlock.client import calls
from interlock.client import transport as tr
from interlock.client.calls import Call
from interlock.client.models import ApiKey, Machine, RemoteInstance, Version
from interlock.runtime.model import HistoryEntry, Page, SendResult

T = TypeVar("T")


class Client:
    """A client of an Interlock server.

    >>> with Client("http://127.0.0.1:8000", key="ilk_...") as client:   # doctest: +SKIP
    ...     client.send("order", "o-1", "PAY", {"amount": 30}).instance.state
    ('order.paid',)

    Errors are the embedded API's (:class:`~interlock.NotFoundError`, :class:`~interlock.ConflictError`,
    ...; see :mod:`interlock.client.errors`). Reads, uploads, controls and sends (which always carry an
    idempotency key) are retried ``retries`` times after a connection error; ``create`` only when the
    request cannot have reached the server.
    """

    def __init__(self, base_url: str = tr.DEFAULT_URL, *, key: str | None = None, token: str | None = None,
                 timeout: float = tr.DEFAULT_TIMEOUT, retries: int = tr.RETRIES,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = tr.base_url(base_url, retries)
        self.retries = retries
        self._http = httpx.Client(base_url=self.base_url, headers=tr.headers(key=key, token=token),
                                  timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"<Client {self.base_url}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, call: Call[T]) -> T:
        """Carry out one :class:`~interlock.client.calls.Call` (what every method below does)."""
        attempt = 0
        while True:
            try:
                response = self._http.request(call.method, call.path, params=dict(call.params), json=call.json,
                                              content=call.content, headers=dict(call.headers))
            except httpx.TransportError as exc:
                if not tr.may_retry(call, exc, attempt, self.retries):
                    raise tr.unreachable(self.base_url, call, exc) from exc
                time.sleep(tr.delay(attempt))
                attempt += 1
                continue
            return tr.result(call, response)

    # -- machines -----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.call(calls.health())

    def machines(self) -> builtins.list[Machine]:
        """Every machine the server runs, by name."""
        found: builtins.list[Machine] = []
        cursor = None
        while True:
            page = self.call(calls.machines(cursor=cursor))
            found.extend(page.items)
            if page.next is None:
                return found
            cursor = page.next

    def machine(self, machine: str) -> Machine:
        return self.call(calls.get_machine(machine))

    def put_version(self, machine: str, version: str, definition: str | bytes, *, format: str = "yaml") -> Version:
        """Upload a definition (``format``: yaml, json or scxml). :class:`~interlock.DefinitionError` lists
        every problem; :class:`~interlock.ConflictError` if the version exists with another definition."""
        return self.call(calls.put_version(machine, version, definition, format=format))

    def version(self, machine: str, version: str) -> Version:
        return self.call(calls.get_version(machine, version))

    # -- instances ----------------------------------------------------------------------------------

    def create(self, machine: str, name: str, *, input: Mapping[str, Any] | None = None,
               version: str | None = None, idempotency_key: str | None = None) -> RemoteInstance:
        """A new instance (ConflictError if the name is taken). It carries an idempotency key (this one, or
        one made up), so a create retried after a lost answer returns the instance it made."""
        return self.call(calls.create(machine, name, input=input, version=version,
                                      idempotency_key=idempotency_key))

    def get(self, machine: str, name: str) -> RemoteInstance:
        return self.call(calls.get_instance(machine, name))

    def execute(self, machine: str, name: str, *, input: Mapping[str, Any] | None = None,
                version: str | None = None, timeout: float | None = None,
                idempotency_key: str | None = None) -> RemoteInstance:
        """:meth:`create` the instance, then :meth:`wait` up to ``timeout`` seconds for its end (a workflow
        run to its result). The create carries an idempotency key (this one, or one made up), so calling
        ``execute`` again with the same key after a failure waits for the instance the first call made."""
        created = self.create(machine, name, input=input, version=version, idempotency_key=idempotency_key)
        if created.status != "active":
            return created
        return self.wait(machine, name, timeout=timeout)

    def wait(self, machine: str, name: str, *, timeout: float | None = None) -> RemoteInstance:
        """The instance once it has ended (``done``, with its output, or ``cancelled``), by long polls of
        ``GET .../instances/{name}?wait=ended``; ``TimeoutError`` after ``timeout`` seconds (None: none)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            instance = self.call(calls.wait_instance(machine, name, calls.wait_slice(left, self._http.timeout.read)))
            if instance.status != "active":
                return instance
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"instance {machine}/{name} has not ended after {timeout} s "
                                   f"(state {list(instance.state)})")

    def list(self, machine: str, *, state: str | None = None, tag: str | None = None, status: str | None = None,
             cursor: Any = None, limit: int | None = None) -> Page[RemoteInstance]:
        """One page; pass ``page.next`` back as ``cursor`` (or use :meth:`instances`)."""
        call = calls.list_instances(machine, state=state, tag=tag, status=status, cursor=cursor, limit=limit)
        return self.call(call)

    def instances(self, machine: str, *, state: str | None = None, tag: str | None = None,
                  status: str | None = None, page_size: int | None = None) -> Iterator[RemoteInstance]:
        """Every matching instance, page after page."""
        cursor = None
        while True:
            page = self.list(machine, state=state, tag=tag, status=status, cursor=cursor, limit=page_size)
            yield from page.items
            if page.next is None:
                return
            cursor = page.next

    def send(self, machine: str, name: str, event: str | Mapping[str, Any], data: Mapping[str, Any] | None = None,
             *, idempotency_key: str | None = None) -> SendResult:
        """Send an event and wait until the instance settled."""
        return self.call(calls.send(machine, name, event, data, idempotency_key=idempotency_key))

    def send_nowait(self, machine: str, name: str, event: str | Mapping[str, Any],
                    data: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None) -> None:
        """Send an event without waiting for it to be applied (the server answers once it is queued)."""
        self.call(calls.send_nowait(machine, name, event, data, idempotency_key=idempotency_key))

    def history(self, machine: str, name: str, *, after: int | None = None,
                limit: int | None = None) -> Page[HistoryEntry]:
        return self.call(calls.history(machine, name, after=after, limit=limit))

    def pause(self, machine: str, name: str) -> RemoteInstance:
        return self.call(calls.control(machine, name, "pause"))

    def resume(self, machine: str, name: str) -> RemoteInstance:
        return self.call(calls.control(machine, name, "resume"))

    def cancel(self, machine: str, name: str) -> RemoteInstance:
        return self.call(calls.control(machine, name, "cancel"))

    def admin(self, machine: str, name: str, what: str) -> Any:
        """An admin read: ``context`` (all of it), ``timers``, ``tasks`` or ``children``, as JSON."""
        return self.call(calls.admin_read(machine, name, what))

    # -- keys ---------------------------------------------------------------------------------------

    def create_key(self, name: str, scopes: Sequence[str]) -> ApiKey:
        return self.call(calls.create_key(name, scopes))

    def list_keys(self, *, cursor: Any = None, limit: int | None = None) -> Page[ApiKey]:
        """One page of API keys, oldest first; pass ``page.next`` back as ``cursor`` (or use :meth:`keys`)."""
        return self.call(calls.list_keys(cursor=cursor, limit=limit))

    def keys(self, *, page_size: int | None = None) -> Iterator[ApiKey]:
        """Every API key (revoked ones too), page after page."""
        cursor = None
        while True:
            page = self.list_keys(cursor=cursor, limit=page_size)
            yield from page.items
            if page.next is None:
                return
            cursor = page.next

    def revoke_key(self, key_id: str) -> ApiKey:
        return self.call(calls.revoke_key(key_id))
