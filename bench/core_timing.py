"""Timing: events per second through one implementation's event path, measured with perf_counter.

Each measurement warms up, sizes a batch to take about ``batch_seconds``, then times ``repeats``
batches. The reported rate is the best batch (the least disturbed by other processes on a shared
machine); the median is kept too, to show the spread.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.core_machines import Instance, Machine, events_for

# One runner call processes this many events; outer-loop overhead is negligible next to it.
EVENTS_PER_CALL = 600


@dataclass(frozen=True)
class Rate:
    best: float  # events per second, fastest batch
    median: float  # events per second, median batch
    events: int  # events per batch


def measure(instance: Instance, machine: Machine, *, repeats: int, batch_seconds: float) -> Rate:
    """Events/s for ``instance`` driven with whole cycles of ``machine``'s events."""
    events = events_for(machine, EVENTS_PER_CALL)
    run = instance.runner(events)
    calls = _calibrate(run, batch_seconds)
    times = [_time_batch(run, calls) for _ in range(repeats)]
    n = calls * len(events)
    return Rate(best=n / min(times), median=n / statistics.median(times), events=n)


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
