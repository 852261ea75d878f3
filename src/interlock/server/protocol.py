"""uvicorn's httptools protocol, answering with one socket write per response instead of two.

uvicorn writes a response's head (status line and headers) as soon as the app sends
``http.response.start``, and its body with the next message: two ``write`` system calls per answer, two
packets, and two wake-ups of the client, where the head alone is of no use to it. Here a head waits for
what follows it and goes out with it in one write; if nothing follows within the loop's current
iteration (a stream that sends its head, then its body later), the head goes out alone at the end of
that iteration, as a head's own write would have. The bytes on the wire, and their order, are the same.

Measured under the server benchmark's load (docs/benchmarks.md, "Server"): ``strace`` counted 1.94
``write`` calls per answered send before, one after.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` over a transport that holds a response head for its body."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadHoldingTransport(transport, self.loop))  # type: ignore[arg-type]


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
