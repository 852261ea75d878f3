"""Timing: events per second through each implementation's event path, measured with perf_counter.

For one shape, every implementation is warmed up and given a batch size that takes about
``batch_seconds``; then the batches are timed in rounds (interlock, peer, peer, ..., repeated), so a
burst of load from other processes hits every implementation of a round alike. Reported: the median
round and the spread (slowest and fastest round, and the interquartile range); ratios are taken per
round (both batches of a ratio ran within the same second or so) and reported as their median with
their range. Garbage collection stays on, as in real use.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.core_machines import Instance, Machine, events_for

# One runner call processes whole cycles of at least this many events; loop overhead is negligible.
EVENTS_PER_CALL = 600


@dataclass(frozen=True)
class Rounds:
    rounds: tuple[float, ...]  # one figure per round, in round order

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def low(self) -> float:
        return min(self.rounds)

    @property
    def high(self) -> float:
        return max(self.rounds)


@dataclass(frozen=True)
class Rate(Rounds):
    """Events per second of each round."""

    @property
    def iqr(self) -> tuple[float, float]:
        """The 25th and 75th percentiles of the rounds (equal to low/high below four rounds)."""
        if len(self.rounds) < 4:
            return self.low, self.high
        q = statistics.quantiles(self.rounds, n=4, method="inclusive")
        return q[0], q[2]


@dataclass(frozen=True)
class Ratio(Rounds):
    """Ours / theirs, round by round."""


def ratio_of(ours: Rate, theirs: Rate) -> Ratio:
    return Ratio(tuple(a / b for a, b in zip(ours.rounds, theirs.rounds, strict=True)))


def measure(instances: dict[str, Instance], machine: Machine, *, repeats: int,
            batch_seconds: float) -> dict[str, Rate]:
    """Events/s for each named instance, driven with whole cycles of ``machine``'s events."""
    events = events_for(machine, EVENTS_PER_CALL)
    runs = {name: instance.runner(events) for name, instance in instances.items()}
    calls = {name: _calibrate(run, batch_seconds) for name, run in runs.items()}
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            rates[name].append(calls[name] * len(events) / _time_batch(run, calls[name]))
    return {name: Rate(tuple(r)) for name, r in rates.items()}


def _calibrate(run: Callable[[], None], batch_seconds: float) -> int:
    """Warm up, then find how many runner calls make a batch of about ``batch_seconds``."""
    run()
    calls = 1
    while True:
        elapsed = _time_batch(run, calls)
        if elapsed >= batch_seconds / 4:
            return max(1, round(calls * batch_seconds / elapsed))
        calls *= 4


def _time_batch(run: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return time.perf_counter() - start
