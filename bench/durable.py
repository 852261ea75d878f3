"""``python -m bench.durable``: the durable runtime's benchmarks, measured in one run.

1. workflow: 3-step durable workflows (each step's result committed before the next starts), against
   DBOS Transact in a subprocess on SQLite (its default, rollback journal), SQLite in WAL mode and
   PostgreSQL (if a server answers on 127.0.0.1:5432), with 1, 8 and 32 workflows in flight (closed
   loops) and all at once (open loop), in rounds. Every side fsyncs every commit (stated in the output).
2. events: sustained events/s over 1,000 instances, with p50/p99 latency of send until settled, on the
   memoized switch and on a realistic counter (guard and assignments on event data).
3. history: per-event cost of one instance at history length 10, 1,000 and 100,000.
4. timers: lateness p50/p99 of many timers due within a window.

Options: ``--only workflow,events,history,timers``, ``--quick`` (smaller sizes, for a smoke run),
``--dir PATH`` (where the database files go; default a temporary folder).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import durable_machines as machines
from bench import durable_workflow as workflow_side
from bench.figures import cell
from interlock.app import Interlock
from interlock.core.chart import Chart
from interlock.core.events import Event

FULL = {"workflows": 1000, "dbos_workflows": 100, "levels": (1, 8, 32), "level_seconds": 1.5, "rounds": 3,
        "seconds": 10.0, "instances": 1000, "senders": 200,
        "lengths": (10, 1_000, 100_000), "probe": 2000, "timers": 100_000, "window": 60.0}
QUICK = {"workflows": 200, "dbos_workflows": 50, "levels": (1, 8, 32), "level_seconds": 0.5, "rounds": 1,
         "seconds": 2.0, "instances": 200, "senders": 50,
         "lengths": (10, 1_000, 5_000), "probe": 500, "timers": 5_000, "window": 3.0}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def app_at(folder: Path, name: str, **options: object) -> Interlock:
    return Interlock(f"sqlite:///{folder / name}", **options)  # type: ignore[arg-type]


# -- 1. three-step workflow, like for like -------------------------------------------------------------

DBOS_CONFIGS = ("sqlite", "sqlite-wal", "postgres")
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"  # scratch databases: bench/postgres_scratch.py
WORKFLOW_TARGETS = {"1": 3.0, "32": 10.0}  # Interlock / DBOS's best configuration at that many in flight


def bench_workflow(folder: Path, size: dict) -> list[str]:
    levels, seconds, rounds = size["levels"], size["level_seconds"], size["rounds"]
    ours: dict[str, list[float]] = {}
    theirs: dict[tuple[str, str], list[float]] = {}
    settings: dict[str, str] = {}
    configs = [c for c in DBOS_CONFIGS if c != "postgres" or _postgres_reachable()]
    for r in range(rounds):  # Interlock then each DBOS configuration, round after round
        got = workflow_side.run(folder / f"workflow-{r}.db", levels=levels, seconds=seconds,
                                open_count=size["workflows"], round_no=r)
        for level, measured in got.items():
            ours.setdefault(level, []).append(measured["rate"])
        for config in configs:
            out = _dbos(folder, config, r, levels, seconds, size["dbos_workflows"])
            if out is None:
                continue
            settings[config] = ", ".join(f"{k}={v}" for k, v in out["durability"].items())
            for level in [*map(str, levels), "open"]:
                if level in out:
                    theirs.setdefault((config, level), []).append(out[level]["rate"])
    return _workflow_lines(ours, theirs, settings, levels, seconds, size)


def _workflow_lines(ours: dict[str, list[float]], theirs: dict[tuple[str, str], list[float]],
                    settings: dict[str, str], levels: tuple[int, ...], seconds: float, size: dict) -> list[str]:
    lines = [f"workflow  3 steps, each result committed before the next starts; closed loops of "
             f"{seconds:g} s per level, open loop of {size['workflows']} (Interlock) / "
             f"{size['dbos_workflows']} (DBOS) workflows; {len(next(iter(ours.values())))} rounds, "
             "median (min-max) workflows/s",
             "workflow  durability: Interlock WAL, synchronous=FULL (fsync per commit); " +
             "; ".join(f"DBOS {c}: {v}" for c, v in settings.items())]
    header = f"workflow  {'in flight':<10}{'interlock':>22}" + "".join(f"{'dbos ' + c:>24}" for c in settings)
    lines.append(header + f"{'ratio vs best dbos':>26}")
    for level in [*map(str, levels), "open"]:
        if level not in ours:
            continue
        row = f"workflow  {level:<10}{cell(ours[level]):>22}"
        best_config, best = "", 0.0
        for config in settings:
            rates = theirs.get((config, level), [])
            row += f"{cell(rates):>24}"
            if rates and statistics.median(rates) > best:
                best_config, best = config, statistics.median(rates)
        if best:
            ratio = statistics.median(ours[level]) / best
            row += f"{ratio:>10.1f}x vs {best_config}"
            target = WORKFLOW_TARGETS.get(level)
            if target is not None:
                row += f" (target >= {target:g}x: {'MET' if ratio >= target else 'BELOW'})"
        lines.append(row)
    return lines


def _postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except Exception as exc:  # no driver, no server: the PostgreSQL column is left out, and said so
        print(f"  PostgreSQL not reachable ({exc}); DBOS runs on SQLite only", file=sys.stderr)
        return False


def _dbos(folder: Path, config: str, round_no: int, levels: tuple[int, ...], seconds: float,
          open_count: int) -> dict | None:
    """One DBOS configuration in its own process: every level, then the open loop."""
    with contextlib.ExitStack() as stack:
        if config == "postgres":
            from bench.postgres_scratch import scratch_database

            target = f"{PG_SERVER}/{stack.enter_context(scratch_database(PG_SERVER))}"
        else:
            target = str(folder / f"dbos-{config}-{round_no}.sqlite")
        return run_dbos(config, target, levels, seconds, open_count)


def run_dbos(config: str, target: str, levels: tuple[int, ...], seconds: float, open_count: int) -> dict | None:
    """bench/durable_dbos.py in its own process on ``target``: its figures, or None (said on stderr)."""
    try:
        out = subprocess.run([sys.executable, "-m", "bench.durable_dbos", config, target, str(seconds),
                              ",".join(map(str, levels)), str(open_count)],
                             capture_output=True, text=True, timeout=600, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"  DBOS {config} run failed ({exc}); is it installed? pip install -e '.[bench]'\n"
              f"{detail[-2000:]}", file=sys.stderr)
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- 2. sustained events ------------------------------------------------------------------------------

def bench_events(folder: Path, size: dict) -> list[str]:
    """The memoized switch (FLIP: no expression) and the realistic counter (INC {by}: a guard and two
    assignments reading the event's data, as a YAML document), each on its own database."""
    lines = []
    for name, chart, events in (("switch", machines.switch(), [Event("FLIP")]),
                                ("counter", machines.counter(), machines.COUNTER_EVENTS)):
        lines += _events(folder, size, name, chart, events)
    return lines


def _events(folder: Path, size: dict, name: str, chart: Chart, events: list[Event]) -> list[str]:
    app = app_at(folder, f"events-{name}.db", worker=False)
    app.register(chart)
    n = size["instances"]
    latencies: list[float] = []

    async def run() -> float:
        aio = app.aio
        await asyncio.gather(*(aio.create(name, f"s{i}") for i in range(n)))
        stop = time.perf_counter() + size["seconds"]
        rng = random.Random(1)

        async def sender() -> None:
            k = 0
            while time.perf_counter() < stop:
                began = time.perf_counter()
                await aio.send(name, f"s{rng.randrange(n)}", events[k % len(events)])
                k += 1
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(size["senders"])))
        return time.perf_counter() - began

    elapsed = asyncio.run(run())
    app.close()
    rate = len(latencies) / elapsed
    kind = ("memoized: no expression" if name == "switch"
            else "realistic: guard + 2 assignments on event data, YAML document")
    return [f"events    {name} ({kind}): {rate:,.0f} events/s over {n} instances, "
            f"{size['senders']} concurrent senders, group commit, synchronous=FULL (target 20,000/s)",
            f"events    {name} latency send->settled p50 {pct(latencies, 0.5) * 1e3:.1f} ms, "
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
