"""Follow the change feed over ``WS /v1/subscribe``, reconnecting and resuming where it left off.

The client asks for one machine (and optionally some of its instances) after a feed position::

    {"subscribe": {"machine": "order", "instances": ["o-1"]}, "after": 41}

and receives a message per committed step with its ``position`` (positions order every step of the
database). After a dropped connection it subscribes again after the last position it yielded, so a
change is neither lost nor yielded twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from interlock.client.errors import HTTPError, UnreachableError, error_from
from interlock.client.models import RemoteChange, change_of

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
                    instances: Sequence[str] = (), after: int = 0, reconnect: bool = True,
                    retries: int | None = None) -> AsyncIterator[RemoteChange]:
    """Yield every change of ``machine`` (or of ``instances``) after position ``after``, as it commits.

    With ``reconnect`` a lost connection is opened again (``retries`` times in a row, forever if None)
    and resumed after the last change yielded. A refusal (401, 403, 404) is raised, never retried."""
    position, failures = after, 0
    request = {"subscribe": {"machine": machine, "instances": list(instances)}}
    while True:
        try:
            async with connect(ws_url(base_url), additional_headers=dict(headers), max_size=MAX_MESSAGE,
                               open_timeout=10) as ws:
                await ws.send(json.dumps({**request, "after": position}))
                async for raw in ws:
                    change = _change(raw)
                    failures = 0
                    if change is not None and change.position > position:
                        position = change.position
                        yield change
            if not reconnect:
                return
        except InvalidStatus as exc:
            raise _refusal(exc) from exc
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
            failures += 1
            if not reconnect or (retries is not None and failures > retries):
                raise UnreachableError(f"the change feed at {ws_url(base_url)} was lost: {type(exc).__name__}: "
                                       f"{exc}") from exc
        await asyncio.sleep(min(MAX_BACKOFF, 0.1 * 2**failures))


def _change(raw: str | bytes) -> RemoteChange | None:
    """A change from one message; None for the server's other messages (acknowledgements, pings).
    An error message is raised."""
    message: Any = json.loads(raw)
    if not isinstance(message, Mapping):
        return None
    if isinstance(message.get("error"), Mapping):
        error = error_from(int(message["error"].get("status") or 500), message)
        raise error
    body = message.get("change", message)
    if isinstance(body, Mapping) and "position" in body and "machine" in body:
        return change_of(body)
    return None


def _refusal(exc: InvalidStatus) -> Exception:
    response = exc.response
    try:
        body: Any = json.loads(response.body or b"")
    except ValueError:
        body = (response.body or b"").decode(errors="replace")
    error = error_from(response.status_code, body)
    if isinstance(error, HTTPError) and response.status_code >= 500:
        return UnreachableError(f"the change feed refused the connection: {error}")
    return error
