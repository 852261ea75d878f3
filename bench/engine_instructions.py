"""Instructions per event of the engine step, counted by valgrind's callgrind (load-insensitive).

    .venv/bin/python -m bench.engine_instructions                       # counter, order x both builds
    .venv/bin/python -m bench.engine_instructions --machines order --builds documents --keep /tmp/cg
    PYTHONPATH=/tmp/engbase/src .venv/bin/python -m bench.engine_instructions   # another checkout's engine

The method of docs/benchmarks.md (sixth round): the bench's own runner (``InterlockInstance.runner``,
events prepared up front, ``step`` in a loop) after two warm-up passes, run under
``valgrind --tool=callgrind --collect-atstart=no --toggle-collect=builtin_breakpoint``: the timed loop is
called through ``breakpoint()`` (``sys.breakpointhook`` is the loop), so start-up, loading and event
creation are not counted. ``PYTHONHASHSEED=0``. Each cell runs in a child interpreter of its own; the
figure is the collected total divided by the events run. With ``--keep DIR`` the callgrind files stay
there, for ``callgrind_annotate --inclusive=yes FILE``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

BUILDS = {"callables": "bench.core_interlock", "documents": "bench.core_documents"}
EVENTS = 2_595  # whole cycles of at least this many: counter 2,597, order 2,600 (as in the sixth round)


def child(machine: str, build: str, events: int) -> None:
    """Run inside valgrind: warm up, then run the loop once through ``breakpoint()``."""
    import importlib

    from bench.core_machines import MACHINES, events_for

    instance = importlib.import_module(BUILDS[build]).build(machine)
    batch = events_for(MACHINES[machine], events)
    run = instance.runner(batch)
    run()
    run()
    sys.breakpointhook = run
    breakpoint()  # collected: exactly one pass of the runner
    print(len(batch))


def measure(machine: str, build: str, events: int, keep: str | None) -> float:
    out_dir = keep or tempfile.mkdtemp(prefix="interlock-callgrind-")
    out = Path(out_dir) / f"callgrind.{machine}.{build}"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONBREAKPOINT", None)
    cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=builtin_breakpoint",
           f"--callgrind-out-file={out}", sys.executable, "-m", "bench.engine_instructions",
           "--child", machine, build, str(events)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    ran = int(done.stdout.split()[-1])
    text = out.read_text()
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no total in {out}")
    if keep is None:
        out.unlink()
        os.rmdir(out_dir)
    return int(found.group(1)) / ran


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", default="counter,order")
    parser.add_argument("--builds", default="callables,documents")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--keep", help="a directory to keep the callgrind files in")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        machine, build, events = args.child
        child(machine, build, int(events))
        return
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    import interlock

    print(f"engine: {Path(interlock.__file__).parent}")
    machines, builds = args.machines.split(","), args.builds.split(",")
    figures: dict[tuple[str, str], float] = {}
    for machine in machines:
        for build in builds:
            figures[machine, build] = measure(machine, build, args.events, args.keep)
            print(f"{machine:10} {build:10} {figures[machine, build]:10,.0f} instructions per event", flush=True)
    for machine in machines:
        if (machine, "callables") in figures and (machine, "documents") in figures:
            ratio = figures[machine, "callables"] / figures[machine, "documents"]
            print(f"{machine:10} documents / callables (speed, from instructions) {ratio:.3f}")


if __name__ == "__main__":
    main()
