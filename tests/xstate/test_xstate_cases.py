"""Issue #11's minimal cases: Interlock does what XState v5 does (no node needed), and, where node is
installed, XState still does what these expectations say (or, for the XState bugs Interlock does not
follow, still differs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.xstate.cases_minimal import CASES
from tests.xstate.interlock_run import run_case
from tests.xstate.test_differential import KNOWN_DIFFERENCES
from tests.xstate.xstate_node import run_in_xstate


def _observed(observations: list[dict[str, Any]]) -> list[Any]:
    return [(o["status"], o["config"]) if "config" in o else "error" for o in observations]


@pytest.mark.parametrize("name", list(CASES))
def test_interlock_does_what_xstate_does(name: str) -> None:
    case = CASES[name]
    assert _observed(run_case(case)) == [tuple(e) for e in case["expect"]]


def test_the_expectations_are_xstates(xstate_root: Path) -> None:
    names = list(CASES)
    theirs = run_in_xstate(xstate_root, [{"config": CASES[n]["config"], "script": CASES[n]["script"]} for n in names])
    for name, observations in zip(names, theirs, strict=True):
        case = CASES[name]
        same = _observed(observations) == [tuple(e) for e in case["expect"]]
        if "xstate_bug" in case:
            assert case["xstate_bug"] in KNOWN_DIFFERENCES
            assert not same, f"{name}: XState now does what Interlock does; drop it from KNOWN_DIFFERENCES"
        else:
            assert same, f"{name}: XState gives {_observed(observations)}"


def test_two_targets_in_one_region_are_refused() -> None:
    from interlock.errors import DefinitionError
    from interlock.frontends.document import load_document

    config = {"id": "m", "initial": "a", "states": {
        "a": {"on": {"E": {"target": ["b.b1", "b.b2"]}}},
        "b": {"initial": "b1", "states": {"b1": {}, "b2": {}}}}}
    with pytest.raises(DefinitionError) as caught:
        load_document(config)
    assert "cannot be active together" in str(caught.value)
    assert "different regions of a parallel state" in str(caught.value)


def test_a_history_state_with_transitions_is_refused() -> None:
    """KNOWN_DIFFERENCES['history-source']: XState takes them and corrupts the configuration."""
    from interlock.errors import DefinitionError
    from interlock.frontends.document import load_document

    config = {"id": "m", "initial": "a", "states": {"a": {}, "h": {"type": "history", "on": {"E": "a"}}}}
    with pytest.raises(DefinitionError) as caught:
        load_document(config)
    assert "history state" in str(caught.value)


def test_each_front_end_chooses_its_rules() -> None:
    from interlock.frontends.python import machine
    from interlock.frontends.scxml import load_scxml

    config = {"id": "m", "initial": "a", "states": {"a": {"on": {"X": "b"}}, "b": {}}}
    assert machine(config).semantics == "xstate"
    scxml = load_scxml('<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a">'
                       '<state id="a"><transition event="X" target="b"/></state><state id="b"/></scxml>')
    assert scxml.semantics == "scxml"
    from interlock.core.step import start, step
    # SCXML keeps prefix matching: X matches X.y there, not in the XState-shaped machine
    assert step(scxml, start(scxml).snapshot, "X.y").snapshot.configuration[-1] == "b"
    chart = machine(config)
    assert step(chart, start(chart).snapshot, "X.y").snapshot.configuration == ("m", "m.a")
