"""The server benchmark's live fan-out: many WebSocket subscribers to the counter machine on one
``interlock serve``; changes are sent one after another, and each subscriber takes, on receipt, the time
since the change committed (the change's ``at``) and since it was sent (``at`` the sender stamped in the
event data, which the counter assigns to its context). Same machine, same clock: no skew to correct.

The subscribers are all in one process: Node.js with the npm package ``ws`` (bench/server_live_client.mjs,
installed into ``bench/.cache/live`` on first use) when Node.js and npm are here, else this Python process
(the ``websockets`` client). The time a subscriber measures includes its wait for that process's turn at
the CPU, which the server under test shares on 2 cores; a Python client takes several times longer than
Node's to take in each frame, so with it the figure is further from what remote subscribers would see.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench import server_interlock as ours

WS_VERSION = "8.23.1"
NODE_CLIENT = Path(__file__).parent / "server_live_client.mjs"
NODE_MODULES = Path(__file__).parent / ".cache" / "live" / "node_modules"
GAP = 0.05  # seconds between two changes sent: each fans out before the next (SQLite's feed polls at 50 ms)


def run(folder: Path, size: dict, *, processes: int = 1) -> list[str]:
    subscribers, changes = size["subscribers"], size["changes"]
    db = f"sqlite:///{folder / 'live.db'}"
    env = {"INTERLOCK_LIVE_MAX_SUBSCRIBERS": str(subscribers)}
    with ours.serving(folder, db, extra_env=env, processes=processes) as served:
        asyncio.run(ours.create_instances(served, 10))
        if node_client():
            client = "Node.js ws"
            from_commit, from_send, missing = asyncio.run(_fan_out_node(served, subscribers, changes))
        else:
            client = "Python websockets"
            from_commit, from_send, missing = asyncio.run(_fan_out(served, subscribers, changes))
    lines = [f"live      {subscribers:,} WebSocket subscribers ({client}, one process) to one machine on one server "
             f"(interlock serve --processes {processes}) "
             f"over SQLite, {changes} changes {GAP * 1e3:.0f} ms apart; each subscriber times every change it receives"]
    if not from_commit:
        return [*lines, "live      no change received"]
    p50, p99 = _pct(from_commit, 0.5), _pct(from_commit, 0.99)
    lines.append(f"live      commit -> receipt p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms "
                 f"(target p99 < {100:.0f} ms: {'MET' if p99 < 0.1 and not missing else 'BELOW'}); "
                 f"send -> receipt p50 {_pct(from_send, 0.5) * 1e3:.1f} ms, p99 {_pct(from_send, 0.99) * 1e3:.1f} ms; "
                 f"{len(from_commit):,} receipts, {missing:,} missing")
    return lines


async def _fan_out(served: ours.Served, subscribers: int, changes: int) -> tuple[list[float], list[float], int]:
    url = served.url
    ws_url = url.replace("http://", "ws://") + "/v1/subscribe"
    from_commit: list[float] = []
    from_send: list[float] = []
    ready = asyncio.Event()
    subscribed = 0

    async def subscriber() -> int:
        nonlocal subscribed
        got = 0
        async with connect(ws_url, max_size=2**20, open_timeout=60, additional_headers=served.headers) as ws:
            await ws.send(orjson.dumps({"subscribe": {"machine": ours.MACHINE}}).decode())
            await _expect_subscribed(ws)
            subscribed += 1
            if subscribed == subscribers:
                ready.set()
            while got < changes:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=30)
                except TimeoutError:
                    break
                now = time.time()
                change = orjson.loads(raw)
                from_commit.append(now - change["at"])
                from_send.append(now - change["instance"]["context"]["at"])
                got += 1
        return got

    async def sender() -> None:
        await ready.wait()
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=served.headers) as client:
            for k in range(changes):
                body = {"type": "INC", "by": 1, "at": time.time()}
                r = await client.post(f"/v1/machines/{ours.MACHINE}/instances/{ours.name(k % 10)}/events", json=body)
                r.raise_for_status()
                await asyncio.sleep(GAP)

    tasks = [asyncio.create_task(subscriber()) for _ in range(subscribers)]
    sending = asyncio.create_task(sender())
    got = await asyncio.gather(*tasks)
    await sending
    return from_commit, from_send, subscribers * changes - sum(got)


def node_client() -> bool:
    """Whether the Node.js subscribers can run (installing ``ws`` with npm on first use)."""
    if shutil.which("node") is None or os.environ.get("INTERLOCK_BENCH_LIVE_CLIENT") == "python":
        return False
    if not (NODE_MODULES / "ws").exists():
        if shutil.which("npm") is None:
            return False
        NODE_MODULES.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_MODULES.parent),
                               f"ws@{WS_VERSION}"], capture_output=True, text=True)
        if done.returncode != 0:
            return False
    return True


async def _fan_out_node(served: ours.Served, subscribers: int, changes: int) -> tuple[list[float], list[float], int]:
    ws_url = served.url.replace("http://", "ws://") + "/v1/subscribe"
    process = await asyncio.create_subprocess_exec(
        "node", str(NODE_CLIENT), ws_url, ours.MACHINE, str(subscribers), str(changes),
        served.headers["Authorization"], stdout=asyncio.subprocess.PIPE, limit=2**28,
        env=os.environ | {"INTERLOCK_BENCH_WS_MODULES": str(NODE_MODULES)})
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if line.strip() != b"ready":
            raise RuntimeError(f"the Node.js subscribers did not subscribe: {line[:500]!r}")
        async with httpx.AsyncClient(base_url=served.url, timeout=60, headers=served.headers) as client:
            for k in range(changes):
                body = {"type": "INC", "by": 1, "at": time.time()}
                r = await client.post(f"/v1/machines/{ours.MACHINE}/instances/{ours.name(k % 10)}/events", json=body)
                r.raise_for_status()
                await asyncio.sleep(GAP)
        result = json.loads(await asyncio.wait_for(process.stdout.readline(), timeout=120))
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    return result["from_commit"], result["from_send"], result["missing"]


async def _expect_subscribed(ws: ClientConnection) -> None:
    first: Any = orjson.loads(await asyncio.wait_for(ws.recv(), timeout=60))
    if "subscribed" not in first:
        raise RuntimeError(f"the server refused the subscription: {first}")


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

