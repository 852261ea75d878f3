"""Every implementation of every benchmark machine behaves the same, event by event (no timing here).

The expected traces are written out from the machine descriptions in ``bench.core_machines``, so a
peer or our engine that drifts from them fails here rather than benchmarking different work.
"""

from __future__ import annotations

import pytest
from bench.core_impls import MODULES, OURS, load
from bench.core_machines import MACHINES, events_for

# machine -> events sent, then (active atomic states, count) after each event
EXPECTED: dict[str, tuple[list[str], list[tuple[set[str], int]]]] = {
    "flat": (["NEXT"] * 6, [({"B"}, 0), ({"C"}, 0), ({"A"}, 0), ({"B"}, 0), ({"C"}, 0), ({"A"}, 0)]),
    "hierarchy": (["STEP"] * 8, [
        ({"s2"}, 1), ({"s3"}, 1), ({"s4"}, 2), ({"s1"}, 2),
        ({"s2"}, 3), ({"s3"}, 3), ({"s4"}, 4), ({"s1"}, 4),
    ]),
    "parallel": (["EX", "EY", "EZ"] * 2, [
        ({"x2", "y1", "z1"}, 0), ({"x2", "y2", "z1"}, 0), ({"x2", "y2", "z2"}, 0),
        ({"x1", "y2", "z2"}, 0), ({"x1", "y1", "z2"}, 0), ({"x1", "y1", "z1"}, 0),
    ]),
}


def _build(impl: str, machine: str):  # type: ignore[no-untyped-def]
    loaded = load(impl)
    if loaded.build is None:
        if impl == OURS:  # our engine must always load; only the optional peers may be missing
            pytest.fail(loaded.problem)
        pytest.skip(loaded.problem)
    return loaded.build(machine)


@pytest.mark.parametrize("impl", list(MODULES))
@pytest.mark.parametrize("machine", list(MACHINES))
def test_each_event_gives_the_expected_states_and_count(machine: str, impl: str) -> None:
    instance = _build(impl, machine)
    assert instance.leaves() == set(MACHINES[machine].leaves)
    events, expected = EXPECTED[machine]
    seen = []
    for event in events:
        instance.send(event)
        seen.append((set(instance.leaves()), instance.count()))
    assert seen == expected


@pytest.mark.parametrize("impl", list(MODULES))
@pytest.mark.parametrize("machine", list(MACHINES))
def test_the_timed_runner_does_the_same_work_as_send(machine: str, impl: str) -> None:
    # Two cycles plus one event, so the end state differs from the start and a no-op runner fails.
    events = [*events_for(MACHINES[machine], 2 * len(MACHINES[machine].cycle)), MACHINES[machine].cycle[0]]
    by_send, by_runner = _build(impl, machine), _build(impl, machine)
    for event in events:
        by_send.send(event)
    by_runner.runner(events)()
    assert (by_runner.leaves(), by_runner.count()) == (by_send.leaves(), by_send.count())
    assert by_runner.leaves() != set(MACHINES[machine].leaves)
