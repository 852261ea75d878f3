"""uvicorn's httptools protocol, answering with one socket write per response instead of two.

uvicorn writes a response's head (status line and headers) as soon as the app sends
``http.response.start``, and its body with the next message: two ``write`` system calls per answer, two
packets, and two wake-ups of the client, where the head alone is of no use to it. Here a head waits for
what follows it and goes out with it in one write; if nothing follows within the loop's current
iteration (a stream that sends its head, then its body later), the head goes out alone at the end of
that iteration, as a head's own write would have. The bytes on the wire, and their order, are the same.

Measured under the server benchmark's load (docs/benchmarks.md, "Server"): ``strace`` counted 1.94
``write`` calls per answered send before, one after.

It also drops a connection whose client stopped reading (:meth:`OneWriteHttpToolsProtocol.pause_writing`):
uvicorn waits for the transport's buffer to drain before each write, forever if the client never reads,
so a live stream (SSE) whose client went quiet held its socket, its task and, once dropped as too slow,
a blocked last write; and a transport's ``close()`` itself waits to send what is buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("interlock.server")


class StallTimer:
    """Aborts a connection whose client took nothing for ``timeout`` seconds while its transport's buffer
    was over the high-water mark (the protocol's ``pause_writing`` to its ``resume_writing``).

    A large answer to a slow link stays over the low-water mark for as long as it takes to send, which may
    be minutes: at each expiry, a buffer that shrank since the last (nothing is added while writing is
    paused: the response's task, a WebSocket's send, waits for it to drain) means the client is reading,
    however slowly, and the timer starts again. One that did not shrink is a client gone in all but name:
    abort (a ``close()`` would wait for the buffer to be sent), which ends the response's task as a
    disconnect does (a stream's subscription is closed), with a reset: the kernel's buffer for the client
    (megabytes on loopback) goes too."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._handle: asyncio.TimerHandle | None = None
        self._waiting = 0  # bytes the buffer held when the timer was last started

    def paused(self, transport: asyncio.Transport, client: tuple[str, int] | None) -> None:
        if self._handle is None:
            self._start(transport, client)

    def settled(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _start(self, transport: asyncio.Transport, client: tuple[str, int] | None) -> None:
        self._waiting = transport.get_write_buffer_size()
        self._handle = asyncio.get_running_loop().call_later(self.timeout, self._expired, transport, client)

    def _expired(self, transport: asyncio.Transport, client: tuple[str, int] | None) -> None:
        self._handle = None
        if transport.get_write_buffer_size() < self._waiting:
            self._start(transport, client)  # it read since: it keeps its connection
            return
        log.info("closed the connection of %s: it read nothing for %g s (write_timeout) while %d bytes "
                 "waited to be sent", "{}:{}".format(*client) if client else "a client", self.timeout,
                 transport.get_write_buffer_size())
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a reset, not a FIN after the kernel's buffer (which the client never reads)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


class StallAborting:
    """The hooks that run a :class:`StallTimer` on a uvicorn protocol (HTTP here, WebSocket in
    ws_protocol.py): mixed in before the protocol class, whose own hooks run as before."""

    _stall: StallTimer
    transport: Any
    client: tuple[str, int] | None

    def pause_writing(self) -> None:
        """The transport's buffer is over its high-water mark: the client reads slower than we write."""
        super().pause_writing()  # type: ignore[misc]
        self._stall.paused(self.transport, self.client)

    def resume_writing(self) -> None:
        self._stall.settled()
        super().resume_writing()  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        self._stall.settled()
        super().connection_lost(exc)  # type: ignore[misc]


class OneWriteHttpToolsProtocol(StallAborting, HttpToolsProtocol):
    """:class:`HttpToolsProtocol` over a transport that holds a response head for its body, and that is
    aborted once its client has read nothing for ``write_timeout`` seconds while more waits to be sent
    (:class:`StallTimer`); its WebSockets too (:class:`StallAbortingWebSocketProtocol`)."""

    def __init__(self, *args: Any, write_timeout: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_timeout = write_timeout  # ServerConfig.write_timeout (with_write_timeout)
        self._stall = StallTimer(write_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadHoldingTransport(transport, self.loop))  # type: ignore[arg-type]


def with_write_timeout(seconds: float) -> Callable[..., OneWriteHttpToolsProtocol]:
    """What uvicorn is given as its protocol class (it makes one per connection), with ``write_timeout``
    set; a partial of the class, which pickles (``--processes`` hands the settings to each process)."""
    return functools.partial(OneWriteHttpToolsProtocol, write_timeout=seconds)


class HeadHoldingTransport:
    """A transport whose ``write`` of a response head (``HTTP/...`` up to its blank line) is held until
    the next write, or until the end of the loop's iteration; every other method is the transport's own,
    after anything held was written."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data[:5] == b"HTTP/" and data[-4:] == b"\r\n\r\n":
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Write what is held, if anything."""
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def writelines(self, data: Any) -> None:
        self.flush()
        self._transport.writelines(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self.flush()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:  # get_extra_info, is_closing, pause_reading, set_protocol...
        return getattr(self._transport, name)
