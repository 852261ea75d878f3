"""XState selection through its precomputed plan: guards are read in the order of XState's walk over the
active tree, a parallel state's own transition only when none of its regions has one, and the plans for
client-chosen event names stay bounded."""

from __future__ import annotations

from typing import Any

from interlock.core.events import Event
from interlock.core.rules_xstate import MEMO_LIMIT
from interlock.core.step import MAX_ROUTES, start, step
from interlock.frontends.python import machine

READ: list[str] = []


def reads(name: str, result: bool) -> Any:
    def guard(context: dict[str, Any], event: Event) -> bool:
        READ.append(name)
        return result if event.data is None else bool(event.data.get(name, result))
    return guard


PARALLEL: dict[str, Any] = {
    "id": "m",
    "initial": "p",
    "states": {
        "p": {
            "type": "parallel",
            "on": {"GO": {"target": "done", "guard": "p_own"}},
            "states": {
                "a": {"initial": "a1", "states": {
                    "a1": {"on": {"GO": [{"target": "a2", "guard": "a1_first"}, {"target": "a2", "guard": "a1_second"}]}},
                    "a2": {}}},
                "b": {"initial": "b1", "on": {"GO": {"target": ".b2", "guard": "b_parent"}}, "states": {
                    "b1": {"on": {"GO": {"target": "b2", "guard": "b1"}}},
                    "b2": {}}},
            },
        },
        "done": {},
    },
}
GUARDS = {name: reads(name, False) for name in ("p_own", "a1_first", "a1_second", "b_parent", "b1")}


def test_guards_are_read_region_by_region_deepest_first_then_the_parallel_state() -> None:
    chart = machine(PARALLEL, guards=GUARDS)
    snapshot = start(chart).snapshot
    for _ in range(2):  # the second step runs on the memoized plan
        READ.clear()
        result = step(chart, snapshot, "GO")
        assert READ == ["a1_first", "a1_second", "b1", "b_parent", "p_own"]
        assert result.transitions == ()


def test_an_enabled_region_keeps_the_parallel_state_s_own_transition_from_being_read() -> None:
    chart = machine(PARALLEL, guards=GUARDS)
    snapshot = start(chart).snapshot
    for _ in range(2):
        READ.clear()
        result = step(chart, snapshot, Event("GO", {"a1_second": True, "b_parent": True}))
        assert READ == ["a1_first", "a1_second", "b1", "b_parent"]
        assert [t.source.id for t in result.transitions] == ["m.p.a.a1", "m.p.b"]
        assert {"m.p.a.a2", "m.p.b.b2"} <= set(result.snapshot.configuration)


def test_plans_and_routes_for_many_event_names_stay_bounded() -> None:
    chart = machine({"id": "c", "initial": "s", "states": {"s": {"on": {"GO": "t"}}, "t": {}}})
    snapshot = start(chart).snapshot
    for i in range(MEMO_LIMIT + 500):
        snapshot = step(chart, snapshot, f"unknown.{i}").snapshot
    # ~3 entries per unknown name (its plan, the candidates of two states): unbounded, this would be ~150,000
    assert len(chart.memo) <= MEMO_LIMIT + 10
    assert chart.route_count <= MAX_ROUTES  # one route per (configuration, event name): bounded as well
    assert step(chart, snapshot, "GO").snapshot.configuration[-1] == "c.t"


def test_the_configurations_remembered_in_their_entry_orders_stay_bounded() -> None:
    # a snapshot lists its configuration in entry order: 8 regions toggled in random orders give far more
    # orders than MAX_CONFIGS (up to 8! of each configuration), every one of them a legitimate snapshot
    import random

    from interlock.core.run import MAX_CONFIGS

    regions = {f"r{i}": {"initial": "a", "states": {"a": {"on": {f"T{i}": "b"}}, "b": {"on": {f"T{i}": "a"}}}}
               for i in range(8)}
    chart = machine({"id": "m", "type": "parallel", "states": regions})
    snapshot = start(chart).snapshot
    orders, rng = set(), random.Random(7)
    while len(orders) <= MAX_CONFIGS + 100:
        snapshot = step(chart, snapshot, f"T{rng.randrange(8)}").snapshot
        orders.add(snapshot.configuration)
        assert len(chart.configs) <= MAX_CONFIGS
    assert len(snapshot.configuration) == 17  # the machine and one state of each region, entered once
