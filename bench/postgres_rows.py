"""A writer transaction's updates and deletes, one statement per row against one JSON statement per kind:
the client's and the backend's CPU per workflow, interleaved in one process (bench only).

The whole loop's CPU (bench/postgres_cpu.py) moves 30% from run to run on a shared machine; this
isolates the part that changed and interleaves the two ways transaction by transaction, so both see the
same load. Each transaction writes, at its commit, ``--workflows`` groups of rows shaped like a
workflow step's: an instance update, a state-index removal, a task removal and a timer cancellation;
the rows were inserted beforehand, outside the measure. Figures are per group. The client's CPU is the thread's (``time.thread_time``), the backend's
from /proc/PID/schedstat (nanoseconds), so both are per transaction, not per second.

``python -m bench.postgres_rows --workflows 4 --rounds 400``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import psycopg

from bench.postgres import SERVER
from bench.postgres_scratch import scratch_database
from interlock.storage.postgres import PostgresStore
from interlock.storage.postgres_tx import _Q, rows_json

SNAPSHOT = '{"configuration":["workflow","s2"],"context":{},"invocations":{"b":{"src":"service:step"}}}'


def backend_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def setup(conn: Any, tag: str, workflows: int) -> list[dict[str, Any]]:
    """Rows for one transaction: per workflow an instance (with a timer), its index row and its task."""
    out = []
    with conn.transaction():
        for w in range(workflows):
            id = f"{tag}-{w}"
            conn.execute(_Q["insert_instance"], {
                "machine": "workflow", "id": id, "version": "1", "status": "active", "paused": False, "step": 1,
                "queued": 0, "snapshot": SNAPSHOT, "parent_machine": None, "parent_id": None,
                "parent_invokeid": None, "created_at": 1.0, "updated_at": 1.0})
            conn.execute(_Q["add_index"], ("workflow", "state", "s1", id))
            conn.execute(b"INSERT INTO timers (machine, id, key, sendid, event, due_at) "
                         b"VALUES ('workflow', %s, 'k', 's', '{}', 9e9)", (id,))
            conn.execute(b"INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, status, "
                         b"available_at, created_at) VALUES (%s, 'workflow', %s, 'a', 'step', '{}', '{}', "
                         b"'running', 0, 0)", (f"{id}/a", id))
            out.append({"machine": "workflow", "id": id, "status": "active", "paused": False, "step": 2,
                        "queued": 0, "snapshot": SNAPSHOT, "updated_at": 2.0, "revision": 0})
    return out


def per_row(conn: Any, rows: list[dict[str, Any]]) -> None:
    with conn.transaction(), conn.pipeline():
        conn.cursor().executemany(_Q["update_instance"], rows)
        conn.cursor().executemany(_Q["remove_index"], [("workflow", "state", "s1", r["id"]) for r in rows])
        conn.cursor().executemany(_Q["remove_task"], [{"key": f"{r['id']}/a"} for r in rows])
        conn.cursor().executemany(_Q["cancel_all_timers"], [{"machine": "workflow", "id": r["id"]} for r in rows])


def as_json(conn: Any, rows: list[dict[str, Any]]) -> None:
    with conn.transaction(), conn.pipeline():
        netted = {(r["machine"], r["id"]): {**r, "next": r["revision"] + 1} for r in rows}
        conn.cursor().execute(_Q["update_instances_rows"], {"rows": rows_json(list(netted.values()))})
        conn.cursor().execute(_Q["remove_index_rows"], {"rows": rows_json(
            [{"machine": "workflow", "kind": "state", "value": "s1", "id": r["id"]} for r in rows])})
        conn.cursor().execute(_Q["remove_tasks_rows"], {"rows": rows_json(
            [{"machine": "workflow", "id": r["id"], "key": f"{r['id']}/a"} for r in rows])})
        conn.cursor().execute(_Q["cancel_all_timers_rows"], {"rows": rows_json(
            [{"machine": "workflow", "id": r["id"]} for r in rows])})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=SERVER)
    parser.add_argument("--workflows", type=int, default=4, help="groups of rows per transaction")
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args(argv)
    ways = {"per row": per_row, "json": as_json}
    with scratch_database(args.url) as name:
        url = f"{args.url}/{name}"
        PostgresStore(url).close()  # the schema
        with psycopg.connect(url, autocommit=True) as conn:
            pid = conn.info.backend_pid
            conn.execute(b"SET enable_seqscan = off")  # as the store's connections (storage/postgres.py)
            client: dict[str, list[float]] = {w: [] for w in ways}
            backend: dict[str, list[float]] = {w: [] for w in ways}
            for n in range(args.rounds):
                for way, run in ways.items():
                    rows = setup(conn, f"{n}-{way}", args.workflows)
                    c0, b0 = time.thread_time_ns(), backend_ns(pid)
                    run(conn, rows)
                    c1, b1 = time.thread_time_ns(), backend_ns(pid)
                    if n >= args.rounds // 10:  # the first rounds warm up (prepared statements, caches)
                        client[way].append((c1 - c0) / args.workflows / 1e3)
                        backend[way].append((b1 - b0) / args.workflows / 1e3)
            left = conn.execute(b"SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM timers) + "
                                b"(SELECT count(*) FROM instance_index)").fetchone()
            assert left == (0,), left  # every removal hit its row
    print(f"{args.workflows} groups per transaction, {args.rounds} rounds interleaved; us per group "
          "(median, quartiles)")
    for way in ways:
        for side, data in (("client", client[way]), ("backend", backend[way])):
            q = statistics.quantiles(data, n=4)
            print(f"{way:<8} {side:<8} {statistics.median(data):8.1f}  ({q[0]:.1f}-{q[2]:.1f})")


if __name__ == "__main__":
    main()
