"""The transport that holds a response head for its body (server/protocol.py), over a real loopback
connection: the same bytes in the same order, a lone head still goes out, and closing sends what is
held."""

from __future__ import annotations

import asyncio

from interlock.server.protocol import HeadHoldingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


async def _exchange(writes: list[bytes], *, close: bool) -> bytes:
    """What a client reads from a server that makes ``writes`` through the holding transport."""
    loop = asyncio.get_running_loop()

    class Writing(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            held = HeadHoldingTransport(transport, loop)  # type: ignore[arg-type]
            for data in writes:
                held.write(data)
            if close:
                held.close()

    server = await loop.create_server(Writing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    expected = sum(len(w) for w in writes)
    received = b""
    while len(received) < expected:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        if not chunk:
            break
        received += chunk
    writer.close()
    server.close()
    await server.wait_closed()
    return received


def test_a_head_goes_out_with_its_body_in_order() -> None:
    writes = [HEAD, b"{}", b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n", b""]
    assert asyncio.run(_exchange(writes, close=False)) == b"".join(writes)


def test_a_head_without_a_body_yet_still_goes_out() -> None:
    # a stream sends its head and its body later: the head is not kept waiting for it
    assert asyncio.run(_exchange([HEAD], close=False)) == HEAD


def test_closing_sends_what_is_held_first() -> None:
    assert asyncio.run(_exchange([b"not a head", HEAD], close=True)) == b"not a head" + HEAD
