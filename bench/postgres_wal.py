"""WAL per workflow of the 3-step workflow on PostgreSQL, by record kind and by table (bench only).

The server's pg_stat_wal counts every database's WAL, and this machine's other work shows in it. This
runs Interlock's closed loop (bench/durable_workflow.py) over a scratch database for a fixed time, notes
the WAL position before and after, and reads the records between with ``pg_waldump``, keeping only those
of the scratch database (by its oid): records and bytes per workflow, b-tree insertions, heap updates
that were HOT and that were not, each by table. ``pg_waldump`` reads the server's WAL files, so this
runs on the server's host, as a user who can read its data directory (``--waldump``, ``--wal-dir``).

``python -m bench.postgres_wal --in-flight 32 --seconds 3 --runs 3``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter

import psycopg

from bench import durable_workflow as workflow_side
from bench.postgres import SERVER
from bench.postgres_scratch import scratch_database

WALDUMP = "/usr/lib/postgresql/15/bin/pg_waldump"
RECORD = re.compile(r"rmgr: (\w+)\s+len \(rec/tot\):\s+\d+/\s*(\d+),.*?desc: (\w+)")
RELATION = re.compile(r"rel \d+/(\d+)/(\d+)")


def waldump(waldump: str, wal_dir: str, start: str, end: str) -> list[str]:
    out = subprocess.run([waldump, "-p", wal_dir, "-s", start, "-e", end], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        print(f"pg_waldump: {out.stderr.strip()}", file=sys.stderr)
    return out.stdout.splitlines()


def one_run(server: str, in_flight: int, seconds: float, waldump_path: str, wal_dir: str) -> dict[str, float]:
    with scratch_database(server) as name, psycopg.connect(f"{server}/{name}", autocommit=True) as db:
        target = f"{server}/{name}"
        app = workflow_side.app_for(target)
        try:
            workflow_side.closed_loop(app, "warm", in_flight, 1.0)
            oid = str(db.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0])
            tables = {str(node): rel for node, rel in db.execute(
                "SELECT pg_relation_filenode(c.oid), c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'").fetchall()
                if node is not None}
            # a temporary slot (this session's, dropped when it ends) keeps the run's WAL files from being
            # recycled by a checkpoint (another database's DROP DATABASE makes one) before pg_waldump reads
            db.execute("SELECT pg_create_physical_replication_slot(%s, true, true)", (f"bench_wal_{os.getpid()}",))
            start = db.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
            _, _, done = workflow_side.closed_loop(app, "wal", in_flight, seconds)
            end = db.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
            while db.execute("SELECT pg_current_wal_flush_lsn() < %s", (end,)).fetchone()[0]:
                time.sleep(0.05)  # the WAL writer flushes within 200 ms; pg_waldump reads the files
        finally:
            app.close()
        lines = waldump(waldump_path, wal_dir, str(start), str(end))  # the slot still holds the files
    db_records = 0
    db_bytes = 0
    kinds: Counter[str] = Counter()
    for line in lines:
        rel = RELATION.search(line)
        rec = RECORD.search(line)
        if rec is None or rel is None or rel.group(1) != oid:
            continue
        db_records += 1
        db_bytes += int(rec.group(2))
        kind = f"{rec.group(1)}/{rec.group(3)}"
        if kind in ("Btree/INSERT_LEAF", "Heap/HOT_UPDATE", "Heap/UPDATE", "Heap/INSERT", "Heap/DELETE"):
            kinds[f"{kind} {tables.get(rel.group(2), rel.group(2))}"] += 1
        kinds[kind] += 1
    out = {"workflows": float(done), "records": db_records / done, "bytes": db_bytes / done}
    out.update({k: v / done for k, v in sorted(kinds.items())})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=SERVER)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--waldump", default=WALDUMP)
    parser.add_argument("--wal-dir", default="/var/lib/postgresql/15/main/pg_wal")
    args = parser.parse_args(argv)
    runs = [one_run(args.url, args.in_flight, args.seconds, args.waldump, args.wal_dir) for _ in range(args.runs)]
    keys = sorted({k for run in runs for k in run}, key=lambda k: (k not in ("workflows", "records", "bytes"), k))
    for key in keys:
        values = [r.get(key, 0.0) for r in runs]
        print(f"{key:<40}{statistics.median(values):>10.2f}  ({min(values):.2f}-{max(values):.2f})")
    print(f"({len(runs)} runs, {args.in_flight} in flight, {args.seconds} s each)", file=sys.stderr)


if __name__ == "__main__":
    main()
