"""The benchmark machines in Interlock: built with the Python front end, driven through the pure step.

Guards and the assign are Python callables, as the peers' are methods. The runner pre-creates the
:class:`~interlock.core.events.Event` objects and loops ``step(chart, snapshot, event)``, keeping only
the returned snapshot: exactly the engine's cost per event, no runtime around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.core_machines import LIMIT
from interlock.core.chart import Chart
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.python import machine

NAME = "interlock"

FLAT: dict[str, Any] = {
    "id": "flat",
    "initial": "A",
    "states": {
        "A": {"on": {"NEXT": "B"}},
        "B": {"on": {"NEXT": "C"}},
        "C": {"on": {"NEXT": "A"}},
    },
}

HIERARCHY: dict[str, Any] = {
    "id": "hierarchy",
    "initial": "p",
    "context": {"count": 0},
    "states": {"p": {"initial": "q", "states": {"q": {"initial": "r1", "states": {
        "r1": {
            "initial": "s1",
            "on": {"STEP": "r2"},
            "states": {
                "s1": {"on": {"STEP": {"target": "s2", "guard": "below_limit", "actions": "increment"}}},
                "s2": {"on": {"STEP": {"target": "s1", "guard": "at_limit"}}},
            },
        },
        "r2": {
            "initial": "s3",
            "on": {"STEP": "r1"},
            "states": {
                "s3": {"on": {"STEP": {"target": "s4", "guard": "below_limit", "actions": "increment"}}},
                "s4": {},
            },
        },
    }}}}},
}


def _region(r: str) -> dict[str, Any]:
    event = f"E{r.upper()}"
    return {"initial": f"{r}1", "states": {f"{r}1": {"on": {event: f"{r}2"}},
                                           f"{r}2": {"on": {event: f"{r}1"}}}}


PARALLEL: dict[str, Any] = {
    "id": "parallel",
    "initial": "P",
    "states": {"P": {"type": "parallel", "states": {r: _region(r) for r in "xyz"}}},
}

GUARDS: dict[str, Callable[..., bool]] = {
    "below_limit": lambda context, event: context["count"] < LIMIT,
    "at_limit": lambda context, event: context["count"] >= LIMIT,
}
ACTIONS: dict[str, Callable[..., Any]] = {
    "increment": lambda context, event: {"count": context["count"] + 1},
}

CONFIGS = {"flat": FLAT, "hierarchy": HIERARCHY, "parallel": PARALLEL}


def chart_for(name: str) -> Chart:
    """The compiled chart of one benchmark machine."""
    return machine(CONFIGS[name], guards=GUARDS, actions=ACTIONS)


class InterlockInstance:
    def __init__(self, name: str) -> None:
        self.chart = chart_for(name)
        self.snapshot = start(self.chart).snapshot

    def send(self, event: str) -> None:
        self.snapshot = step(self.chart, self.snapshot, Event(event)).snapshot

    def leaves(self) -> frozenset[str]:
        # ids are key paths ("hierarchy.p.q.r1.s1"); the last key is the state's name in every peer
        states = self.chart.states
        return frozenset(s.rsplit(".", 1)[-1] for s in self.snapshot.configuration
                         if states[s].kind == "atomic")

    def count(self) -> int:
        return int(self.snapshot.context.get("count", 0))

    def runner(self, events: Sequence[str]) -> Callable[[], None]:
        prepared = [Event(e) for e in events]
        chart = self.chart

        def run() -> None:
            snapshot = self.snapshot
            for event in prepared:
                snapshot = step(chart, snapshot, event).snapshot
            self.snapshot = snapshot

        return run


def build(name: str) -> InterlockInstance:
    return InterlockInstance(name)
