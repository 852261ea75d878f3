"""``python -m bench``: time every shape in every implementation, print the table and the targets.

Options: ``--machines counter,order``, ``--impls interlock,sismic``, ``--repeats N``,
``--batch-seconds S``, ``--quick`` (3 short rounds: a smoke run, its figures mean little),
``--json PATH`` (write the results), ``--profile PATH`` (write a cProfile report of Interlock's step
per shape instead of timing).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from importlib import metadata

from bench.core_impls import DOCUMENTS, MODULES, OURS, load
from bench.core_machines import MACHINES
from bench.core_profile import profile_report
from bench.core_report import Results, table, target_lines
from bench.core_timing import measure

DISTRIBUTIONS = {"interlock": "interlock", "interlock-documents": "interlock", "transitions": "transitions",
                 "python-statemachine": "python-statemachine", "sismic": "sismic"}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    machines = _choose(args.machines, list(MACHINES), "machine")
    impls = _choose(args.impls, list(MODULES), "implementation")
    if args.profile:
        with open(args.profile, "w", encoding="utf-8") as out:
            out.write(profile_report(machines) + "\n")
        print(f"wrote {args.profile}")
        return 0
    if args.quick:
        args.repeats, args.batch_seconds = 3, 0.01
    print(_environment(impls))
    began = time.perf_counter()
    results = _run(machines, impls, repeats=args.repeats, batch_seconds=args.batch_seconds)
    print()
    print("\n".join(table(results, machines, impls)))
    print()
    lines, all_met = target_lines(results)
    print("Targets (median of the per-round ratios; the range of the rounds in brackets):")
    print("\n".join(lines))
    print(f"\nall measured targets met: {'yes' if all_met else 'NO'}"
          f"  ({time.perf_counter() - began:.0f}s)")
    if args.json:
        _write_json(args.json, results)
    print("\nThe durable runtime (SQLite, group commit, timers, tasks) has its own benchmarks: "
          "python -m bench.durable (--quick for a smoke run)")
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--machines", default="", help="comma-separated subset of " + ",".join(MACHINES))
    parser.add_argument("--impls", default="", help="comma-separated subset of " + ",".join(MODULES))
    parser.add_argument("--repeats", type=int, default=9, help="timed batches per cell (default 9)")
    parser.add_argument("--batch-seconds", type=float, default=0.2, help="length of a batch (default 0.2)")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 0.01 s: a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--profile", metavar="PATH", help="write a cProfile report of our step and exit")
    return parser.parse_args(argv)


def _choose(raw: str, known: list[str], what: str) -> list[str]:
    if not raw:
        return known
    chosen = [x.strip() for x in raw.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    return chosen


def _run(machines: list[str], impls: list[str], *, repeats: int, batch_seconds: float) -> Results:
    results: Results = {}
    loaded = [load(name) for name in impls]
    for impl in loaded:
        if impl.build is None:
            print(f"skipped: {impl.problem}", file=sys.stderr)
    for machine in machines:
        instances = {impl.name: impl.build(machine) for impl in loaded if impl.build is not None}
        rates = measure(instances, MACHINES[machine], repeats=repeats, batch_seconds=batch_seconds)
        for name, rate in rates.items():
            results[(machine, name)] = rate
            print(f"  {machine:<10} {name:<20} {rate.median:>12,.0f} events/s "
                  f"(rounds {rate.low:,.0f}-{rate.high:,.0f})", flush=True)
    return results


def _environment(impls: list[str]) -> str:
    versions = []
    for impl in impls:
        try:
            versions.append(f"{impl} {metadata.version(DISTRIBUTIONS[impl])}")
        except metadata.PackageNotFoundError:
            versions.append(f"{impl} (not installed)")
    return (f"Python {platform.python_version()} ({platform.python_implementation()}) on "
            f"{platform.machine()} {platform.system()}; {', '.join(versions)}\n"
            f"{OURS} (Python callables) and {DOCUMENTS} (YAML, safe expressions): step() in a loop; "
            "peers: their own event call; events/s of whole macrosteps")


def _write_json(path: str, results: Results) -> None:
    data = [{"machine": m, "implementation": i, "median": r.median, "rounds": list(r.rounds)}
            for (m, i), r in results.items()]
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
