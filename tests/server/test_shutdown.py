"""Stopping a server (SIGTERM, Ctrl-C) while events are in flight: every event it acknowledged (200, or
202 for ?wait=false) is in the history when a server starts again on the database."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.server.support import Server, running


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_every_acknowledged_event_survives_a_stop(store_url: str, tmp_path: Path, sig: int) -> None:
    server = Server(store_url, log=tmp_path / "first.log")
    server.client.post("/v1/machines/door/instances", json={"name": "d"})
    acknowledged: list[str] = []
    enough = threading.Event()
    lock = threading.Lock()

    def sender(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(10_000):
                key = f"w{worker}-{n}"
                wait = "false" if n % 3 == 0 else "true"
                try:
                    answer = client.post("/v1/machines/door/instances/d/events", params={"wait": wait},
                                         json={"type": "OPEN" if n % 2 else "CLOSE"},
                                         headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    return  # the server stopped accepting
                if answer.status_code in (200, 202):
                    with lock:
                        acknowledged.append(key)
                        if len(acknowledged) >= 60:
                            enough.set()
                elif answer.status_code != 503:
                    raise AssertionError(answer.text)

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(120), server.output()
    # uvicorn shuts down gracefully, then raises the signal again to exit by it
    assert server.stop(sig) in (0, -sig), server.output()
    for thread in threads:
        thread.join(60)
    with running(store_url, log=tmp_path / "second.log") as again:
        keys: set[str] = set()
        cursor: str | None = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = again.client.get("/v1/machines/door/instances/d/history", params=params).json()
            keys.update(e["idempotency_key"] for e in page["items"] if e["idempotency_key"])
            cursor = page["next"]
            if cursor is None:
                break
    missing = set(acknowledged) - keys
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged events were lost: {sorted(missing)[:5]}"
    assert "interlock closed" in server.output()


def test_an_event_answered_202_survives_a_sigkill(store_url: str, tmp_path: Path) -> None:
    """?wait=false answers once the event is committed: killing the server right after loses none."""
    server = Server(store_url, log=tmp_path / "first.log")
    server.client.post("/v1/machines/door/instances", json={"name": "d"})
    acknowledged: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for n in range(200):
                key = f"k{n}"
                answer = client.post("/v1/machines/door/instances/d/events", params={"wait": "false"},
                                     json={"type": "OPEN" if n % 2 == 0 else "CLOSE"},
                                     headers={"Idempotency-Key": key})
                assert answer.status_code == 202, answer.text
                acknowledged.append(key)
    finally:
        server.stop(signal.SIGKILL)  # at once, after the last answer: nothing gets to finish
    with running(store_url, log=tmp_path / "second.log") as again:
        page = again.client.get("/v1/machines/door/instances/d/history", params={"limit": 1000}).json()
    keys = {e["idempotency_key"] for e in page["items"]}
    missing = [k for k in acknowledged if k not in keys]
    assert not missing, f"{len(missing)} of {len(acknowledged)} events answered 202 were lost: {missing[:5]}"
