"""``interlock serve --processes N``: N server processes on one port and one SQLite store. Every event sent
through any of them is applied once; a live subscriber of one process receives the changes the other
commits; SIGTERM stops them all; a setting that cannot work fails before any process starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.server.support import Server, free_port, running

T = TypeVar("T")
pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="reads /proc (Linux)")


def children(server: Server) -> list[int]:
    """The server processes uvicorn's supervisor started (not multiprocessing's resource tracker)."""
    pid = server.process.pid
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def connections(pid: int, port: int) -> int:
    """Established TCP connections of process ``pid`` on the server's ``port``."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


def spread(server: Server, connect_one: Callable[[], T], most: int = 60) -> list[T]:
    """Open connections (``connect_one()``) until every server process holds one; returns them."""
    opened: list[T] = []
    pids = children(server)
    assert len(pids) == 2, pids
    while not all(connections(pid, server.port) for pid in pids):
        assert len(opened) < most, f"{most} connections all went to one process"
        opened.append(connect_one())
    return opened


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Server]:
    with running(f"sqlite:///{tmp_path / 'two.db'}", env={"INTERLOCK_PROCESSES": "2"},
                 log=tmp_path / "server.log") as server:
        deadline = time.monotonic() + 60
        while len(children(server)) < 2:  # the second may still be starting when the first answers
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        yield server


def test_events_sent_through_both_processes_are_each_applied_once(two: Server) -> None:
    with ExitStack() as stack:

        def client() -> httpx.Client:
            connected = stack.enter_context(httpx.Client(base_url=two.url, timeout=30))
            connected.get("/v1/health")  # connected: the kernel gave the connection to one of the processes
            return connected

        pool = spread(two, client)
        pool += [client() for _ in range(8 - len(pool))]
        doors = [f"d{i}" for i in range(len(pool))]
        for door in doors:
            assert two.client.post("/v1/machines/door/instances", json={"name": door}).status_code == 201
        failures: list[str] = []

        def open_and_close(client: httpx.Client, door: str) -> None:
            for _ in range(15):
                for event in ("OPEN", "CLOSE"):
                    answer = client.post(f"/v1/machines/door/instances/{door}/events", json={"type": event})
                    if answer.status_code != 200:
                        failures.append(f"{door} {event}: {answer.status_code} {answer.text}")

        threads = [threading.Thread(target=open_and_close, args=(c, d)) for c, d in zip(pool, doors, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
    for door in doors:
        instance = two.client.get(f"/v1/machines/door/instances/{door}").json()
        assert (instance["state"], instance["context"]["opened"], instance["step"]) == (["door.closed"], 15, 30)


def test_a_subscriber_of_either_process_receives_every_change(two: Server) -> None:
    assert two.client.post("/v1/machines/door/instances", json={"name": "front"}).status_code == 201
    url = two.url.replace("http://", "ws://") + "/v1/subscribe"
    with ExitStack() as stack:

        def subscriber() -> ClientConnection:
            ws = stack.enter_context(connect(url, open_timeout=30))
            ws.send(json.dumps({"subscribe": {"machine": "door", "instances": ["front"]}}))
            assert "subscribed" in json.loads(ws.recv(timeout=30))
            return ws

        subscribers = [subscriber(), *spread(two, subscriber)]
        for event in ("OPEN", "CLOSE") * 3:  # each through a new connection: either process commits it
            answer = httpx.post(f"{two.url}/v1/machines/door/instances/front/events", json={"type": event},
                                timeout=30)
            assert answer.status_code == 200, answer.text
        for ws in subscribers:
            received = [json.loads(ws.recv(timeout=30)) for _ in range(6)]
            assert [c["step"] for c in received] == [1, 2, 3, 4, 5, 6]


def test_sigterm_stops_every_process(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = Server(f"sqlite:///{tmp_path / 's.db'}", env={"INTERLOCK_PROCESSES": "2"}, log=log)
    deadline = time.monotonic() + 60
    while len(children(server)) < 2:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    pids = children(server)
    server.stop()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert log.read_text().count("interlock closed: leases released") == 2, log.read_text()[-3000:]


def test_a_bad_setting_fails_before_any_process_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    interlock = str(Path(sys.executable).parent / "interlock")
    done = subprocess.run([interlock, "serve", "--dev", "--processes", "2", "--db", f"sqlite:///{tmp_path / 'b.db'}",
                           "--load", str(tmp_path / "missing.yaml")], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 1
    assert "missing.yaml" in done.stderr
    assert "Started server process" not in done.stderr + done.stdout
    refused = subprocess.run([interlock, "serve", "--dev", "--processes", "0"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert refused.returncode == 2 and "processes must be at least 1" in refused.stderr



def test_a_process_that_fails_at_start_stops_them_all(tmp_path: Path) -> None:
    app = tmp_path / "flaky.py"
    app.write_text("import multiprocessing\n\n\n"
                   "def setup(app):\n"
                   "    if multiprocessing.parent_process() is not None:  # a server process, not the first build\n"
                   "        raise RuntimeError('the payment service is down')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    interlock = str(Path(sys.executable).parent / "interlock")
    done = subprocess.run([interlock, "serve", "--dev", "--processes", "2", "--port", str(free_port()),
                           "--db", f"sqlite:///{tmp_path / 'f.db'}", "--app", str(app)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "the payment service is down" in done.stderr
    assert "failed to start" in done.stderr
