"""XState machine configs exported as JSON load as they are (v4 and v5 spellings)."""

from __future__ import annotations

import json
from typing import Any

from interlock.core.effects import InvokeEffect, LogEffect, SendEffect
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.loader import load_machine

# JSON.stringify(fetchMachine.config) of an XState v4 machine: functions are dropped, names stay.
V4_EXPORT = json.dumps({
    "id": "fetch",
    "predictableActionArguments": True,
    "preserveActionOrder": True,
    "tsTypes": {},
    "initial": "idle",
    "context": {"retries": 0, "data": None},
    "states": {
        "idle": {"on": {"FETCH": {"target": "loading"}}},
        "loading": {
            "invoke": {
                "src": "fetchData",
                "onDone": {"target": "success", "actions": "setData"},
                "onError": [
                    {"target": "loading", "cond": "canRetry",
                     "actions": {"type": "xstate.assign", "assignment": {"note": "retrying"}}},
                    {"target": "failure"},
                ],
            },
            "after": {"5000": "failure"},
        },
        "success": {"type": "final", "data": {"ok": "True"}},
        "failure": {
            "entry": [{"type": "xstate.log", "label": "failed"},
                      {"type": "xstate.send", "event": {"type": "FAILED", "reason": "timeout"}, "to": "#_parent"}],
            "on": {"RETRY": {"target": "loading", "internal": False}},
        },
    },
})

V5_EXPORT = {
    "id": "toggle",
    "initial": "inactive",
    "context": {"count": 0},
    "states": {
        "inactive": {"on": {"TOGGLE": {"target": "active", "guard": {"type": "below", "params": {"max": 2}}}}},
        "active": {
            "entry": [{"type": "track", "params": {"name": "activated"}}],
            "on": {"TOGGLE": {"target": "inactive", "reenter": True}},
            "tags": "on",
            "description": "The toggle is on",
            "meta": {"color": "green"},
        },
    },
}


def test_an_xstate_v4_export_loads_and_runs() -> None:
    chart = load_machine(V4_EXPORT, services={"fetchData": lambda task: {"rows": 1}},
                         actions={"setData": lambda context, event: {"data": event.data}},
                         guards={"canRetry": lambda context, event: context["retries"] < 1})
    result = step(chart, start(chart).snapshot, "FETCH")
    (invoke,) = [e for e in result.effects if isinstance(e, InvokeEffect)]
    assert invoke.invokeid == "fetch.loading:invocation[0]"  # XState v4's default invoke id
    assert [e.delay_ms for e in result.effects if isinstance(e, SendEffect)] == [5000]
    done = step(chart, result.snapshot, Event(f"done.invoke.{invoke.invokeid}", {"rows": 1},
                                              invokeid=invoke.invokeid))
    assert done.snapshot.status == "done"
    assert done.snapshot.context["data"] == {"rows": 1}
    assert done.snapshot.output == {"ok": True}


def test_xstate_action_objects_keep_literal_values() -> None:
    chart = load_machine(V4_EXPORT, defer_services=True, actions={"setData": print},
                         guards={"canRetry": lambda context, event: True})
    loading = step(chart, start(chart).snapshot, "FETCH").snapshot
    invokeid = "fetch.loading:invocation[0]"
    retried = step(chart, loading, Event(f"error.invoke.{invokeid}", {"message": "x"}, invokeid=invokeid))
    assert retried.snapshot.context["note"] == "retrying"  # a literal string, not an expression
    timeout = step(chart, loading, Event("xstate.after.fetch.loading.#0", sendid="xstate.after.fetch.loading.#0"))
    assert timeout.snapshot.configuration[-1] == "fetch.failure"
    assert [(e.label, e.value) for e in timeout.effects if isinstance(e, LogEffect)] == [("failed", None)]
    (sent,) = [e for e in timeout.effects if isinstance(e, SendEffect) and e.target == "#_parent"]
    assert (sent.event.name, sent.event.data) == ("FAILED", {"reason": "timeout"})


def test_an_xstate_v5_config_with_parameterized_guards_and_actions() -> None:
    tracked: list[Any] = []

    def below(context: dict[str, Any], event: Event, *, max: int) -> bool:
        return bool(context["count"] < max)

    def track(context: dict[str, Any], event: Event, *, name: str) -> dict[str, Any]:
        tracked.append(name)
        return {"count": context["count"] + 1}

    chart = load_machine(json.dumps(V5_EXPORT), guards={"below": below}, actions={"track": track})
    snapshot = start(chart).snapshot
    for _ in range(5):
        snapshot = step(chart, snapshot, "TOGGLE").snapshot
    assert snapshot.configuration[-1] == "toggle.inactive"
    assert snapshot.context == {"count": 2}
    assert tracked == ["activated", "activated"]
    active = chart.state("toggle.active")
    assert (active.tags, active.description, active.meta) == (("on",), "The toggle is on", {"color": "green"})
