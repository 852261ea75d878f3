"""The results table, the ratios between implementations, and the performance targets.

Every figure is a median of rounds with its spread; a ratio is the median of the per-round ratios
(both sides timed in the same round) with the range of those ratios.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bench.core_impls import DOCUMENTS, OURS
from bench.core_machines import MACHINES
from bench.core_timing import Rate, Ratio, ratio_of

REALISTIC = ("counter", "order")
MEMOIZED = ("flat", "hierarchy", "parallel")
PSM = "python-statemachine"


@dataclass(frozen=True)
class Target:
    machine: str
    ours: str  # the implementation whose rate is divided
    peer: str  # ... by this one's
    ratio: float  # the quotient must be at least this

    def label(self) -> str:
        return f"{self.machine}: {self.ours} >= {self.ratio:g}x {self.peer}"


TARGETS: tuple[Target, ...] = (
    *(t for m in REALISTIC for t in (
        Target(m, OURS, "transitions", 3.0),
        Target(m, DOCUMENTS, "transitions", 2.5),
        Target(m, DOCUMENTS, OURS, 0.8),
        Target(m, OURS, PSM, 20.0),
        Target(m, OURS, "sismic", 20.0),
        Target(m, DOCUMENTS, PSM, 20.0),
        Target(m, DOCUMENTS, "sismic", 20.0),
    )),
    Target("flat", OURS, "transitions", 2.0),
    *(Target(m, OURS, p, 10.0) for m in MEMOIZED for p in ("sismic", PSM)),
)

Results = dict[tuple[str, str], Rate]  # (machine, implementation) -> rate


def ratio(results: Results, machine: str, ours: str, peer: str) -> Ratio | None:
    a, b = results.get((machine, ours)), results.get((machine, peer))
    if a is None or b is None:
        return None
    return ratio_of(a, b)


def _shown(r: Ratio | None) -> str:
    return "" if r is None else f"{r.median:.2f}x ({r.low:.2f}-{r.high:.2f})"


def table(results: Results, machines: Iterable[str], impls: Iterable[str]) -> list[str]:
    """Markdown rows: shape, implementation, median events/s with its spread, ratios of ours to it."""
    rows = ["| shape (memo serves) | implementation | events/s median | min-max | IQR "
            "| callables / this | documents / this |",
            "|---|---|---:|---:|---:|---:|---:|"]
    impls = list(impls)
    for machine in machines:
        for impl in impls:
            rate = results.get((machine, impl))
            if rate is None:
                continue
            q1, q3 = rate.iqr
            ours = _shown(ratio(results, machine, OURS, impl)) if impl != OURS else ""
            docs = _shown(ratio(results, machine, DOCUMENTS, impl)) if impl != DOCUMENTS else ""
            rows.append(f"| {machine} ({MACHINES[machine].memo}) | {impl} | {rate.median:,.0f} "
                        f"| {rate.low:,.0f}-{rate.high:,.0f} | {q1:,.0f}-{q3:,.0f} | {ours} | {docs} |")
    return rows


def target_lines(results: Results) -> tuple[list[str], bool]:
    """One line per target that could be checked (median ratio, its range, MET/BELOW), and whether all
    of those were met (on the median)."""
    lines, all_met = [], True
    for t in TARGETS:
        r = ratio(results, t.machine, t.ours, t.peer)
        if r is None:
            lines.append(f"- {t.label()}: not measured")
            continue
        met = r.median >= t.ratio
        all_met = all_met and met
        lines.append(f"- {t.label()}: {r.median:.2f}x (rounds {r.low:.2f}-{r.high:.2f}) "
                     f"{'MET' if met else 'BELOW'}")
    return lines, all_met
