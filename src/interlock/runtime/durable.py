"""The durable runtime: a store, the machines and services of this process, its writer and its worker."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from interlock.core.chart import Chart
from interlock.errors import StorageError
from interlock.runtime.clock import Clock, SystemClock
from interlock.runtime.endings import Endings
from interlock.runtime.fingerprint import definition_text, opaque_code
from interlock.runtime.machines import inline_children, shape_of
from interlock.runtime.registry import Registry
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.watchdog import DEFAULT_STEP_TIME_LIMIT
from interlock.runtime.worker import Worker
from interlock.runtime.writer import Writer
from interlock.runtime.writes import MachineVersion, Register
from interlock.storage import open_store
from interlock.storage.store import InstanceRow, Store, closed_inside

log = logging.getLogger("interlock.runtime")
ENDED_READ = 500  # instances the waiters' poller reads per read transaction


class DurableRuntime:
    """Wires the parts together; :class:`interlock.Interlock` is the API over it."""

    def __init__(self, url: str, *, clock: Clock | None = None, synchronous: str = "FULL",
                 concurrency: int = 8, poll: float = 1.0, max_batch: int = 512,
                 seed: int | None = None, step_time_limit: float | None = DEFAULT_STEP_TIME_LIMIT) -> None:
        self.clock: Clock = clock or SystemClock()
        self.store: Store = open_store(url, synchronous=synchronous)
        self.registry = Registry()
        self.worker = Worker(self, concurrency=concurrency, poll=poll, seed=seed)
        self.endings = Endings(self._ended_rows, poll, self.store.others_committed)  # Interlock.wait's waiters
        self.writer = Writer(self.store, self.registry, self.clock, max_batch=max_batch,
                             on_commit=self.worker.wake, claimer=self.worker, endings=self.endings,
                             step_time_limit=step_time_limit)
        self._leaves: dict[tuple[str, str, tuple[str, ...]], tuple[str, ...]] = {}
        self._closed = False

    def register(self, chart: Chart, *, latest: bool = True) -> Chart:
        """Record and run ``chart``; new instances get it by default unless ``latest`` is False (a server
        loading an older uploaded version after a newer one)."""
        self.registry.check(chart)
        children = list(inline_children(chart.name, chart, strict=not chart.lenient))
        versions = [(chart.name, chart.version, chart), *((n, c.version, c) for n, c in children)]
        self.writer.call(Register(tuple(MachineVersion(name, version, shape_of(compiled), definition_text(compiled))
                                        for name, version, compiled in versions)))
        code = opaque_code(chart)
        if code:
            log.info("machine %r version %r runs Python code (%s): it is compared with other processes' by "
                     "name only; change the version when you change what it does", chart.name,
                     chart.version, ", ".join(code))
        self.registry.add_chart(chart, latest=latest)
        for service, fn in chart.services.items():  # implementations the chart was built with
            if service not in self.registry.services:
                self.registry.add_service(service, fn, RetryPolicy())
        for name, child in children:
            child.uploaded = chart.uploaded  # an inline child is part of its parent's definition
            self.registry.add_alias(name, chart.version, child, latest=latest)
        return chart

    def leaves(self, row: InstanceRow) -> tuple[str, ...]:
        """The active atomic states of a row (all of its configuration if the chart is not known here)."""
        return self.leaves_of(row.machine, row.version, row.snapshot["configuration"])

    def leaves_of(self, machine: str, version: str, configuration: Sequence[str]) -> tuple[str, ...]:
        config = tuple(configuration)
        key = (machine, version, config)
        found = self._leaves.get(key)  # a chart has few configurations; this is asked on every answer
        if found is not None:
            return found
        try:
            chart = self.registry.chart(machine, version)
        except Exception:
            return config
        found = chart.leaves(config)  # a state it lacks (a chart changed under the same version) is left out
        if len(self._leaves) < 100_000:
            self._leaves[key] = found
        return found

    def next_wakeup(self) -> float | None:
        with self.store.read() as tx:
            return tx.next_wakeup()

    def run_until_idle(self, *, max_rounds: int = 10_000) -> int:
        """Do all work that is due now, inline, until nothing is left; returns how much was done."""
        total = 0
        for _ in range(max_rounds):
            done = self.worker.run_once(inline=True)
            if not done:
                return total
            total += done
        raise RuntimeError(f"still busy after {max_rounds} rounds; is a chart looping through timers?")

    def close(self) -> None:
        self.writer.refuse_inside_a_step()
        if self.store.inside_transaction():  # before anything stops: the app stays usable
            raise closed_inside()
        self.endings.stopping()  # its poller's reads fail from the next line on: no warning for that
        self._closed = True
        self.endings.close()  # waiters read again and find the app closed
        self.worker.stop()
        self.writer.close()
        self.store.close()

    def _ended_rows(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], InstanceRow]:
        """Which of these instances have ended, as the store has them now (the waiters' poller)."""
        found: dict[tuple[str, str], InstanceRow] = {}
        for start in range(0, len(keys), ENDED_READ):  # short read transactions, one statement each
            with self.read() as tx:
                for row in tx.ended_instances(keys[start:start + ENDED_READ]):
                    found[(row.machine, row.id)] = row
        return found

    def read(self) -> Any:
        if self._closed:
            raise StorageError("this Interlock app is closed; open a new one")
        self.writer.refuse_inside_a_step()
        return self.store.read()
