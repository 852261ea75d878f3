"""Per-event latency on PostgreSQL at 1,000 and at 1,000,000 instances: does a step cost the same when
the tables are a thousand times bigger?

Two scratch databases: one with ``small`` switches, one with ``large``. Each first gets one instance
through the public API (``Interlock.create``); the rest are cloned from it by a bench-only bulk path,
:func:`clone_instances`, which copies that instance's rows (instance, state index, its step-0 history
record, with the id and session id replaced) inside the server in chunks, so a million take tens of
seconds instead of a million transactions. Then, alternating between the two databases round after
round (the load of a shared machine moves both alike), one sender sends FLIP to random instances one
at a time: the latency of ``send`` (step committed, ``synchronous_commit = on``) is measured for each.
"Flat" (issue #9) is read as: the median at ``large`` within 1.5x of the median at ``small``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from contextlib import ExitStack

import psycopg

from bench import durable_machines as machines
from bench.figures import cell
from bench.postgres_scratch import scratch_database
from interlock.app import Interlock

FLAT = 1.5  # p50 at the large size within this factor of p50 at the small one
CHUNK = 100_000

CLONE_INSTANCES = b"""
INSERT INTO instances (machine, id, version, status, paused, step, queued, snapshot, parent_machine,
                       parent_id, parent_invokeid, created_at, updated_at, revision)
SELECT machine, 's' || g, version, status, paused, step, queued,
       replace(snapshot, '"switch/t"', '"switch/s' || g || '"'), parent_machine, parent_id,
       parent_invokeid, created_at, updated_at, revision
FROM instances, generate_series(%(first)s::bigint, %(last)s::bigint) AS g
WHERE machine = 'switch' AND id = 't'"""
CLONE_INDEX = b"""
INSERT INTO instance_index (machine, kind, value, id)
SELECT machine, kind, value, 's' || g
FROM instance_index, generate_series(%(first)s::bigint, %(last)s::bigint) AS g
WHERE machine = 'switch' AND id = 't'"""
CLONE_HISTORY = b"""
INSERT INTO history (machine, id, step, position, at, outcome, event, idempotency_key, cause, source,
                     target, context_change, effects, error)
SELECT machine, 's' || g, step, (SELECT position FROM interlock_feed) + g - %(first)s + 1, at, outcome,
       event, idempotency_key, cause, source, target, context_change, effects, error
FROM history, generate_series(%(first)s::bigint, %(last)s::bigint) AS g
WHERE machine = 'switch' AND id = 't'"""
ADVANCE_FEED = b"UPDATE interlock_feed SET position = position + %(count)s"


def clone_instances(url: str, count: int) -> float:
    """Bench only: ``count`` switches s0..s{count-1}, copies of instance ``t`` (made through the API).
    Returns the seconds it took."""
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for first in range(0, count, CHUNK):
            last = min(count, first + CHUNK) - 1
            with conn.transaction():
                params = {"first": first, "last": last}
                conn.execute(CLONE_INSTANCES, params)
                conn.execute(CLONE_INDEX, params)
                conn.execute(CLONE_HISTORY, params)
                conn.execute(ADVANCE_FEED, {"count": last - first + 1})
        conn.execute(b"VACUUM ANALYZE instances")
        conn.execute(b"VACUUM ANALYZE history")
        conn.execute(b"VACUUM ANALYZE instance_index")
    return time.perf_counter() - began


def populate(url: str, count: int) -> float:
    with Interlock(url, worker=False) as app:
        app.register(machines.switch())
        app.create("switch", "t")
    return clone_instances(url, count)


def probe(url: str, count: int, sends: int, seed: int) -> list[float]:
    """Latency of ``sends`` FLIPs to random instances among ``count``, one at a time (seconds)."""
    rng = random.Random(seed)
    out = []
    with Interlock(url, worker=False) as app:
        app.register(machines.switch())
        for _ in range(20):  # warm-up: the pool, prepared statements
            app.send("switch", f"s{rng.randrange(count)}", "FLIP")
        for _ in range(sends):
            target = f"s{rng.randrange(count)}"
            began = time.perf_counter()
            app.send("switch", target, "FLIP")
            out.append(time.perf_counter() - began)
    return out


def bench_scale(server: str, *, small: int = 1_000, large: int = 1_000_000, sends: int = 2000,
                rounds: int = 3) -> list[str]:
    p50s: dict[int, list[float]] = {small: [], large: []}
    p99s: dict[int, list[float]] = {small: [], large: []}
    with ExitStack() as stack:
        urls = {}
        for count in (small, large):
            url = f"{server}/{stack.enter_context(scratch_database(server))}"
            took = populate(url, count)
            print(f"  scale: {count:,} instances in {took:.0f} s (bulk clone)", file=sys.stderr, flush=True)
            urls[count] = url
        for r in range(rounds):
            for count in (small, large):
                got = sorted(probe(urls[count], count, sends, seed=r))
                p50s[count].append(got[len(got) // 2] * 1e3)
                p99s[count].append(got[min(len(got) - 1, int(len(got) * 0.99))] * 1e3)
    return scale_lines(p50s, p99s, small, large, sends, rounds)


def scale_lines(p50s: dict[int, list[float]], p99s: dict[int, list[float]], small: int, large: int,
                sends: int, rounds: int) -> list[str]:
    lines = [f"scale     FLIP to random instances, one at a time ({sends:,} per round, {rounds} rounds): "
             "latency of send (committed) in ms, median (min-max) of the rounds"]
    for count in (small, large):
        lines.append(f"scale     {count:>10,} instances: p50 {cell(p50s[count], digits=2)}  p99 {cell(p99s[count], digits=2)}")
    ratio = statistics.median(p50s[large]) / statistics.median(p50s[small])
    lines.append(f"scale     p50 at {large:,} / p50 at {small:,}: {ratio:.2f}x "
                 f"(flat: within {FLAT:g}x: {'MET' if ratio <= FLAT else 'BELOW'})")
    return lines

