"""The CLI's view of a simulation: a :class:`~interlock.runtime.memory.MemoryRunner` on a virtual clock,
with every macrostep of every session kept as a :class:`StepRecord` for printing.

The runner does the work (queues, timers, invoked children, services); this module only watches its
steps through ``on_step`` and remembers what each session looked like before, to show diffs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interlock.cli.trace import StepRecord
from interlock.core.chart import Chart
from interlock.core.events import Event
from interlock.core.snapshot import Snapshot
from interlock.core.step import StepResult
from interlock.errors import InterlockError
from interlock.runtime.clock import VirtualClock
from interlock.runtime.memory import MemoryRunner, Session
from interlock.runtime.services import ServiceFn
from interlock.runtime.step_errors import describe

# Steps allowed without the clock moving: more means the machine keeps sending itself events.
MAX_STEPS_AT_ONE_TIME = 1000


class SimulationError(InterlockError):
    """The simulated machine cannot go on (for example it keeps sending itself events forever)."""


class Simulator:
    """One top-level session of ``chart`` (plus any children it invokes) on a virtual clock."""

    def __init__(self, chart: Chart, *, sessionid: str = "sim", data: dict[str, Any] | None = None,
                 services: dict[str, ServiceFn] | None = None, machines: Sequence[Chart] = ()) -> None:
        self.chart = chart
        self.sessionid = sessionid
        self.clock = VirtualClock()
        self._records: list[StepRecord] = []
        self._before: dict[str, Snapshot] = {}
        self._timers: dict[tuple[str, str], tuple[float, str]] = {}  # (session, sendid) -> (due, event)
        self._burst = (0.0, 0)  # (clock time, steps taken at that time)
        # no trusted folder: an invoke's src names one of these machines (or the chart itself), never a file
        self.runner = MemoryRunner(clock=self.clock, on_step=self._on_step, services=services)
        for known in (*machines, chart):
            self.runner.register_chart(known.name, known)
        self.session: Session = self.runner.start(chart, data=data, sessionid=sessionid)
        self.started = self._take()[0]
        self.runner.run_until_idle(timeout=0)
        self.pending_start = self._take()

    @property
    def now(self) -> float:
        return self.clock.now()

    @property
    def snapshot(self) -> Snapshot:
        assert self.session.snapshot is not None  # set by the runner's start
        return self.session.snapshot

    @property
    def done(self) -> bool:
        return self.session.done

    def timers(self) -> list[tuple[float, str, str]]:
        """The main session's pending delayed sends as ``(due, sendid, event name)``, soonest first."""
        pending = set(self.snapshot.pending)
        return sorted((due, sendid, name) for (sid, sendid), (due, name) in self._timers.items()
                      if sid == self.sessionid and sendid in pending)

    def send(self, name: str, data: Any = None) -> list[StepRecord]:
        """Deliver an external event now and process everything that follows without time passing."""
        self.runner.send(self.sessionid, Event(name, data))
        self.runner.run_until_idle(timeout=0)
        return self._take()

    def advance(self, seconds: float) -> list[StepRecord]:
        """Move the clock forward, firing each timer at its due time, in order."""
        self.runner.advance(seconds)
        return self._take()

    def _take(self) -> list[StepRecord]:
        records, self._records = self._records, []
        return records

    def _on_step(self, session: Session, event: Event | None, result: StepResult) -> None:
        now = self.clock.now()
        self._check_burst(now)
        before = self._before.get(session.id)
        self._before[session.id] = result.snapshot
        for effect in result.effects:
            if effect.kind == "send" and effect.delay_ms > 0:
                self._timers[(session.id, effect.sendid)] = (now + effect.delay_ms / 1000,
                                                            effect.event.name)
        origin = _origin(session, event, before)
        self._records.append(StepRecord(now, event, result.transitions, before, result.snapshot,
                                        result.effects, origin, session.id, session.chart,
                                        describe(result.errors, event)))

    def _check_burst(self, now: float) -> None:
        at, count = self._burst
        count = count + 1 if at == now else 1
        self._burst = (now, count)
        if count > MAX_STEPS_AT_ONE_TIME:
            raise SimulationError(
                f"more than {MAX_STEPS_AT_ONE_TIME} steps at t={now:g}s without time passing: the machine "
                "probably sends itself events forever (look for sends without a delay in a cycle)")


def _origin(session: Session, event: Event | None, before: Snapshot | None) -> str:
    """Who caused a step, for the heading: a timer, the session itself, a child, or the user."""
    if event is None:
        return "start"
    if event.sendid is not None and before is not None and event.sendid in before.pending:
        return "timer"
    if event.type == "platform":
        return "platform"
    if event.invokeid is not None:
        return "child"
    if event.origin == f"#_scxml_{session.id}" or event.type != "external":
        return "self"
    return "you"
