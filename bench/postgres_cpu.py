"""CPU per workflow of the 3-step workflow on PostgreSQL: load-insensitive figures for issue #9.

Wall-clock workflows/s moves 2x with a shared machine's load; the CPU a workflow costs does not (much).
This runs Interlock's closed loop (bench/durable_workflow.py) over a scratch database for a fixed time
and reads, before and after, the user+system time of this process (Interlock, its bench drivers and
``Interlock.wait``, all charged to Interlock as in the workflow bench) and of the PostgreSQL backends
connected to the scratch database (from /proc: same host only), then divides by the workflows done.
With ``--statements``, also the server's own counts per workflow: commits (every transaction of the
database: the writer's, the NOTIFYs, the waiters' reads), rows written (pg_stat_database), and WAL
(pg_stat_wal: the whole server's, so other databases' work shows in it too).

``python -m bench.postgres_cpu --in-flight 32 --seconds 4 --runs 3``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import psycopg

from bench import durable_workflow as workflow_side
from bench.postgres import SERVER
from bench.postgres_scratch import scratch_database

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process (all its threads), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


def backends(admin: Any, database: str) -> list[int]:
    rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)).fetchall()
    return [pid for (pid,) in rows]


def server_counters(admin: Any, database: str) -> dict[str, float]:
    """The database's transactions and rows written, and the server's WAL bytes and records."""
    db = admin.execute("SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database "
                       "WHERE datname = %s", (database,)).fetchone()
    wal = admin.execute("SELECT wal_records, wal_bytes, wal_fpi FROM pg_stat_wal").fetchone()
    names = ("commits", "inserted", "updated", "deleted", "wal_records", "wal_bytes", "wal_fpi")
    return dict(zip(names, (float(v) for v in (*db, *wal)), strict=True))


def one_run(server: str, in_flight: int, seconds: float, statements: bool) -> dict[str, float]:
    with scratch_database(server) as name, psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        target = f"{server}/{name}"
        app = workflow_side.app_for(target)
        try:
            for i in range(50):  # warm-up: connections, statements, the worker's threads
                app.create("workflow", f"warm-{i}")
            workflow_side.closed_loop(app, "warm", in_flight, 1.0)
            pids = backends(admin, name)
            admin.execute("SELECT pg_stat_clear_snapshot()")
            before_counts = server_counters(admin, name) if statements else {}
            before_pg = {pid: cpu_seconds(pid) for pid in pids}
            before_us = cpu_seconds("self")
            _, _, done = workflow_side.closed_loop(app, "cpu", in_flight, seconds)
            ours = cpu_seconds("self") - before_us
            theirs = sum(cpu_seconds(pid) - t for pid, t in before_pg.items())
            late = set(backends(admin, name)) - set(pids)
            theirs += sum(cpu_seconds(pid) for pid in late)  # opened during the run
            out = {"workflows": done, "interlock_ms": ours / done * 1e3, "postgres_ms": theirs / done * 1e3}
            if statements:
                time.sleep(1.2)  # backends flush their counts at most once a second
                admin.execute("SELECT pg_stat_clear_snapshot()")
                after_counts = server_counters(admin, name)
                for key, value in after_counts.items():
                    out[key] = (value - before_counts[key]) / done
        finally:
            app.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=SERVER)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--statements", action="store_true")
    args = parser.parse_args(argv)
    runs = [one_run(args.url, args.in_flight, args.seconds, args.statements) for _ in range(args.runs)]
    for run in runs:
        print("  ".join(f"{k}={v:.3f}" for k, v in run.items()), file=sys.stderr)
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(f"{key:<14}{statistics.median(values):>12.3f}  ({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
