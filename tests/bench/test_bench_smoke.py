"""Every implementation of every benchmark shape behaves the same, event by event (no timing here).

The expected traces are written out from the shape descriptions in ``bench.core_machines``, so a peer
or either of our front ends that drifts from them fails here rather than benchmarking different work.
"""

from __future__ import annotations

from typing import Any

import pytest
from bench.__main__ import main
from bench.core_impls import DOCUMENTS, MODULES, OURS, load
from bench.core_machines import MACHINES, ORDER_TOTAL, events_for
from bench.core_report import TARGETS

COUNTER = [({"active"}, {"count": c, "n": n, "limit": 10**15})
           for c, n in ((1, 1), (3, 2), (6, 3), (7, 4), (9, 5), (12, 6), (12, 6))]


def _cart(items: str, total: int) -> tuple[set[str], dict[str, Any]]:
    return {"cart"}, {"items": list(items), "total": total, "count": len(items), "max_items": 10,
                      "amount": 0}


ORDER = [
    _cart("a", 250), _cart("a", 250), _cart("ac", 1450), _cart("acd", 1747), _cart("acd", 1747),
    _cart("acdf", 2647), _cart("acdfg", 2947), _cart("acdfg", 2947), _cart("acdfgi", 4946),
    _cart("acdfgij", 5586),
    ({"checkout"}, {"items": list("acdfgij"), "total": 5586, "count": 7, "max_items": 10, "amount": 0}),
    ({"paid"}, {"items": list("acdfgij"), "total": 5586, "count": 7, "max_items": 10, "amount": 5586}),
    ({"cart"}, {"items": [], "total": 0, "count": 0, "max_items": 10, "amount": 5586}),
]

# shape -> (active atomic states, shape variables) after each event of one cycle
EXPECTED: dict[str, list[tuple[set[str], dict[str, Any]]]] = {
    "counter": COUNTER,
    "order": ORDER,
    "flat": [({"B"}, {}), ({"C"}, {}), ({"A"}, {})],
    "hierarchy": [({"s2"}, {"count": 1}), ({"s3"}, {"count": 1}), ({"s4"}, {"count": 2}),
                  ({"s1"}, {"count": 2})],
    "parallel": [({"x2", "y1", "z1"}, {}), ({"x2", "y2", "z1"}, {}), ({"x2", "y2", "z2"}, {})],
}


def _build(impl: str, machine: str):  # type: ignore[no-untyped-def]
    loaded = load(impl)
    if loaded.build is None:
        if impl in (OURS, DOCUMENTS):  # our engine must always load; only the optional peers may be missing
            pytest.fail(loaded.problem)
        pytest.skip(loaded.problem)
    return loaded.build(machine)


def test_the_order_cycle_pays_exactly_the_total() -> None:
    assert ORDER_TOTAL == 5586 == ORDER[9][1]["total"]


@pytest.mark.parametrize("impl", list(MODULES))
@pytest.mark.parametrize("machine", list(MACHINES))
def test_each_event_gives_the_expected_states_and_context(machine: str, impl: str) -> None:
    instance = _build(impl, machine)
    assert instance.leaves() == set(MACHINES[machine].leaves)
    assert instance.context() == dict(MACHINES[machine].context)
    seen = []
    for name, data in MACHINES[machine].cycle:
        instance.send(name, data)
        seen.append((set(instance.leaves()), instance.context()))
    assert seen == EXPECTED[machine]


@pytest.mark.parametrize("impl", list(MODULES))
@pytest.mark.parametrize("machine", list(MACHINES))
def test_the_timed_runner_does_the_same_work_as_send(machine: str, impl: str) -> None:
    # Two cycles plus one event, so the end differs from the start and a no-op runner fails.
    cycle = MACHINES[machine].cycle
    events = [*events_for(MACHINES[machine], 2 * len(cycle)), cycle[0]]
    by_send, by_runner = _build(impl, machine), _build(impl, machine)
    for name, data in events:
        by_send.send(name, data)
    by_runner.runner(events)()
    assert (by_runner.leaves(), by_runner.context()) == (by_send.leaves(), by_send.context())
    assert (by_runner.leaves(), by_runner.context()) != (set(MACHINES[machine].leaves),
                                                         dict(MACHINES[machine].context))


def test_a_quick_run_prints_every_target_of_the_shapes_it_ran(capsys: pytest.CaptureFixture[str]) -> None:
    for impl in MODULES:
        _build(impl, "flat")  # skips when a peer is not installed
    assert main(["--quick", "--machines", "counter,flat"]) == 0
    out = capsys.readouterr().out
    for target in TARGETS:
        if target.machine in ("counter", "flat"):
            line = next(x for x in out.splitlines() if x.startswith(f"- {target.label()}: "))
            assert line.endswith((" MET", " BELOW")), line
    assert "| counter (no step) | interlock-documents |" in out
