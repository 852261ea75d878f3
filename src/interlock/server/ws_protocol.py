"""uvicorn's WebSocket protocol (websockets' sans-I/O one), aborted once its client has read nothing for
``write_timeout`` seconds while frames wait to be sent, as HTTP answers are (server/protocol.py).

After the upgrade this protocol owns the connection, so the HTTP protocol's timer no longer runs. Without
it, a subscriber that stopped reading kept its socket and task for good: dropped as too slow, its close
frame waited for the buffer to drain, and the keepalive's timeout (a ``close()``) waited for it too.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from interlock.server.protocol import StallAborting, StallTimer


class StallAbortingWebSocketProtocol(StallAborting, WebSocketsSansIOProtocol):
    """:class:`WebSocketsSansIOProtocol` with a :class:`StallTimer` of ``write_timeout`` seconds."""

    def __init__(self, *args: Any, write_timeout: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stall = StallTimer(write_timeout)


def ws_with_write_timeout(seconds: float) -> Callable[..., asyncio.Protocol]:
    """uvicorn's ``ws`` protocol class with ``write_timeout`` set (a partial: it pickles)."""
    return functools.partial(StallAbortingWebSocketProtocol, write_timeout=seconds)
