"""``python -m bench.durable``: the durable runtime's benchmarks, measured in one run.

1. workflow: 3-step durable workflows (each step's result committed before the next starts), against
   DBOS Transact on SQLite in a subprocess. Both at synchronous=FULL.
2. events: sustained events/s over 1,000 instances, with p50/p99 latency of send until settled.
3. history: per-event cost of one instance at history length 10, 1,000 and 100,000.
4. timers: lateness p50/p99 of many timers due within a window.

Options: ``--only workflow,events,history,timers``, ``--quick`` (smaller sizes, for a smoke run),
``--dir PATH`` (where the database files go; default a temporary folder).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import durable_machines as machines
from interlock.app import Interlock
from interlock.runtime.retry import RetryPolicy

TASK_THREADS = 32  # Interlock runs this many tasks at once; DBOS gets as many concurrent workflows
DBOS_THREADS = (1, 8, TASK_THREADS)
FULL = {"workflows": 2000, "dbos_workflows": 300, "seconds": 10.0, "instances": 1000, "senders": 200,
        "lengths": (10, 1_000, 100_000), "probe": 2000, "timers": 100_000, "window": 60.0}
QUICK = {"workflows": 200, "dbos_workflows": 50, "seconds": 2.0, "instances": 200, "senders": 50,
         "lengths": (10, 1_000, 5_000), "probe": 500, "timers": 5_000, "window": 3.0}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def app_at(folder: Path, name: str, **options: object) -> Interlock:
    return Interlock(f"sqlite:///{folder / name}", **options)  # type: ignore[arg-type]


def _count(db: sqlite3.Connection, where: str) -> int:
    """Instances matching ``where``, read with plain SQL (polling through the API would take CPU from
    the run being measured)."""
    return int(db.execute(f"SELECT COUNT(*) FROM instances WHERE {where}").fetchone()[0])


# -- 1. three-step workflow ---------------------------------------------------------------------------

def bench_workflow(folder: Path, size: dict) -> list[str]:
    count = size["workflows"]
    app = app_at(folder, "workflow.db", concurrency=TASK_THREADS, poll=0.05)
    app.register(machines.workflow())
    app.service("step", machines.step, retry=RetryPolicy(attempts=3, jitter=0.0))

    async def run() -> float:
        aio = app.aio
        began = time.perf_counter()
        await asyncio.gather(*(aio.create("workflow", f"w{i}") for i in range(count)))
        with contextlib.closing(sqlite3.connect(folder / "workflow.db")) as db:
            while _count(db, "status = 'done'") < count:
                await asyncio.sleep(0.02)
        return time.perf_counter() - began

    elapsed = asyncio.run(run())
    ours = count / elapsed
    app.close()
    dbos = _dbos(folder, size["dbos_workflows"])
    ratio = f"{ours / dbos:.1f}x" if dbos else "n/a"
    return [f"workflow  interlock {ours:,.0f} workflows/s ({count} workflows, WAL, synchronous=FULL)",
            f"workflow  dbos      {dbos:,.1f} workflows/s ({size['dbos_workflows']} workflows, best of "
            f"{', '.join(map(str, DBOS_THREADS))} concurrent workflows; SQLite defaults: rollback journal, "
            "synchronous=FULL)",
            f"workflow  ratio     {ratio} (target >= 10x)"]


def _dbos(folder: Path, count: int) -> float:
    """DBOS's best rate over 1, 8 and 32 concurrent workflows (32 is what Interlock gets)."""
    best = 0.0
    for threads in DBOS_THREADS:
        path = folder / f"dbos-{threads}.sqlite"
        try:
            out = subprocess.run([sys.executable, "-m", "bench.durable_dbos", str(path), str(count),
                                  str(threads)], capture_output=True, text=True, timeout=600, check=True)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"  DBOS run failed ({exc}); is it installed? pip install dbos", file=sys.stderr)
            return 0.0
        best = max(best, float(out.stdout.strip().splitlines()[-1]))
    return best


# -- 2. sustained events ------------------------------------------------------------------------------

def bench_events(folder: Path, size: dict) -> list[str]:
    app = app_at(folder, "events.db", worker=False)
    app.register(machines.switch())
    n = size["instances"]
    latencies: list[float] = []

    async def run() -> float:
        aio = app.aio
        await asyncio.gather(*(aio.create("switch", f"s{i}") for i in range(n)))
        stop = time.perf_counter() + size["seconds"]
        rng = random.Random(1)

        async def sender() -> None:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                await aio.send("switch", f"s{rng.randrange(n)}", "FLIP")
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(size["senders"])))
        return time.perf_counter() - began

    elapsed = asyncio.run(run())
    app.close()
    rate = len(latencies) / elapsed
    return [f"events    {rate:,.0f} events/s over {n} instances, {size['senders']} concurrent senders, "
            f"group commit, synchronous=FULL (target 20,000/s)",
            f"events    latency send->settled p50 {pct(latencies, 0.5) * 1e3:.1f} ms, "
            f"p99 {pct(latencies, 0.99) * 1e3:.1f} ms"]


# -- 3. cost per event by history length --------------------------------------------------------------

def bench_history(folder: Path, size: dict) -> list[str]:
    app = app_at(folder, "history.db", worker=False)
    app.register(machines.switch())
    app.create("switch", "one")
    results: dict[int, float] = {}

    async def burst(count: int) -> float:
        aio = app.aio
        began = time.perf_counter()
        for start in range(0, count, 500):
            await asyncio.gather(*(aio.send("switch", "one", "FLIP") for _ in range(min(500, count - start))))
        return time.perf_counter() - began

    length = 1
    for target in size["lengths"]:
        asyncio.run(burst(target - length))
        length = target
        results[target] = asyncio.run(burst(size["probe"])) / size["probe"]
        length += size["probe"]
    app.close()
    base = results[size["lengths"][0]]
    cells = ", ".join(f"{k:,}: {v * 1e6:.0f} us" for k, v in results.items())
    worst = max(results.values()) / base
    return [f"history   per-event cost at history length {cells}; worst/first {worst:.2f} (target <= 1.2)"]


# -- 4. timer accuracy --------------------------------------------------------------------------------

def bench_timers(folder: Path, size: dict) -> list[str]:
    total, window = size["timers"], size["window"]
    per = 100
    instances = total // per
    app = app_at(folder, "timers.db", poll=0.5)
    app.register(machines.alarm())
    gap_ms = window * 1000 / per
    for i in range(instances):
        app.create("alarm", f"a{i}")
    first = 3000.0  # every timer is armed before the first is due
    for i in range(instances):
        offset = first + i * gap_ms / instances
        app.send("alarm", f"a{i}", {"type": "ARM", "count": per, "first": offset, "gap": gap_ms})
    deadline = time.time() + first / 1000 + window + 120
    while time.time() < deadline:
        pending = sqlite3.connect(folder / "timers.db").execute("SELECT COUNT(*) FROM timers").fetchone()[0]
        if pending == 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    lateness = []
    for i in range(instances):
        entries = app.history("alarm", f"a{i}", limit=per + 2).items
        arm = entries[1]
        due = {e["sendid"]: arm.at + e["delay_ms"] / 1000 for e in arm.effects}
        lateness += [e.at - due[e.event["sendid"]] for e in entries[2:]]
    app.close()
    return [f"timers    {len(lateness):,} of {total:,} timers fired, due within {window:.0f} s "
            f"({total / window:,.0f}/s): lateness p50 {pct(lateness, 0.5) * 1e3:.1f} ms, "
            f"p99 {pct(lateness, 0.99) * 1e3:.1f} ms, max {max(lateness) * 1e3:.1f} ms (target p99 < 50 ms)"]


BENCHES: dict[str, Callable[[Path, dict], list[str]]] = {
    "workflow": bench_workflow, "events": bench_events, "history": bench_history, "timers": bench_timers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durable", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", default=None)
    parser.add_argument("--timer-window", type=float, default=None,
                        help="seconds over which the timers fall due (default 60; 3 with --quick)")
    args = parser.parse_args(argv)
    size = dict(QUICK if args.quick else FULL)
    if args.timer_window is not None:
        size["window"] = args.timer_window
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    print(f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus, "
          f"{platform.platform()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for name in chosen:
            began = time.perf_counter()
            for line in BENCHES[name](Path(tmp), size):
                print(line, flush=True)
            print(f"          ({name} took {time.perf_counter() - began:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
