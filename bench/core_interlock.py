"""The benchmark shapes in Interlock, built with the Python front end (guards and actions are Python
callables, as the peers' are methods), driven through the pure step.

The runner pre-creates the :class:`~interlock.core.events.Event` objects and loops
``step(chart, snapshot, event)``, keeping only the returned snapshot: exactly the engine's cost per
event, no runtime around it. ``bench/core_documents.py`` builds the same shapes from YAML documents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.core_machines import LIMIT, MACHINES, EventSpec, variables
from interlock.core.chart import Chart
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.python import machine

NAME = "interlock"

COUNTER: dict[str, Any] = {
    "id": "counter",
    "initial": "active",
    "context": dict(MACHINES["counter"].context),
    "states": {"active": {"on": {"INC": {"guard": "can_add", "actions": "add"}}}},
}

ORDER: dict[str, Any] = {
    "id": "order",
    "initial": "cart",
    "context": dict(MACHINES["order"].context),
    "states": {
        "cart": {"on": {"ADD": {"guard": "priced", "actions": "add_item"},
                        "CHECKOUT": {"target": "checkout", "guard": "has_total"}}},
        "checkout": {"on": {"PAY": {"target": "paid", "guard": "covers", "actions": "record_payment"}}},
        "paid": {"on": {"RESET": {"target": "cart", "actions": "clear"}}},
    },
}

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

Context = Mapping[str, Any]

GUARDS: dict[str, Callable[..., bool]] = {
    "below_limit": lambda context, event: context["count"] < LIMIT,
    "at_limit": lambda context, event: context["count"] >= LIMIT,
    "can_add": lambda context, event: context["count"] < context["limit"] and event.data["by"] > 0,
    "priced": lambda context, event: (event.data["price"] > 0
                                      and context["count"] < context["max_items"]),
    "has_total": lambda context, event: context["total"] > 0,
    "covers": lambda context, event: event.data["amount"] >= context["total"],
}


def _add(context: Context, event: Event) -> dict[str, Any]:
    return {"count": context["count"] + event.data["by"], "n": context["n"] + 1}


def _add_item(context: Context, event: Event) -> dict[str, Any]:
    data = event.data
    return {"items": [*context["items"], data["sku"]],
            "total": context["total"] + data["price"] * data["qty"],
            "count": context["count"] + 1}


ACTIONS: dict[str, Callable[..., Any]] = {
    "increment": lambda context, event: {"count": context["count"] + 1},
    "add": _add,
    "add_item": _add_item,
    "record_payment": lambda context, event: {"amount": event.data["amount"]},
    "clear": lambda context, event: {"items": [], "total": 0, "count": 0},
}

CONFIGS = {"counter": COUNTER, "order": ORDER, "flat": FLAT, "hierarchy": HIERARCHY,
           "parallel": PARALLEL}


def chart_for(name: str) -> Chart:
    """The compiled chart of one benchmark shape."""
    return machine(CONFIGS[name], guards=GUARDS, actions=ACTIONS)


class InterlockInstance:
    """A chart and its current snapshot; each event is one pure ``step``."""

    def __init__(self, name: str, chart: Chart) -> None:
        self.name = name
        self.chart = chart
        self.snapshot = start(chart).snapshot

    def send(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        self.snapshot = step(self.chart, self.snapshot, Event(name, data)).snapshot

    def leaves(self) -> frozenset[str]:
        # ids are key paths ("hierarchy.p.q.r1.s1"); the last key is the state's name in every peer
        states = self.chart.states
        return frozenset(s.rsplit(".", 1)[-1] for s in self.snapshot.configuration
                         if states[s].kind == "atomic")

    def context(self) -> dict[str, Any]:
        return variables(self.name, self.snapshot.context)

    def runner(self, events: Sequence[EventSpec]) -> Callable[[], None]:
        prepared = [Event(name, data) for name, data in events]
        chart = self.chart

        def run() -> None:
            snapshot = self.snapshot
            for event in prepared:
                snapshot = step(chart, snapshot, event).snapshot
            self.snapshot = snapshot

        return run


def build(name: str) -> InterlockInstance:
    return InterlockInstance(name, chart_for(name))
