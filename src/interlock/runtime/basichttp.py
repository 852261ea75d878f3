"""The SCXML Basic HTTP Event I/O Processor (SCXML C.2), sending side: a ``<send>`` to an http(s) URL
becomes a task that POSTs the event there, at least once, under the effect's key as ``Idempotency-Key``.

The request: the event's name as the form parameter ``_scxmleventname`` (none for ``HTTP.POST``, the
name a receiver gives an event that names none), a mapping's entries as the other form parameters
(text as is, other values as JSON); text data as a ``text/plain`` body and any other data as a JSON body,
the name then in the query string. A 2xx answer delivers it; anything else is retried by the task's
policy, and the final failure raises ``error.communication`` in the sender (no ``done`` event: a send
has no reply).

The target comes from a chart, so it is untrusted (server-side request forgery): only http and https,
no redirect followed, a bounded time and answer, and only hosts :class:`HTTPSends` allows. The default
allows loopback hosts only; name the hosts an application posts to, or ``HTTPSends(allow=())`` to send
none. The receiving side is the server's ``POST /v1/basichttp/{machine}/{name}`` (server/basichttp.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from interlock.core.events import Event
from interlock.core.execute import HTTP_POST
from interlock.runtime.retry import RetryPolicy

if TYPE_CHECKING:  # tasks.py imports the registry, which imports this module
    from interlock.runtime.tasks import Task

BASICHTTP_SERVICE = "interlock.basichttp"
EVENT_NAME_PARAM = "_scxmleventname"
LOOPBACK = ("localhost", "127.0.0.1", "::1")
MAX_RESPONSE_BYTES = 64 * 1024
MAX_URL = 2048  # characters


@dataclass(frozen=True, slots=True)
class HTTPSends:
    """Where and how a chart's Basic HTTP sends may POST.

    - ``allow``: host names (exact, lower case) or ``*.domain`` suffixes a target may name; ``"*"``
      allows any host; ``()`` refuses every send (error.communication). Default: loopback only.
    - ``timeout``: seconds one attempt may take; ``attempts``: tries before error.communication.
    - ``max_response_bytes``: the most of an answer read (the rest is not read; the answer is ignored).
    """

    allow: tuple[str, ...] = LOOPBACK
    timeout: float = 10.0
    attempts: int = 3
    max_response_bytes: int = MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        if isinstance(self.allow, str):  # type: ignore[unreachable]  # a caller without types
            raise TypeError(f"HTTPSends(allow=) is a tuple of hosts, not the string {self.allow!r}")
        if self.timeout <= 0 or self.attempts < 1 or self.max_response_bytes < 0:
            raise ValueError("HTTPSends needs timeout > 0, attempts >= 1 and max_response_bytes >= 0")

    def policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.attempts, backoff=1.0, timeout=self.timeout + 5.0)

    def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be posted to, or None."""
        if len(url) > MAX_URL:
            return f"the target URL is {len(url):,} characters long, more than {MAX_URL}"
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError as exc:
            return f"the target {url!r} is not a URL: {exc}"
        if parts.scheme not in ("http", "https") or not host:
            return f"the target {url!r} is not an http(s) URL with a host"
        if parts.username or parts.password:
            return "the target URL carries credentials, which a chart may not send"
        if not self.allows(host):
            allowed = ", ".join(self.allow) or "none"
            return (f"host {host!r} is not one this process sends to (allowed: {allowed}); "
                    "configure Interlock(http_sends=HTTPSends(allow=(...)))")
        return None

    def allows(self, host: str) -> bool:
        for pattern in self.allow:
            if pattern == "*" or host == pattern.lower():
                return True
            if pattern.startswith("*.") and host.endswith(pattern[1:].lower()):
                return True
        return False


def request_of(event: Event, url: str) -> tuple[str, bytes, str]:
    """``(url, body, content type)`` of the POST that carries ``event`` (see the module's docstring)."""
    name = [] if event.name == HTTP_POST else [(EVENT_NAME_PARAM, event.name)]
    data = event.data
    if data is None or isinstance(data, dict):
        fields = name + [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in (data or {}).items()]
        return url, urlencode(fields).encode(), "application/x-www-form-urlencoded"
    if name:
        url += ("&" if urlsplit(url).query else "?") + urlencode(name)
    if isinstance(data, str):
        return url, data.encode(), "text/plain; charset=utf-8"
    return url, json.dumps(data).encode(), "application/json"


def post_event(policy: HTTPSends, task: Task) -> dict[str, Any]:
    """The task: POST the event once; ``{"status": code}`` on a 2xx answer, else raise (retried)."""
    import httpx

    target = str(task.input["url"])
    refused = policy.refusal(target)  # checked at dispatch too; the policy may have changed since
    if refused is not None:
        raise PermissionError(refused)
    url, body, content_type = request_of(Event.from_json(task.input["event"]), target)
    headers = {"Content-Type": content_type, "Idempotency-Key": task.key}
    with httpx.Client(timeout=policy.timeout, follow_redirects=False) as client, \
            client.stream("POST", url, content=body, headers=headers) as response:
        read = 0
        for chunk in response.iter_bytes():
            read += len(chunk)
            if read >= policy.max_response_bytes:
                break  # the answer is not used: stop reading it
        if not 200 <= response.status_code < 300:
            raise ConnectionError(f"POST {url} answered {response.status_code}")
        return {"status": response.status_code}


def communication_error(task_key: str, input: dict[str, Any], message: str) -> Event:
    """What a send that could not be delivered raises in its sender (SCXML 6.2.4)."""
    event = input.get("event") or {}
    return Event("error.communication", {"message": message, "target": input.get("url"),
                                         "event": event.get("name")}, "platform", event.get("sendid"))
