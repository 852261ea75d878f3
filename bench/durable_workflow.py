"""The Interlock side of the 3-step workflow benchmark: closed loops with 1, 8 and 32 workflows in
flight, and an open loop (every workflow created at once), on one app: over a SQLite file (WAL,
``synchronous=FULL``) or a PostgreSQL URL (the server's settings; bench/postgres.py).

A workflow is finished when its instance's row says ``done`` (its last step's result and the final
state committed together). The benchmark learns of it without polling in a loop: the writer's commit
hook (the one that wakes the worker) also wakes a watcher thread, which reads the status of the
workflows in flight with one query on its own connection (sqlite3 or psycopg) and releases the drivers whose workflow is
done. That read is charged to Interlock's time.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench import durable_machines as machines
from interlock.app import Interlock
from interlock.runtime.retry import RetryPolicy

TASK_THREADS = 32  # Interlock runs this many tasks at once


class Finished:
    """Releases a waiting driver when its workflow's row is ``done``; woken by every commit."""

    def __init__(self, app: Interlock, target: Path | str) -> None:
        self.target = target
        self.db: Any = (psycopg.connect(target, autocommit=True) if isinstance(target, str)
                        else sqlite3.connect(target, check_same_thread=False))
        if isinstance(target, str):  # as the store's own connections (storage/postgres.py)
            self.db.execute("SET enable_seqscan = off")
        self.waiting: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.kick = threading.Event()
        self.stopped = False
        writer = app.runtime.writer
        original = writer.on_commit

        def on_commit(when: float | None) -> None:
            if original is not None:
                original(when)
            self.kick.set()

        writer.on_commit = on_commit
        self.thread = threading.Thread(target=self._watch, name="bench-watcher", daemon=True)
        self.thread.start()

    def expect(self, instance_id: str) -> threading.Event:
        done = threading.Event()
        with self.lock:
            self.waiting[instance_id] = done
        self.kick.set()
        return done

    def close(self) -> None:
        self.stopped = True
        self.kick.set()
        self.thread.join()
        self.db.close()

    def _watch(self) -> None:
        while not self.stopped:
            self.kick.wait(0.05)
            self.kick.clear()
            with self.lock:
                ids = list(self.waiting)
            if not ids:
                continue
            rows = done_among(self.db, ids)
            with self.lock:
                for (instance_id,) in rows:
                    self.waiting.pop(instance_id).set()


def done_among(db: Any, ids: list[str]) -> list[tuple[str]]:
    """Which of these workflows are done, on a sqlite3 or a psycopg connection."""
    if isinstance(db, sqlite3.Connection):
        marks = ",".join("?" * len(ids))
        return db.execute(f"SELECT id FROM instances WHERE machine = 'workflow' AND status = 'done' "
                          f"AND id IN ({marks})", ids).fetchall()
    # each id looked up on its own (a lateral subquery per id): compared with ``id = ANY(...)``, a plan
    # the connection kept from the table's first rows read every done workflow's index entry each time
    return db.execute(b"SELECT x.id FROM unnest(%s::text[]) AS wanted (i) CROSS JOIN LATERAL ("
                      b"SELECT id FROM instances WHERE machine = 'workflow' AND id = wanted.i "
                      b"AND status = 'done' OFFSET 0) AS x", (ids,)).fetchall()


def url_of(target: Path | str) -> str:
    """A SQLite file (a Path) or a PostgreSQL URL (a str)."""
    return target if isinstance(target, str) else f"sqlite:///{target}"


def app_for(target: Path | str) -> Interlock:
    app = Interlock(url_of(target), concurrency=TASK_THREADS, poll=0.05)
    app.register(machines.workflow())
    app.service("step", machines.step, retry=RetryPolicy(attempts=3, jitter=0.0))
    return app


def closed_loop(app: Interlock, finished: Finished, prefix: str, in_flight: int,
                seconds: float) -> tuple[float, float]:
    """Workflows/s and median latency with ``in_flight`` workflows running at any time."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def driver(d: int) -> None:
        mine, i = [], 0
        while time.perf_counter() < stop:
            instance_id = f"{prefix}-{d}-{i}"
            i += 1
            began = time.perf_counter()
            done = finished.expect(instance_id)
            app.create("workflow", instance_id)
            done.wait()
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    return _threads(driver, in_flight, latencies)


def _threads(driver: Callable[[int], None], count: int, latencies: list[float]) -> tuple[float, float]:
    began = time.perf_counter()
    pool = [threading.Thread(target=driver, args=(d,)) for d in range(count)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2]


def open_loop(app: Interlock, finished: Finished, prefix: str, count: int) -> float:
    """Workflows/s with ``count`` workflows created at once (as fast as the callers can), timed until
    the last is done."""
    import asyncio

    async def run() -> float:
        began = time.perf_counter()
        waits = [finished.expect(f"{prefix}-{i}") for i in range(count)]
        await asyncio.gather(*(app.aio.create("workflow", f"{prefix}-{i}") for i in range(count)))
        for done in waits:
            await asyncio.to_thread(done.wait)
        return time.perf_counter() - began

    return count / asyncio.run(run())


def run(target: Path | str, *, levels: tuple[int, ...], seconds: float, open_count: int,
        round_no: int) -> dict[str, dict[str, float]]:
    """One round on a fresh app over ``target`` (a SQLite file or a PostgreSQL URL): every level, then
    the open loop."""
    app = app_for(target)
    finished = Finished(app, target)
    out: dict[str, dict[str, float]] = {}
    try:
        for i in range(20):  # warm-up: connections, statements, the worker's threads
            finished.expect(f"warm{round_no}-{i}").clear()
            app.create("workflow", f"warm{round_no}-{i}")
        for level in levels:
            rate, p50 = closed_loop(app, finished, f"r{round_no}c{level}", level, seconds)
            out[str(level)] = {"rate": rate, "p50_ms": p50 * 1e3}
        if open_count:
            out["open"] = {"rate": open_loop(app, finished, f"r{round_no}open", open_count)}
    finally:
        finished.close()
        app.close()
    return out
