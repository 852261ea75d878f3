"""Timing: events per second through each implementation's event path, measured with perf_counter.

For one machine, every implementation is warmed up and given a batch size that takes about
``batch_seconds``; then the batches are timed round-robin (interlock, peer, peer, ..., repeated), so a
burst of load from other processes hits all implementations alike instead of skewing one ratio. The
reported rate is the best batch (the least disturbed); the median is kept to show the spread.
Garbage collection stays on, as in real use.
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


def measure(instances: dict[str, Instance], machine: Machine, *, repeats: int,
            batch_seconds: float) -> dict[str, Rate]:
    """Events/s for each named instance, driven with whole cycles of ``machine``'s events."""
    events = events_for(machine, EVENTS_PER_CALL)
    runs = {name: instance.runner(events) for name, instance in instances.items()}
    calls = {name: _calibrate(run, batch_seconds) for name, run in runs.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(_time_batch(run, calls[name]))
    return {name: _rate(calls[name] * len(events), times[name]) for name in runs}


def _rate(events: int, times: list[float]) -> Rate:
    return Rate(best=events / min(times), median=events / statistics.median(times), events=events)


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
