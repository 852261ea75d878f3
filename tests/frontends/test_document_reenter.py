"""XState v5 self-transitions: without ``reenter: true`` a transition to its own state does not re-enter it."""

from __future__ import annotations

import pytest

from interlock.core.step import StepResult, start, step
from interlock.frontends.loader import load_machine

DOC = """
id: m
initial: p
context: {entries: 0, exits: 0, leaf: 0}
states:
  p:
    entry: {assign: {entries: "entries + 1"}}
    exit: {assign: {exits: "exits + 1"}}
    initial: c1
    on:
      SELF: {TARGET}
      NEXT: .c2
    states:
      c1: {}
      c2:
        entry: {assign: {leaf: "leaf + 1"}}
        on:
          LEAF: {LEAF}
"""


def run(target: str, leaf: str, *events: str) -> StepResult:
    chart = load_machine(DOC.replace("{TARGET}", target).replace("{LEAF}", leaf), format="yaml")
    result = start(chart)
    for name in events:
        result = step(chart, result.snapshot, name)
    return result


@pytest.mark.parametrize("target", ["p", "{target: p}", "{target: '#m.p', reenter: false}",
                                    "{target: p, internal: true}"])
def test_a_compound_self_target_resets_the_children_but_does_not_exit_the_state(target: str) -> None:
    result = run(target, "c2", "NEXT", "SELF")
    context = result.snapshot.context
    assert result.snapshot.configuration == ("m", "m.p", "m.p.c1")
    assert (context["entries"], context["exits"]) == (1, 0)


@pytest.mark.parametrize("target", ["{target: p, reenter: true}", "{target: p, internal: false}"])
def test_reenter_true_and_v4_internal_false_still_exit_and_enter(target: str) -> None:
    result = run(target, "c2", "NEXT", "SELF")
    context = result.snapshot.context
    assert result.snapshot.configuration == ("m", "m.p", "m.p.c1")
    assert (context["entries"], context["exits"]) == (2, 1)


@pytest.mark.parametrize(("leaf", "entries"), [("c2", 1), ("{target: c2, actions: []}", 1),
                                               ("{target: c2, reenter: true}", 2)])
def test_an_atomic_self_target_is_targetless_unless_it_reenters(leaf: str, entries: int) -> None:
    result = run("p", leaf, "NEXT", "LEAF")
    assert result.snapshot.configuration == ("m", "m.p", "m.p.c2")
    assert result.snapshot.context["leaf"] == entries


def test_a_plain_target_to_a_child_does_not_reenter_the_source() -> None:
    context = run("p", "c2", "NEXT").snapshot.context
    assert (context["entries"], context["exits"]) == (1, 0)
