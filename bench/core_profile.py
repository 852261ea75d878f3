"""Where Interlock's step spends its time: cProfile of the benchmark loop, one report per machine."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path

from bench.core_machines import MACHINES, events_for

PROFILED_EVENTS = 20_000
REPO = str(Path(__file__).resolve().parents[1]) + "/"


def profile_machine(name: str, *, top: int = 18) -> str:
    """cProfile text for ``PROFILED_EVENTS`` events through our step on machine ``name``."""
    from bench.core_interlock import build  # only when profiling: needs the engine

    instance = build(name)
    run = instance.runner(events_for(MACHINES[name], PROFILED_EVENTS))
    run()  # warm the chart's memo tables, as the timed runs are
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return _trim(out.getvalue())


def _trim(text: str) -> str:
    """Drop pstats' preamble up to the totals line, and shorten absolute paths to the package."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "function calls" in line), 0)
    kept = "\n".join(line.rstrip() for line in lines[start:] if line.strip())
    for marker in ("/src/interlock/", "/site-packages/", REPO):
        kept = _shorten(kept, marker)
    return kept


def _shorten(text: str, marker: str) -> str:
    out = []
    for line in text.splitlines():
        at = line.find(marker)
        if at >= 0:
            begin = line.rfind(" ", 0, at) + 1
            line = line[:begin] + line[at + len(marker):]  # keep the path below the package or repo root
        out.append(line)
    return "\n".join(out)


def profile_report(machines: list[str]) -> str:
    """Markdown: one fenced cProfile listing per machine, sorted by own time."""
    parts = ["# Where Interlock's step spends its time (cProfile, sorted by tottime)", "",
             f"Each listing: {PROFILED_EVENTS:,} events through `step()` after one warm-up pass.",
             "Regenerate with `.venv/bin/python -m bench --profile /work/notes/bench-profile.md`.", ""]
    for name in machines:
        parts += [f"## {name}", "", "```", profile_machine(name), "```", ""]
    return "\n".join(parts)
