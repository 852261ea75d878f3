"""The server benchmark's Interlock side: ``interlock serve`` as a real process on a free loopback
port over a fresh SQLite file (or a PostgreSQL database), serving the counter below; 1,000 instances;
afterwards every instance is read back and must show exactly one step per answered event.

Authenticated as a deployment is: an admin API key is created in the database first (``interlock keys
create --admin``), the server runs without ``--dev``, and every request carries ``Authorization: Bearer
KEY`` (:attr:`Served.headers`), so the figures include verifying it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.server_load import LoadRequest, Tally

# INC {by} is guarded by ``event.by > 0`` and assigns the count, the number of increments and the
# time the sender stamped in the event (the live fan-out reads it back at the subscriber).
COUNTER = """
id: counter
initial: active
context: {count: 0, n: 0, at: 0}
states:
  active:
    on:
      INC:
        guard: event.by > 0
        actions: {assign: {count: count + event.by, n: n + 1, at: event.at}}
"""
MACHINE = "counter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """One running ``interlock serve``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    key: str  # an admin API key of its database

    @property
    def headers(self) -> dict[str, str]:
        """What every request to it carries: the admin key as a bearer credential."""
        return {"Authorization": f"Bearer {self.key}"}

    def __repr__(self) -> str:
        return f"Served({self.url}, pid={self.process.pid})"


@contextmanager
def serving(folder: Path, db: str, *, extra_env: dict[str, str] | None = None, processes: int = 1) -> Iterator[Served]:
    """``interlock serve --processes N`` on ``db`` with the counter loaded and an admin key, until the block
    ends (SIGTERM)."""
    machine = folder / "counter.yaml"
    machine.write_text(COUNTER)
    port = free_port()
    log = folder / f"interlock-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    env |= {"INTERLOCK_RATE": "0"}  # the per-client rate limit would refuse a load generator
    env |= {"INTERLOCK_ACCESS_LOG": os.environ.get("INTERLOCK_BENCH_ACCESS_LOG", "false")}  # as the peers
    env |= extra_env or {}
    interlock = str(Path(sys.executable).parent / "interlock")
    key = admin_key(interlock, db, env)
    command = [interlock, "serve", "--db", db, "--host", "127.0.0.1", "--port", str(port), "--load", str(machine),
               "--processes", str(processes)]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", process, log, key)
    try:
        _wait_ready(served)
        yield served
    finally:
        stop(process, grace=60)


def stop(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``grace`` seconds (every side's processes)."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def admin_key(interlock: str, db: str, env: dict[str, str]) -> str:
    """A new admin API key in ``db`` (``interlock keys create --admin``: the key is its last line)."""
    done = subprocess.run([interlock, "keys", "create", "--admin", "--label", "bench", "--db", db], env=env,
                          capture_output=True, text=True, timeout=120)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"interlock keys create --admin exited with {done.returncode}: {done.stderr[-2000:]}")
    return lines[-1]


def _wait_ready(served: Served) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"interlock serve exited with {served.process.returncode}: "
                               f"{served.log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{served.url}/v1/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"interlock serve did not answer within 60 s: {served.log.read_text(errors='replace')[-2000:]}")


def name(i: int) -> str:
    return f"c{i}"


async def create_instances(served: Served, count: int, *, concurrency: int = 32) -> None:
    """``count`` counters, ``c0`` ... (created over HTTP, ``concurrency`` at a time)."""
    async with aiohttp.ClientSession(served.url, headers=served.headers) as session:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate, session.post(f"/v1/machines/{MACHINE}/instances", json={"name": name(i)}) as r:
                if r.status != 201:
                    raise RuntimeError(f"creating {name(i)} answered {r.status}: {await r.text()}")

        await asyncio.gather(*(one(i) for i in range(count)))


def request_for(count: int, path: str = f"/v1/machines/{MACHINE}/instances/{{key}}/events",
                **fixed: Any) -> LoadRequest:
    """The load generator's request, the same for every side: INC {by: 1-3, at: now} to a random one of
    ``count`` keys, POSTed to ``path`` (``{key}`` in it) with ``fixed`` fields in the body (Interlock's
    ``type``)."""
    return LoadRequest(count, path, fixed)


async def read_all(served: Served) -> dict[str, dict[str, Any]]:
    """Every counter instance, by id (paged through the list route)."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    async with aiohttp.ClientSession(served.url, headers=served.headers) as session:
        while True:
            params = {"limit": "500"} | ({"cursor": cursor} if cursor else {})
            async with session.get(f"/v1/machines/{MACHINE}/instances", params=params) as r:
                page = await r.json()
            found |= {item["id"]: item for item in page["items"]}
            cursor = page["next"]
            if cursor is None:
                return found


def recorded(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> tuple[dict[str, Tally], list[str]]:
    """Per counter, the increments (``n``) it recorded between two readings and the sum of ``by`` it
    added; and a problem for each counter whose steps differ from its increments (a step that did not
    increment, or an increment without a step)."""
    tallies, problems = {}, []
    for key, item in after.items():
        steps = item["step"] - before[key]["step"]
        n = item["context"]["n"] - before[key]["context"]["n"]
        tallies[key] = Tally(n, item["context"]["count"] - before[key]["context"]["count"])
        if steps != n:
            problems.append(f"{key}: {steps} steps but {n} increments")
    return tallies, problems
