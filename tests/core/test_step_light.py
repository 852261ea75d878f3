"""The step's light path (a targetless transition that only updates the context, in a chart without
eventless transitions) gives exactly what the general path gives: the same chart with one eventless
transition that never fires takes the general path for every step, and the two must agree."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.core.events import Event
from interlock.core.step import StepResult, start, step
from interlock.frontends.document import load_document


def _document(*, eventless: bool) -> dict[str, Any]:
    states: dict[str, Any] = {
        "active": {"on": {
            "INC": {"guard": "count < limit and event.by > 0", "actions": {"assign": {"count": "count + event.by"}}},
            "ADD": {"actions": [{"assign": {"items": "items + [event.sku]"}}, {"assign": {"n": "n + 1"}}]},
            "BAD": {"actions": [{"assign": {"n": "n + missing"}}, {"assign": {"n": "n + 100"}}]},
            "CUSTOM": {"actions": "boom"},
            "PING": {},
            "GO": {"target": "other", "actions": {"assign": {"seen": "In('m.active') or In('m.other')"}}},
        }},
        "other": {"on": {
            "BACK": {"target": "active", "actions": [{"assign": {"n": "n + missing"}}, {"assign": {"n": "n + 100"}}]},
            "HOP": "active",
        }},
        "never": {},
    }
    if eventless:  # the general path for every step: the chart has an eventless transition
        states["never"]["always"] = {"guard": "context.false_flag", "target": "active"}
    return {"id": "m", "initial": "active", "states": states,
            "on": {"error.execution": {"actions": {"assign": {"failures": "failures + 1"}}}},
            "context": {"count": 0, "limit": 10, "items": [], "n": 0, "failures": 0, "false_flag": False,
                        "seen": None}}


def _boom(context: Any, event: Any) -> dict[str, Any]:
    raise RuntimeError("boom")


EVENTS = [Event("INC", {"by": 3}), Event("INC", {"by": 0}), Event("INC", {"by": "x"}), Event("INC", None),
          Event("ADD", {"sku": "a"}), Event("ADD", {}), Event("BAD"), Event("CUSTOM"), Event("PING"),
          Event("NOPE"), Event("INC", {"by": 9}), Event("INC", {"by": 9}),
          Event("GO"), Event("BACK"), Event("GO"), Event("HOP"), Event("GO"), Event("HOP")]


def _results(*, eventless: bool) -> list[StepResult]:
    chart = load_document(_document(eventless=eventless), actions={"boom": _boom})
    snapshot = start(chart).snapshot
    out = []
    for _ in range(2):  # the second round runs with the chart's routes and plans remembered
        for event in EVENTS:
            before = snapshot._replace(context=dict(snapshot.context))
            result = step(chart, snapshot, event)
            assert snapshot == before  # the input snapshot is never changed
            out.append(result)
            snapshot = result.snapshot
    return out


def _comparable(result: StepResult) -> tuple[Any, ...]:
    return (result.snapshot, result.effects, [(t.source.id, t.events) for t in result.transitions], result.errors)


def test_the_light_path_gives_what_the_general_path_gives() -> None:
    light, general = _results(eventless=False), _results(eventless=True)
    assert [_comparable(r) for r in light] == [_comparable(r) for r in general]
    assert light[-1].snapshot.context["count"] == 12
    # once count >= limit, INC guards stop before event.by; BACK fails once a round
    assert light[-1].snapshot.context["failures"] == 5 + 3 + 2
    assert light[-1].snapshot.context["seen"] is False  # during a transition's content its source is exited
    assert [r.snapshot.configuration[-1] for r in light[12:18]] == ["m.other", "m.active"] * 3


@pytest.mark.parametrize("name", ["BAD", "CUSTOM"])
def test_a_failing_update_stops_its_block_and_its_error_event_is_processed(name: str) -> None:
    chart = load_document(_document(eventless=False), actions={"boom": _boom})
    result = step(chart, start(chart).snapshot, Event(name))
    assert [e["event"] for e in result.errors] == ["error.execution"]
    assert result.snapshot.context["n"] == 0  # the rest of the block did not run
    assert result.snapshot.context["failures"] == 1  # the internal error event was processed in the step


def test_a_failing_guard_on_the_light_path_is_reported_and_selects_nothing() -> None:
    chart = load_document(_document(eventless=False), actions={"boom": _boom})
    result = step(chart, start(chart).snapshot, Event("INC", {"by": "x"}))
    assert [t.events for t in result.transitions] == [("error.execution",)]  # INC selected nothing
    assert [(e["event"], e["guard"]) for e in result.errors] == [("error.execution", "count < limit and event.by > 0")]
    assert result.snapshot.context["failures"] == 1


def test_the_charts_remembered_routes_and_plans_change_no_step() -> None:
    # the same steps on a chart that keeps its memo tables (routes, plans, a chain's plan by its transition:
    # found again from the second visit on) and on one whose tables are emptied before every step
    warm_chart = load_document(_document(eventless=False), actions={"boom": _boom})
    cold_chart = load_document(_document(eventless=False), actions={"boom": _boom})
    warm, cold = start(warm_chart).snapshot, start(cold_chart).snapshot
    for _ in range(3):
        for event in EVENTS:
            cold_chart.routes.clear()
            cold_chart.route_count = 0
            cold_chart.memo.clear()
            kept, fresh = step(warm_chart, warm, event), step(cold_chart, cold, event)
            assert _comparable(kept) == _comparable(fresh)
            warm, cold = kept.snapshot, fresh.snapshot
    routes = [found for names in warm_chart.routes.values() for found in names.values()]
    assert warm_chart.route_count == len(routes)
    assert any(found.alone for found in routes)  # the chain's plans were found by their transition
    assert all(len(found.alone) <= len(found.plans) for found in routes)
