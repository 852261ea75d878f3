"""The 3-step workflow on PostgreSQL, like for like: Interlock and DBOS Transact on the same server.

Each round runs Interlock's closed loops (bench/durable_workflow.py, over a scratch database) and then
DBOS's (bench/durable_dbos.py in its own process, over another scratch database), with 1, 8 and 32
workflows in flight; both sides commit every step's result before the next starts, at the server's
settings (``synchronous_commit = on`` here). The table gives medians of the rounds with their range, and
the ratio Interlock / DBOS with MET/BELOW against the 10x target (issue #9).
"""

from __future__ import annotations

import statistics
import sys

from bench import durable_workflow as workflow_side
from bench.figures import cell
from bench.postgres_scratch import scratch_database

TARGET = 10.0  # Interlock / DBOS on the same PostgreSQL, same number of workflows in flight


def interlock_round(server: str, levels: tuple[int, ...], seconds: float, round_no: int) -> dict[str, float]:
    with scratch_database(server) as name:
        got = workflow_side.run(f"{server}/{name}", levels=levels, seconds=seconds, open_count=0,
                                round_no=round_no)
    return {level: cell["rate"] for level, cell in got.items()}


def dbos_round(server: str, levels: tuple[int, ...], seconds: float) -> dict[str, float] | None:
    """DBOS's workflows/s per level, or None (not installed, or it failed: said on stderr)."""
    from bench.durable import run_dbos

    with scratch_database(server) as name:
        got = run_dbos("postgres", f"{server}/{name}", levels, seconds, 0)
    if got is None:
        return None
    return {str(level): float(got[str(level)]["rate"]) for level in levels}


def bench_workflow(server: str, *, levels: tuple[int, ...] = (1, 8, 32), seconds: float = 3.0,
                   rounds: int = 3) -> list[str]:
    ours: dict[str, list[float]] = {}
    theirs: dict[str, list[float]] = {}
    for r in range(rounds):
        for level, rate in interlock_round(server, levels, seconds, r).items():
            ours.setdefault(level, []).append(rate)
        for level, rate in (dbos_round(server, levels, seconds) or {}).items():
            theirs.setdefault(level, []).append(rate)
        print(f"  workflow round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return workflow_lines(ours, theirs, levels, seconds, rounds)


def workflow_lines(ours: dict[str, list[float]], theirs: dict[str, list[float]], levels: tuple[int, ...],
                   seconds: float, rounds: int) -> list[str]:
    lines = [f"workflow  3 steps on PostgreSQL, each result committed before the next; closed loops of "
             f"{seconds:g} s per level; {rounds} rounds, median (min-max) workflows/s",
             f"workflow  {'in flight':<10}{'interlock':>22}{'dbos':>22}   ratio (target >= {TARGET:g}x)"]
    for level in map(str, levels):
        row = f"workflow  {level:<10}{cell(ours.get(level, [])):>22}{cell(theirs.get(level, [])):>22}"
        if ours.get(level) and theirs.get(level):
            ratio = statistics.median(ours[level]) / statistics.median(theirs[level])
            row += f"   {ratio:.1f}x {'MET' if ratio >= TARGET else 'BELOW'}"
        lines.append(row)
    return lines

