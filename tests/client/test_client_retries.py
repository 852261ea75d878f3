"""Retries after a lost answer, through a loopback relay that delivers the first request to the server and
drops its answer (as a network failing at the worst moment would)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from interlock import ConflictError
from interlock.client import Client, UnreachableError
from tests.server.support import Server


class LosingRelay:
    """Relays TCP to ``port``; the answers of the first ``lose`` connections are dropped."""

    def __init__(self, port: int, lose: int = 1) -> None:
        self.port, self.lose, self.connections = port, lose, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                self.connections += 1
                upstream = socket.create_connection(("127.0.0.1", self.port))
                losing = self.connections <= self.lose
                threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
                threading.Thread(target=self._pump, args=(upstream, client, losing), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, losing: bool) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if losing:  # the server answered: the answer never arrives
                    break
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def relay(server: Server) -> Iterator[LosingRelay]:
    found = LosingRelay(server.port)
    yield found
    found.close()


def test_a_send_whose_answer_was_lost_is_retried_and_applied_once(server: Server, relay: LosingRelay) -> None:
    with Client(server.url) as direct:
        direct.create("door", "d1")
    with Client(relay.url) as client:
        result = client.send("door", "d1", "OPEN")  # the first try was applied; its answer was lost
        assert result.duplicate and result.outcome == "applied" and result.step == 1
        assert relay.connections == 2
        assert client.get("door", "d1").context["opened"] == 1


def test_a_create_whose_answer_was_lost_is_retried_and_answered_with_the_instance_it_made(
        server: Server, relay: LosingRelay) -> None:
    with Client(relay.url) as client:
        made = client.create("door", "d1", input={"opened": 3})  # the first try created it; its answer was lost
        assert (made.id, made.step, made.context["opened"]) == ("d1", 0, 3)
        assert relay.connections == 2
        with pytest.raises(ConflictError):  # a new create (another key) of the taken name
            client.create("door", "d1")
        assert [e.outcome for e in client.history("door", "d1").items] == ["started"]


def test_reads_are_retried_until_the_retries_are_spent(server: Server) -> None:
    relay = LosingRelay(server.port, lose=3)
    try:
        with Client(server.url) as direct:
            direct.create("door", "d1")
        with Client(relay.url, retries=2) as client, pytest.raises(UnreachableError):
            client.get("door", "d1")
        assert relay.connections == 3
        with Client(relay.url, retries=2) as client:
            assert client.get("door", "d1").id == "d1"  # the fourth connection relays
    finally:
        relay.close()
