"""``python -m bench.server``: the HTTP server's benchmark (issue #10), Interlock and its peers in one run.

1. events: ``interlock serve`` (an admin API key on every request) over a fresh SQLite file (and
   PostgreSQL with ``--postgres``), 1,000 counters; N keep-alive clients (1, 16, 64, 256) POST ``INC
   {by, at}`` (guarded by ``event.by > 0``, assigning the context) for a fixed time; events/s, p50 and
   p99, median of rounds (min-max). Afterwards every instance is read back: one step, one increment per
   answered event.
2. peers, same load, same generator (bench/server_load.py): Restate (its server from npm, a Python
   virtual object with restate-sdk: bench/server_restate.py) and a FastAPI endpoint running a 3-step
   DBOS workflow on SQLite (bench/server_dbos.py). Ratios Interlock/peer per concurrency, MET/BELOW.
3. live: 1,000 WebSocket subscribers on one server; changes sent; commit-to-receipt p50/p99
   (bench/server_live.py).

Options: ``--quick`` (tiny sizes, Interlock only unless peers are named: the smoke test),
``--only events,restate,dbos,live``, ``--levels 1,16,64,256``, ``--seconds``, ``--rounds``,
``--postgres``, ``--dir PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from functools import partial
from pathlib import Path
from typing import Any

from bench import server_interlock as ours
from bench import server_live, server_wrk
from bench.figures import cell
from bench.server_load import Outcome, Tally, check_counts, drive, sent_total

FULL = {"instances": 1000, "levels": (1, 16, 64, 256), "seconds": 5.0, "warmup": 1.0, "rounds": 3,
        "subscribers": 1000, "changes": 200}
QUICK = {"instances": 20, "levels": (1, 4), "seconds": 0.3, "warmup": 0.0, "rounds": 1,
         "subscribers": 10, "changes": 5}
# Interlock / peer at every concurrency (issue #10); the absolute target is 5,000 events/s, p99 < 25 ms
# at 64 in flight
PEER_TARGETS = {"restate": 5.0, "dbos": 10.0}
TARGET_RATE, TARGET_P99, TARGET_LEVEL, TARGET_LIVE_P99 = 5000.0, 0.025, 64, 0.100


def aiohttp_drive(*args: Any, **kwargs: Any) -> Outcome:
    return asyncio.run(drive(*args, **kwargs))


# --generator: name -> (what the header says, the function)
GENERATORS: dict[str, tuple[str, Callable[..., Outcome]]] = {
    "wrk": ("wrk (one thread)", server_wrk.drive), "aiohttp": ("an aiohttp client", aiohttp_drive)}
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"  # scratch databases: bench/postgres_scratch.py

# a side: name -> (folder -> a context manager giving (base URL, headers every request carries, what to
# send, and a reading of what it recorded: per key, increments and the sum of by; and problems it found))
Side = Callable[[Path, dict], AbstractContextManager[tuple[str, dict[str, str], Any, Any]]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--levels", default="")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--postgres", action="store_true", help="also Interlock on PostgreSQL")
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--processes", default="2",
                        help="interlock serve --processes: a list, e.g. 2,1; the first is the one the targets "
                             "and ratios are about, the others are measured beside it as interlock-Np")
    parser.add_argument("--generator", choices=("wrk", "aiohttp"),
                        help="the load generator (default: wrk when installed, else aiohttp)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.processes.split(",")]
    generator = args.generator or ("wrk" if server_wrk.available() else "aiohttp")
    if generator == "wrk" and not server_wrk.available():
        parser.error("--generator wrk: wrk is not installed (Debian's package wrk; make bench installs it)")
    size = dict(QUICK if args.quick else FULL)
    if args.levels:
        size["levels"] = tuple(int(x) for x in args.levels.split(","))
    size["seconds"] = args.seconds or size["seconds"]
    size["rounds"] = args.rounds or size["rounds"]
    default = "events,live" if args.quick else "events,restate,dbos,live"
    parts = set((args.only or default).split(","))
    print(f"bench.server on {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {_load()}; {size['instances']} instances, "
          f"{size['seconds']:g} s per level after {size['warmup']:g} s warm-up, {size['rounds']} round(s), "
          f"load from {GENERATORS[generator][0]}: one keep-alive connection per client (closed loops); "
          f"interlock serve --processes {counts[0]}", flush=True)
    with tempfile.TemporaryDirectory(prefix="interlock-bench-server-") as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        sides: dict[str, Side] = {}
        if "events" in parts:
            for i, n in enumerate(counts):
                suffix = "" if i == 0 else f"-{n}p"
                sides[f"interlock{suffix}"] = partial(interlock_side, store="sqlite", processes=n)
                if args.postgres:
                    sides[f"interlock-pg{suffix}"] = partial(interlock_side, store="postgres", processes=n)
        if "restate" in parts:
            from bench import server_restate
            sides["restate"] = server_restate.side
        if "dbos" in parts:
            from bench import server_dbos
            sides["dbos"] = server_dbos.side
        results = run_sides(folder, size, sides, GENERATORS[generator][1])
        for line in report(results, size["levels"]):
            print(line)
        if "live" in parts:
            for line in server_live.run(folder, size, processes=counts[0]):
                print(line, flush=True)
    print(f"load average after the run {_load()}")
    return 0


def interlock_side(folder: Path, size: dict, store: str, processes: int) -> AbstractContextManager[tuple[str, dict[str, str], Any, Any]]:
    from contextlib import contextmanager

    @contextmanager
    def side() -> Iterator[tuple[str, dict[str, str], Any, Any]]:
        with ExitStack() as stack:
            if store == "postgres":
                from bench.postgres_scratch import scratch_database

                db = f"{PG_SERVER}/{stack.enter_context(scratch_database(PG_SERVER))}"
            else:
                db = f"sqlite:///{folder / f'server-{os.getpid()}-{_seq()}.db'}"
            with ours.serving(folder, db, processes=processes) as served:
                asyncio.run(ours.create_instances(served, size["instances"]))
                before = asyncio.run(ours.read_all(served))

                def recorded() -> tuple[dict[str, Tally], list[str]]:
                    return ours.recorded(before, asyncio.run(ours.read_all(served)))

                yield served.url, served.headers, ours.request_for(size["instances"], type="INC"), recorded
    return side()


_counter = iter(range(1_000_000))


def _seq() -> int:
    return next(_counter)


def run_sides(folder: Path, size: dict, sides: dict[str, Side],
              generate: Callable[..., Outcome]) -> dict[str, dict[int, list[Outcome]]]:
    """Round after round, each side at each level (a fresh server per side and round), the load from
    ``generate`` (:func:`bench.server_wrk.drive` or :func:`aiohttp_drive`)."""
    results: dict[str, dict[int, list[Outcome]]] = {name: {} for name in sides}
    for r in range(size["rounds"]):
        for name, side in sides.items():
            try:
                with side(folder, size) as (url, headers, request, recorded):
                    outcomes = []
                    for level in size["levels"]:
                        outcome = generate(url, request, clients=level, seconds=size["seconds"],
                                           seed=r * 1000 + level, warmup=size["warmup"], headers=headers)
                        outcomes.append(outcome)
                        results[name].setdefault(level, []).append(outcome)
                        print(f"  round {r + 1} {name:<12} {outcome!r}", flush=True)
                    tallies, problems = recorded()
                    problems += check_counts(outcomes, tallies)
                    print(f"  round {r + 1} {name:<12} check: {sent_total(outcomes):,} events sent, "
                          + (f"{len(problems)} problem(s): {problems[:3]}" if problems
                             else "none recorded twice, none answered and lost"), flush=True)
                    if problems:
                        raise SystemExit(f"{name}: the events sent and the state recorded differ")
            except (OSError, RuntimeError) as exc:
                print(f"  round {r + 1} {name}: not measured ({exc})", file=sys.stderr, flush=True)
    return results


def report(results: dict[str, dict[int, list[Outcome]]], levels: tuple[int, ...]) -> list[str]:
    lines = ["", "server    events/s, p50 ms, p99 ms: median of rounds (min-max)"]
    for name, by_level in results.items():
        for level in levels:
            runs = by_level.get(level, [])
            if not runs:
                continue
            rates = [o.rate for o in runs]
            p50s, p99s = [o.p50 for o in runs], [o.p99 for o in runs]
            errors = sum(sum(o.errors.values()) for o in runs)
            line = (f"server    {name:<12} {level:>4} in flight  {cell(rates):>26} ev/s  "
                    f"p50 {cell(p50s, 1e3, 1):>20}  p99 {cell(p99s, 1e3, 1):>22}")
            if errors:
                line += f"  errors {errors}"
            if name == "interlock" and level == TARGET_LEVEL:
                rate, p99 = statistics.median(rates), statistics.median(p99s)
                line += (f"  (target >= {TARGET_RATE:,.0f}/s and p99 < {TARGET_P99 * 1e3:.0f} ms: "
                         f"{'MET' if rate >= TARGET_RATE and p99 < TARGET_P99 else 'BELOW'})")
            lines.append(line)
    base = results.get("interlock", {})
    for peer, target in PEER_TARGETS.items():
        for level in levels:
            if peer not in results or not results[peer].get(level) or not base.get(level):
                continue
            ratios = [a.rate / b.rate for a, b in zip(base[level], results[peer][level], strict=False) if b.rate]
            if not ratios:
                continue
            ratio = statistics.median(ratios)
            lines.append(f"server    interlock / {peer:<8} {level:>4} in flight  {ratio:6.1f}x "
                         f"({min(ratios):.1f}-{max(ratios):.1f}, per round)  (target >= {target:g}x: "
                         f"{'MET' if ratio >= target else 'BELOW'})")
    return lines




def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    raise SystemExit(main())
