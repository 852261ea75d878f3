"""``python -m bench.postgres``: Interlock on PostgreSQL (issue #9), in up to four parts.

- events: events/s with 1, 2 and 4 processes over 1,000 instances, next to ``pgbench -N``'s TPS.
- workflow: the 3-step workflow against DBOS Transact on the same server (bench/postgres_workflow.py).
- scale: per-event latency at 1,000 and at 1,000,000 instances (bench/postgres_scale.py).
- statements: statements and round trips per workflow and per event (bench/postgres_statements.py).

events: each process is an embedded app (no worker thread) sending FLIP to random instances of 1,000 switches
from many asyncio senders, so its writer groups events into commits. PostgreSQL runs at its defaults
(``synchronous_commit = on``). ``pgbench -N`` (the simple-update TPC-B-like script, 8 clients) on the same
server, run just before each figure (the load of a shared machine moves both), is the physical limit of
small durable transactions; each line checks that every answered send recorded one step. Scratch
databases are created and dropped (``DROP DATABASE ... WITH (FORCE)``, also when a part fails).

Options: ``--url postgresql://postgres@127.0.0.1:5432`` (the server; default that, or
INTERLOCK_BENCH_POSTGRES), ``--only events,workflow,scale,statements`` (default all), ``--seconds 10``,
``--processes 1,2,4``, ``--rounds 3``, ``--instances 1000000`` (the large size of scale), ``--quick``
(small sizes and short runs: a smoke run, its figures mean little).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from bench import durable_machines as machines
from bench.postgres_scale import bench_scale
from bench.postgres_scratch import scratch_database
from bench.postgres_statements import statement_lines
from bench.postgres_workflow import bench_workflow
from interlock.app import Interlock

SERVER = os.environ.get("INTERLOCK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
INSTANCES = 1000
SENDERS = 64  # concurrent senders per process


def _sender_process(url: str, seconds: float, seed: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    app = Interlock(url, worker=False)
    app.register(machines.switch())
    count = 0

    async def run() -> float:
        nonlocal count
        aio = app.aio
        rng = random.Random(seed)
        stop = time.perf_counter() + seconds

        async def sender() -> None:
            nonlocal count
            while time.perf_counter() < stop:
                await aio.send("switch", f"s{rng.randrange(INSTANCES)}", "FLIP")
                count += 1

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        return time.perf_counter() - began

    elapsed = asyncio.run(run())
    app.close()
    out.put((count, elapsed))


def run_senders(url: str, processes: int, seconds: float) -> tuple[int, float]:
    """Events answered by all processes together, and the longest process's sending time."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_sender_process, args=(url, seconds, n, out)) for n in range(processes)]
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(count for count, _ in results), max(elapsed for _, elapsed in results)


def steps_recorded(url: str) -> int:
    """Steps of all instances (each answered FLIP is one): checks that the count is real."""
    with psycopg.connect(url) as conn:
        row = conn.execute(b"SELECT COALESCE(SUM(step), 0) FROM instances").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def pgbench(server: str) -> Iterator[Callable[[float], float] | None]:
    """A pgbench database (scale 10) for the run, and how to measure ``pgbench -N`` TPS on it; None when
    pgbench is not installed. Measured next to each Interlock figure: the load of a shared machine moves
    both, and the ratio compares them at the same moment."""
    binary = shutil.which("pgbench") or "/usr/lib/postgresql/15/bin/pgbench"
    if not os.path.exists(binary):
        yield None
        return
    with scratch_database(server) as name:
        target = f"{server}/{name}"
        subprocess.run([binary, "-q", "-i", "-s", "10", target], check=True, capture_output=True)

        def tps(seconds: float) -> float:
            done = subprocess.run([binary, "-N", "-c", "8", "-j", "2", "-T", str(max(1, int(seconds))), target],
                                  check=True, capture_output=True, text=True)
            found = re.search(r"tps = ([\d.]+)", done.stdout)
            return float(found.group(1)) if found else 0.0

        yield tps


PARTS = ("events", "workflow", "scale", "statements")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.postgres", description=__doc__)
    parser.add_argument("--url", default=SERVER)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated subset of " + ",".join(PARTS))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=1_000_000, help="the large size of scale")
    parser.add_argument("--quick", action="store_true", help="short runs and small sizes: a smoke run")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise SystemExit(f"unknown part {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    with psycopg.connect(f"{args.url}/postgres") as conn:
        row = conn.execute(b"SELECT version(), current_setting('synchronous_commit')").fetchone()
    assert row is not None
    print(f"PostgreSQL: {row[0].split(' on ')[0]}, synchronous_commit={row[1]}, cores={os.cpu_count()}",
          flush=True)
    rounds = 1 if args.quick else args.rounds
    for part in parts:
        if part == "events":
            bench_events(args.url, seconds=2.0 if args.quick else args.seconds,
                         counts=[1, 2] if args.quick else [int(p) for p in args.processes.split(",")])
        elif part == "workflow":
            lines = bench_workflow(args.url, seconds=0.5 if args.quick else 3.0, rounds=rounds)
            print("\n".join(lines), flush=True)
        elif part == "scale":
            lines = bench_scale(args.url, small=100 if args.quick else 1_000,
                                large=5_000 if args.quick else args.instances,
                                sends=100 if args.quick else 2000, rounds=rounds)
            print("\n".join(lines), flush=True)
        else:
            lines = statement_lines(args.url, workflows=10 if args.quick else 50,
                                    events=50 if args.quick else 200)
            print("\n".join(lines), flush=True)
    return 0


def bench_events(server: str, *, seconds: float, counts: list[int]) -> None:
    with pgbench(server) as measure, scratch_database(server) as name:
        url = f"{server}/{name}"
        with Interlock(url, worker=False) as app:
            app.register(machines.switch())

            async def create() -> None:
                await asyncio.gather(*(app.aio.create("switch", f"s{i}") for i in range(INSTANCES)))

            asyncio.run(create())
        for processes in counts:
            tps = measure(seconds) if measure else None
            print(f"pgbench -N  8 clients: {tps:,.0f} TPS" if tps else "pgbench -N  not available")
            before = steps_recorded(url)
            sent, elapsed = run_senders(url, processes, seconds)
            recorded = steps_recorded(url) - before
            rate = sent / elapsed
            ratio = f" ({rate / tps:.2f}x pgbench)" if tps else ""
            print(f"interlock   {processes} process{'es' if processes > 1 else ''}: {rate:,.0f} events/s over "
                  f"{INSTANCES} instances, {SENDERS} senders each{ratio}; {recorded:,} steps recorded for "
                  f"{sent:,} answered sends{'' if recorded == sent else ' (MISMATCH)'}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
