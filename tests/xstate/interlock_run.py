"""Runs a differential-test case through Interlock, observing what driver.mjs observes in XState.

The chart runs on the pure engine; delayed sends are timers on a simulated clock, fired one at a time in
order of their due time, as the driver fires XState's timers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from interlock.core import run as run_module
from interlock.core.effects import CancelEffect, SendEffect
from interlock.core.step import StepResult, start, step
from interlock.errors import DefinitionError, StepLimitError
from interlock.frontends.document import load_document

Observation = dict[str, Any]


class _Timers:
    """Timers as the in-memory runner keeps them: a send id may be due more than once; cancel drops all."""

    def __init__(self) -> None:
        self.now = 0
        self.due: list[tuple[int, SendEffect]] = []

    def take(self, result: StepResult) -> None:
        for effect in result.effects:
            if isinstance(effect, SendEffect) and effect.delay_ms > 0 and effect.target is None:
                self.due.append((self.now + effect.delay_ms, effect))
            elif isinstance(effect, CancelEffect):
                self.due = [d for d in self.due if d[1].sendid != effect.sendid]

    def next_within(self, until: int) -> tuple[int, SendEffect] | bool | None:
        """The next timer due by ``until`` (removed); None when none is; False when two are due at once."""
        if not self.due:
            return None
        first = min(self.due, key=lambda item: item[0])
        if first[0] > until:
            return None
        if sum(1 for when, _ in self.due if when == first[0]) > 1:
            return False
        self.due.remove(first)
        return first


def observe(result: StepResult) -> Observation:
    snap = result.snapshot
    return {"config": sorted(snap.configuration), "status": snap.status, "context": snap.context or None}


def trace(context: dict[str, Any], event: Any, t: str) -> dict[str, Any]:
    """The one named action random charts use (driver.mjs has its twin): append ``t`` to the trace."""
    return {"trace": [*context["trace"], t]}


# the driver gives XState maxIterations 200: charts that loop forever fail as fast here
LOOP_LIMIT = 200


def run_case(case: dict[str, Any], reenter_active: bool = False) -> list[Observation]:
    """The observations of one case. ``reenter_active`` runs it as XState does where Interlock knowingly
    differs: states that stay active are entered again (KNOWN_DIFFERENCES reentry-while-active)."""
    saved = run_module.MAX_MACROSTEP_WORK
    run_module.MAX_MACROSTEP_WORK = LOOP_LIMIT
    try:
        return _run(case, reenter_active)
    finally:
        run_module.MAX_MACROSTEP_WORK = saved


def _run(case: dict[str, Any], reenter_active: bool) -> list[Observation]:
    try:
        chart = load_document(case["config"], actions={"trace": trace})
    except DefinitionError as exc:
        return [{"error": str(exc).splitlines()[0]}]
    if reenter_active:
        chart.rules = dataclasses.replace(chart.rules, reenter_active=True)
    timers = _Timers()
    try:
        result = start(chart, sessionid="s")
    except StepLimitError:
        return [{"status": "error"}]
    timers.take(result)
    out = [observe(result)]
    for item in case["script"]:
        try:
            if "send" in item:
                result = step(chart, result.snapshot, item["send"])
                timers.take(result)
            else:
                until = timers.now + item["wait"]
                while (due := timers.next_within(until)) is not None:
                    if due is False:
                        out.append({"tie": True})
                        return out
                    assert not isinstance(due, bool)
                    when, effect = due
                    timers.now = when
                    result = step(chart, result.snapshot, effect.event)
                    timers.take(result)
                timers.now = until
        except StepLimitError:
            out.append({"status": "error"})
            return out
        out.append(observe(result))
    return out
