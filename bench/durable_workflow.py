"""The Interlock side of the 3-step workflow benchmark: closed loops with 1, 8 and 32 workflows in
flight, and an open loop (every workflow created at once), on one app: over a SQLite file (WAL,
``synchronous=FULL``) or a PostgreSQL URL (the server's settings; bench/postgres.py).

A workflow is finished when its instance's row says ``done`` (its last step's result and the final
state committed together). Each driver learns of it as a user would, from ``Interlock.wait`` (as DBOS's
driver runs the workflow to its result): ``Interlock.execute`` creates the workflow and waits until
it ends, and the commit that ends it wakes the waiter with the row as committed. All of it is charged
to Interlock's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench import durable_machines as machines
from interlock.app import Interlock
from interlock.runtime.retry import RetryPolicy

TASK_THREADS = 32  # Interlock runs this many tasks at once


def url_of(target: Path | str) -> str:
    """A SQLite file (a Path) or a PostgreSQL URL (a str)."""
    return target if isinstance(target, str) else f"sqlite:///{target}"


def app_for(target: Path | str) -> Interlock:
    app = Interlock(url_of(target), concurrency=TASK_THREADS, poll=0.05)
    app.register(machines.workflow())
    app.service("step", machines.step, retry=RetryPolicy(attempts=3, jitter=0.0))
    return app


def one(app: Interlock, instance_id: str) -> None:
    """Run one workflow to its end."""
    if app.execute("workflow", instance_id).status != "done":
        raise RuntimeError(f"workflow {instance_id} ended without finishing")


def closed_loop(app: Interlock, prefix: str, in_flight: int, seconds: float) -> tuple[float, float, int]:
    """Workflows/s, median latency and the number of workflows with ``in_flight`` workflows running at
    any time (each driver finishes its last workflow before it stops)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def driver(d: int) -> None:
        mine, i = [], 0
        while time.perf_counter() < stop:
            instance_id = f"{prefix}-{d}-{i}"
            i += 1
            began = time.perf_counter()
            one(app, instance_id)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    return _threads(driver, in_flight, latencies)


def _threads(driver: Callable[[int], None], count: int, latencies: list[float]) -> tuple[float, float, int]:
    began = time.perf_counter()
    pool = [threading.Thread(target=driver, args=(d,)) for d in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2], len(latencies)


def open_loop(app: Interlock, prefix: str, count: int) -> float:
    """Workflows/s with ``count`` workflows created at once (as fast as the callers can), timed until
    the last is done."""
    import asyncio

    async def run() -> float:
        aio = app.aio
        began = time.perf_counter()
        ended = await asyncio.gather(*(aio.execute("workflow", f"{prefix}-{i}") for i in range(count)))
        if any(instance.status != "done" for instance in ended):
            raise RuntimeError("a workflow ended without finishing")
        return time.perf_counter() - began

    return count / asyncio.run(run())


def run(target: Path | str, *, levels: tuple[int, ...], seconds: float, open_count: int,
        round_no: int) -> dict[str, dict[str, float]]:
    """One round on a fresh app over ``target`` (a SQLite file or a PostgreSQL URL): every level, then
    the open loop."""
    app = app_for(target)
    out: dict[str, dict[str, float]] = {}
    try:
        for i in range(20):  # warm-up: connections, statements, the worker's threads
            app.create("workflow", f"warm{round_no}-{i}")
        for level in levels:
            rate, p50, _ = closed_loop(app, f"r{round_no}c{level}", level, seconds)
            out[str(level)] = {"rate": rate, "p50_ms": p50 * 1e3}
        if open_count:
            out["open"] = {"rate": open_loop(app, f"r{round_no}open", open_count)}
    finally:
        app.close()
    return out
