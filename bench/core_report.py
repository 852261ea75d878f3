"""The results table, Interlock's ratio to each peer, and the performance targets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.core_impls import OURS
from bench.core_timing import Rate


@dataclass(frozen=True)
class Target:
    machine: str
    peer: str
    ratio: float  # Interlock must process at least this many times the peer's events/s


TARGETS: tuple[Target, ...] = (
    Target("flat", "transitions", 2.0),
    *(Target(m, p, 10.0) for m in ("flat", "hierarchy", "parallel")
      for p in ("sismic", "python-statemachine")),
)

Results = dict[tuple[str, str], Rate]  # (machine, implementation) -> rate


def ratio(results: Results, machine: str, peer: str) -> float | None:
    ours, theirs = results.get((machine, OURS)), results.get((machine, peer))
    if ours is None or theirs is None:
        return None
    return ours.best / theirs.best


def table(results: Results, machines: Iterable[str], impls: Iterable[str]) -> list[str]:
    """Markdown rows: machine, implementation, events/s (best and median), Interlock's ratio."""
    rows = ["| machine | implementation | events/s (best) | events/s (median) | Interlock / this |",
            "|---|---|---:|---:|---:|"]
    for machine in machines:
        for impl in impls:
            rate = results.get((machine, impl))
            if rate is None:
                continue
            r = ratio(results, machine, impl) if impl != OURS else None
            shown = "" if r is None else f"{r:.2f}x"
            rows.append(f"| {machine} | {impl} | {rate.best:,.0f} | {rate.median:,.0f} | {shown} |")
    return rows


def target_lines(results: Results) -> tuple[list[str], bool]:
    """One line per target that could be checked, and whether all of those were met."""
    lines, all_met = [], True
    for t in TARGETS:
        r = ratio(results, t.machine, t.peer)
        if r is None:
            lines.append(f"- {t.machine}: >= {t.ratio:g}x {t.peer}: not measured")
            continue
        met = r >= t.ratio
        all_met = all_met and met
        lines.append(f"- {t.machine}: >= {t.ratio:g}x {t.peer}: {r:.2f}x {'MET' if met else 'BELOW'}")
    return lines, all_met
