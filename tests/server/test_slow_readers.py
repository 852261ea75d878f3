"""A client that stops reading does not keep its connection: once it has read nothing for
``write_timeout`` seconds while a response waits to be sent, the server aborts the connection (before,
a live stream's task waited to write forever, the subscription's place and the socket with it).
Real server on loopback; the client's socket is watched through the kernel (TCP_INFO), never read."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.support import Server, running

BLOB = """
initial: idle
context: {blob: ""}
states:
  idle:
    "on":
      SET: {actions: {assign: {blob: "event.blob"}}}
"""
ESTABLISHED = 1  # tcpi_state, the first byte of struct tcp_info (linux/tcp.h)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running(f"sqlite:///{tmp_path / 's.db'}", log=tmp_path / "s.log",
                 env={"INTERLOCK_WRITE_TIMEOUT": "1"}) as found:
        yield found


def _state(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def _until_closed(server: Server, quiet: socket.socket) -> int:
    """Send changes of 200 KB each (a few dozen fill any buffer between the server and a client that
    reads nothing) until the server has closed ``quiet``; how many were sent. Whether the close comes
    before the 200th change depends on how fast they are sent against ``write_timeout``, so only the close
    is asserted: the old server kept such a connection until the deadline here (120 s) and beyond."""
    sent = 0
    deadline = time.monotonic() + 120
    while _state(quiet) == ESTABLISHED:
        assert time.monotonic() < deadline, f"the server kept the connection of a client that read nothing " \
                                            f"after {sent} changes of 200 KB"
        if sent < 200:
            answer = server.client.post("/v1/machines/blob/instances/b/events?wait=false",
                                        json={"type": "SET", "blob": chr(97 + sent % 26) * 200_000})
            assert answer.status_code in (200, 202), answer.text
            sent += 1
        else:
            time.sleep(0.1)
    return sent


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="TCP_INFO is Linux's")
def test_a_stream_whose_client_reads_nothing_is_closed_by_the_server(server: Server) -> None:
    c = server.client
    assert c.put("/v1/machines/blob/versions/1", content=BLOB,
                 headers={"content-type": "application/yaml"}).status_code == 201
    assert c.post("/v1/machines/blob/instances", json={"name": "b"}).status_code == 201
    quiet = socket.socket()
    quiet.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's buffers fill
    quiet.connect(("127.0.0.1", server.port))
    quiet.sendall(b"GET /v1/machines/blob/instances/b/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    try:
        _until_closed(server, quiet)  # else its deadline fails the test
    finally:
        quiet.close()
    assert "read nothing for 1 s (write_timeout)" in server.output()
    assert c.get("/v1/health").status_code == 200


def _read_slowly(port: int, path: str) -> tuple[int, int]:
    """GET ``path`` on a socket that reads 32 KiB every 20 ms (some 1.6 MB/s, steadily); the answer's
    Content-Length and how many of its bytes arrived before the answer ended or the server closed."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # before connecting: the window it offers
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        got = b""
        while b"\r\n\r\n" not in got:
            got += sock.recv(65536)
        head, body = got.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        received = len(body)
        while received < length:
            try:
                chunk = sock.recv(32768)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += len(chunk)
            time.sleep(0.02)
        return length, received


def test_a_client_that_reads_a_large_answer_slowly_gets_all_of_it(server: Server) -> None:
    """A client that reads steadily keeps its connection however long a large answer (a page of 8 MB of
    history) takes to send it: write_timeout is for a client that reads nothing. Before, a connection whose
    buffer stayed over its low-water mark for write_timeout seconds was reset, reading or not (here after
    some 1 s, with a few MB of the answer sent)."""
    c = server.client
    assert c.put("/v1/machines/blob/versions/1", content=BLOB,
                 headers={"content-type": "application/yaml"}).status_code == 201
    assert c.post("/v1/machines/blob/instances", json={"name": "big"}).status_code == 201
    for i in range(20):
        answer = c.post("/v1/machines/blob/instances/big/events", json={"type": "SET", "blob": chr(97 + i) * 200_000})
        assert answer.status_code == 200, answer.text
    length, received = _read_slowly(server.port, "/v1/machines/blob/instances/big/history?limit=100")
    assert length > 8_000_000
    assert received == length
    assert "write_timeout" not in server.output()


@pytest.mark.skipif(not hasattr(socket, "TCP_INFO"), reason="TCP_INFO is Linux's")
def test_a_websocket_whose_client_reads_nothing_is_closed_by_the_server(server: Server) -> None:
    """The same for a WebSocket subscriber, whose connection uvicorn's WebSocket protocol owns after the
    upgrade. Before, it kept its socket for good: dropped as too slow, its close frame waited for the
    buffer to drain (still ESTABLISHED after 200 changes of 200 KB)."""
    from tests.server.test_live import silent_subscriber

    c = server.client
    assert c.put("/v1/machines/blob/versions/1", content=BLOB,
                 headers={"content-type": "application/yaml"}).status_code == 201
    assert c.post("/v1/machines/blob/instances", json={"name": "b"}).status_code == 201
    with silent_subscriber(server, {"subscribe": {"machine": "blob"}}) as (quiet, _protocol):
        _until_closed(server, quiet)  # else its deadline fails the test
    assert "read nothing for 1 s (write_timeout)" in server.output()
    assert c.get("/v1/health").status_code == 200
