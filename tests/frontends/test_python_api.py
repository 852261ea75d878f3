"""The Python API: document-shaped configs with Python callables, driven through the pure step."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.core.effects import InvokeEffect, SendEffect
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.errors import DefinitionError
from interlock.frontends.python import machine
from interlock.runtime.tasks import Task

COUNTER = {
    "id": "counter",
    "initial": "counting",
    "context": {"count": 0},
    "states": {
        "counting": {
            "on": {
                "INC": [
                    {"target": "full", "guard": "at_limit", "actions": "increment"},
                    {"actions": "increment"},
                ],
                "RESET": {"actions": {"assign": {"count": lambda context, event: 0}}},
            },
        },
        "full": {"type": "final", "output": {"count": "count"}},
    },
}


def test_named_guards_and_assign_like_actions() -> None:
    chart = machine(COUNTER, guards={"at_limit": lambda context, event: context["count"] >= 2},
                    actions={"increment": lambda context, event: {"count": context["count"] + 1}})
    snapshot = start(chart).snapshot
    snapshot = step(chart, snapshot, "INC").snapshot
    assert (snapshot.configuration[-1], snapshot.context) == ("counter.counting", {"count": 1})
    assert step(chart, snapshot, "RESET").snapshot.context == {"count": 0}
    for _ in range(2):
        snapshot = step(chart, snapshot, "INC").snapshot
    assert (snapshot.status, snapshot.output) == ("done", {"count": 3})


def test_callables_receive_the_context_and_the_event_themselves() -> None:
    seen: list[tuple[Any, Any]] = []

    def guard(context: dict[str, Any], event: Event) -> bool:
        seen.append((context, event))
        return True

    chart = machine({"initial": "a", "context": {"n": 1},
                     "states": {"a": {"on": {"GO": {"target": "b", "guard": guard}}}, "b": {}}})
    first = start(chart)
    event = Event("GO", {"x": 1})
    step(chart, first.snapshot, event)
    ((context, received),) = seen
    assert received is event
    assert context is first.snapshot.context  # no copy is made to call a guard


def test_inline_actions_guards_assigns_and_plain_side_effects() -> None:
    log: list[str] = []
    chart = machine({
        "initial": "idle",
        "context": {"total": 0, "lines": []},
        "states": {
            "idle": {
                "on": {
                    "ADD": {
                        "guard": lambda context, event: event.data["qty"] > 0,
                        "actions": [
                            {"assign": {"total": lambda c, e: c["total"] + e.data["qty"] * e.data["price"],
                                        "lines": "lines + [event.data.sku]"}},
                            lambda context, event: log.append(event.data["sku"]),  # returns None: ignored
                        ],
                    },
                },
            },
        },
    })
    snapshot = start(chart).snapshot
    snapshot = step(chart, snapshot, Event("ADD", {"sku": "a", "qty": 2, "price": 5})).snapshot
    snapshot = step(chart, snapshot, Event("ADD", {"sku": "b", "qty": 0, "price": 9})).snapshot
    assert snapshot.context == {"total": 10, "lines": ["a"]}
    assert log == ["a"]


def test_a_failing_action_becomes_error_execution() -> None:
    chart = machine({"initial": "a", "states": {
        "a": {"on": {"GO": {"actions": lambda c, e: ["not", "a", "mapping"]}, "error.execution": "broken"}},
        "broken": {}}})
    assert step(chart, start(chart).snapshot, "GO").snapshot.configuration[-1] == "machine.broken"


def test_guard_combinators_and_parameterized_guards() -> None:
    def over(context: dict[str, Any], event: Event, *, amount: int) -> bool:
        return bool(event.data["amount"] > amount)

    chart = machine({"initial": "a", "states": {
        "a": {"on": {"PAY": {"target": "review", "guard": {"and": [
            {"type": "over", "params": {"amount": 100}},
            {"not": "event.data.trusted"},
            {"or": ["event.data.amount < 10000", lambda c, e: e.data.get("vip", False)]},
        ]}}}},
        "review": {}}}, guards={"over": over})
    snapshot = start(chart).snapshot
    target = step(chart, snapshot, Event("PAY", {"amount": 500, "trusted": False})).snapshot.configuration[-1]
    assert target == "machine.review"
    for data in ({"amount": 50, "trusted": False}, {"amount": 500, "trusted": True},
                 {"amount": 50000, "trusted": False}):
        assert step(chart, snapshot, Event("PAY", data)).snapshot.configuration[-1] == "machine.a"


def test_services_and_delays_from_python() -> None:
    def charge(task: Task) -> dict[str, Any]:
        return {"receipt": task.input["amount"]}

    chart = machine({"initial": "paying", "context": {"amount": 12, "wait": 3}, "states": {
        "paying": {"invoke": [{"id": "pay", "src": "charge", "input": {"amount": "amount"}},
                              {"id": "audit", "src": lambda task: None}],
                   "after": {"grace": "late", "fixed": "late"}},
        "late": {}}},
        services={"charge": charge}, delays={"grace": lambda context, event: context["wait"] * 1000, "fixed": "1m"})
    first = start(chart)
    invokes = [(e.invokeid, e.src, e.data) for e in first.effects if isinstance(e, InvokeEffect)]
    assert invokes == [("pay", "charge", {"amount": 12}), ("audit", "audit", {})]
    assert [e.delay_ms for e in first.effects if isinstance(e, SendEffect)] == [3000, 60000]
    assert set(chart.services) == {"charge", "audit"}
    assert chart.services["charge"] is charge


def test_problems_are_reported_with_paths_into_the_config() -> None:
    with pytest.raises(DefinitionError) as caught:
        machine({"initial": "a", "states": {"a": {"on": {"GO": {"target": "b", "guard": "ready"}}}}},
                guards={"redy": lambda c, e: True})
    (target,) = caught.value.problems
    assert (target.path, target.message) == ("states.a.on.GO.target", "unknown target 'b'")
    chart = machine({"initial": "a", "states": {"a": {"on": {"GO": {"target": "b", "guard": "ready"}}}, "b": {}}},
                    guards={"redy": lambda c, e: True})
    (guard,) = chart.unprovided  # provided later, or start() refuses the chart
    assert (guard.path, guard.message) == ("states.a.on.GO.guard", "unknown guard 'ready'")
    assert guard.hint.startswith("did you mean 'redy'?")


def test_implementations_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"guards\['ok'\] must be callable"):
        machine({"initial": "a", "states": {"a": {}}}, guards={"ok": True})  # type: ignore[dict-item]


def test_the_benchmark_shapes_run() -> None:
    limit = 3
    flat = machine({"id": "flat", "initial": "A", "states": {
        "A": {"on": {"NEXT": "B"}}, "B": {"on": {"NEXT": "C"}}, "C": {"on": {"NEXT": "A"}}}})
    snapshot = start(flat).snapshot
    for _ in range(4):
        snapshot = step(flat, snapshot, "NEXT").snapshot
    assert snapshot.configuration == ("flat", "flat.B")

    region = {"initial": "one", "states": {"one": {"on": {"FLIP": "two"}}, "two": {"on": {"FLIP": "one"}}}}
    parallel = machine({"id": "p", "initial": "all", "states": {
        "all": {"type": "parallel", "states": {"x": region, "y": region, "z": region}}}})
    snapshot = step(parallel, start(parallel).snapshot, "FLIP").snapshot
    assert [s for s in snapshot.configuration if s.endswith(("one", "two"))] == [
        "p.all.x.two", "p.all.y.two", "p.all.z.two"]

    deep = machine({"id": "h", "initial": "p", "context": {"count": 0}, "states": {"p": {
        "initial": "q", "states": {"q": {"initial": "s1", "states": {
            "s1": {"on": {"STEP": {"target": "s2", "guard": "below", "actions": "inc"}}},
            "s2": {"on": {"STEP": {"target": "s1", "guard": "below", "actions": "inc"}}}}}}}}},
        guards={"below": lambda c, e: c["count"] < limit},
        actions={"inc": lambda c, e: {"count": c["count"] + 1}})
    snapshot = start(deep).snapshot
    for _ in range(5):
        snapshot = step(deep, snapshot, "STEP").snapshot
    assert (snapshot.configuration[-1], snapshot.context) == ("h.p.q.s2", {"count": 3})
