"""Follow the change feed over ``WS /v1/subscribe``, reconnecting and resuming where it left off.

The client asks for one machine (and optionally some of its instances) after a feed position, or from
now when it gives none::

    {"subscribe": {"machine": "order", "instances": ["o-1"]}, "after": 41}

The server acknowledges with ``{"subscribed": {..., "after": position}}`` (where it starts) and sends a
message per committed step with its ``position`` (positions order every step of the database) and the
instance. After a lost connection, or when the server drops a subscriber too slow for its changes, the
client subscribes again after the last position it saw, so a change is neither lost nor yielded twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from interlock.client.errors import ServerError, UnreachableError, error_from
from interlock.client.models import RemoteChange, change_of
from interlock.errors import InterlockError

MAX_BACKOFF = 5.0  # seconds between reconnection attempts, at most
MAX_MESSAGE = 1 << 20  # bytes of one message


def ws_url(base_url: str) -> str:
    """``http://h:8000`` -> ``ws://h:8000/v1/subscribe`` (``https`` -> ``wss``)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://") + "/v1/subscribe"
    if base_url.startswith("http://"):
        return "ws://" + base_url.removeprefix("http://") + "/v1/subscribe"
    raise ValueError(f"the server URL must start with http:// or https://, not {base_url!r}")


async def subscribe(base_url: str, headers: Mapping[str, str], machine: str, *,
                    instances: Sequence[str] = (), after: int | None = None, reconnect: bool = True,
                    retries: int | None = None) -> AsyncGenerator[RemoteChange, None]:
    """Yield every change of ``machine`` (or of ``instances``) after position ``after`` (None: from now),
    as it commits.

    With ``reconnect`` a lost connection is opened again (``retries`` times in a row, forever if None)
    and resumed after the last change yielded. A refusal (401, 403, 404) is raised, never retried."""
    position, failures = after, 0
    auth = {k: v for k, v in headers.items() if k.lower() == "authorization"}
    wanted: dict[str, Any] = {"machine": machine}
    if instances:
        wanted["instances"] = list(instances)
    while True:
        try:
            async with connect(ws_url(base_url), additional_headers=auth, max_size=MAX_MESSAGE, open_timeout=10,
                               user_agent_header=headers.get("User-Agent")) as ws:
                await ws.send(json.dumps({"subscribe": wanted, "after": position}))
                async for raw in ws:
                    message = _message(raw)
                    failures = 0
                    if position is None and isinstance(message.get("subscribed"), Mapping):
                        position = message["subscribed"].get("after")  # from now: where now was
                    change = _change(message)
                    if change is not None and (position is None or change.position > position):
                        position = change.position
                        yield change
            if not reconnect:
                return
        except InvalidStatus as exc:
            refusal = _refusal(exc)
            if not isinstance(refusal, ServerError):
                raise refusal from exc
            failures += 1  # the server failed (5xx, as while it restarts): like a lost connection
            if not reconnect or (retries is not None and failures > retries):
                raise UnreachableError(f"the change feed at {ws_url(base_url)} failed: {refusal}") from exc
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
            failures += 1
            if not reconnect or (retries is not None and failures > retries):
                raise UnreachableError(f"the change feed at {ws_url(base_url)} was lost: {type(exc).__name__}: "
                                       f"{exc}") from exc
        await asyncio.sleep(min(MAX_BACKOFF, 0.1 * 2**failures))


def _message(raw: str | bytes) -> Mapping[str, Any]:
    """One message as a mapping; an error message (a refused subscription) is raised."""
    message: Any = json.loads(raw)
    if not isinstance(message, Mapping):
        return {}
    if isinstance(message.get("error"), Mapping):
        raise error_from(int(message["error"].get("status") or 500), message)
    return message


def _change(message: Mapping[str, Any]) -> RemoteChange | None:
    """The change a message carries; None for the server's other messages (the acknowledgement)."""
    if "position" in message and "machine" in message:
        return change_of(message)
    return None


def _refusal(exc: InvalidStatus) -> InterlockError:
    response = exc.response
    try:
        body: Any = json.loads(response.body or b"")
    except ValueError:
        body = (response.body or b"").decode(errors="replace")
    return error_from(response.status_code, body)
