"""Transition selection and done events found without walking the configuration (core/owners.py,
core/select.py, core/rules_xstate.py, entry_exit.region_completed) against the spec's forms, as the code
had them before: on random charts with exact, prefix (``a.b``, SCXML) and wildcard (``*``, ``a.*``)
descriptors, eventless transitions and done events, in random configurations."""

from __future__ import annotations

from typing import Any, Literal

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from interlock.core import entry_exit, rules, rules_xstate, select
from interlock.core.chart import Chart, StateNode, Transition, build_chart
from interlock.core.spec import ChartSpec, StateSpec, TransitionSpec
from interlock.errors import DefinitionError

from .charts import expr

Config = frozenset[StateNode]

# -- the spec's forms (the code before this test) ----------------------------------------------------------


def candidates_of_spec(chart: Chart, config: Config, name: str | None,
                       order: tuple[str, ...] | None) -> tuple[tuple[tuple[Transition, ...], ...], bool]:
    """select._candidates: every atomic state of the configuration and its ancestors, for each event."""
    if order is None:
        atomic = sorted((s for s in config if s.kind in ("atomic", "final")), key=lambda s: s.order)
    else:
        atomic = [s for s in (chart.states[i] for i in order) if s.kind in ("atomic", "final")]
    out: list[tuple[Transition, ...]] = []
    guarded = False
    for state in atomic:
        matches = []
        for s in (state, *state.ancestors):
            for t in s.transitions:
                if select._matches(t, name):
                    matches.append(t)
                    if t.cond is not None:
                        guarded = True
        if matches:
            out.append(tuple(matches))
    return tuple(out), guarded


def selection_plan_of_spec(config: Config, state: StateNode, name: str) -> rules_xstate.SelectionPlan:
    """rules_xstate.selection_plan: the whole active tree below ``state``."""
    path = [state]
    while True:
        active = [c for c in state.children if c in config]
        if len(active) != 1:
            break
        state = active[0]
        path.append(state)
    regions = tuple(p for p in (selection_plan_of_spec(config, c, name) for c in active) if p != ((), ()))
    chain = tuple(t for s in reversed(path) for t in rules_xstate.candidates(s, name))
    return (regions, chain) if regions or chain else ((), ())


def scxml_completion_of_spec(state: StateNode, current: set[StateNode],
                             completed: set[StateNode]) -> tuple[list[tuple[StateNode, bool]], bool]:
    parent = state.parent
    assert parent is not None
    if parent.parent is None:
        return [], True
    done = [(parent, True)]
    ancestor = parent.parent
    while (ancestor is not None and ancestor.kind == "parallel"
           and all(entry_exit.in_final_state(c, current) for c in ancestor.children)):
        done.append((ancestor, False))
        ancestor = ancestor.parent
    return done, False


def xstate_completion_of_spec(state: StateNode, current: set[StateNode],
                              completed: set[StateNode]) -> tuple[list[tuple[StateNode, bool]], bool]:
    parent = state.parent
    assert parent is not None
    done: list[tuple[StateNode, bool]] = []
    if parent.kind == "compound":
        done.append((parent, True))
    marker = parent if parent.kind == "parallel" else parent.parent
    while (marker is not None and marker.kind == "parallel" and marker not in completed
           and rules_xstate.in_final_state(marker, current)):
        completed.add(marker)
        done.append((marker, False))
        marker = marker.parent
    return done, marker is None


def _selected(runs: list[tuple[tuple[Transition, ...], int]]) -> tuple[Any, ...]:
    """What select makes of candidates: the first of each, and the transitions enabled with the guards
    evaluated in order (each evaluation's outcome depends on how many came before it), deduplicated."""
    evaluated: list[Any] = []

    def check(cond: Any) -> bool:
        evaluated.append(cond)
        return len(evaluated) % 3 != 0

    enabled = []
    for options, count in runs:
        for _ in range(count):
            for t in options:
                if t.cond is None or check(t.cond):
                    enabled.append(t)
                    break
    return select._dedupe(c[0] for c, _ in runs), select._dedupe(enabled), tuple(evaluated)


# -- random charts and situations --------------------------------------------------------------------------

DESCRIPTORS = ["a", "a.b", "a.b.c", "a.*", "a.b.*", "*", "ab", "b", "done.state", "done.state.*", "done",
               "error", "a.", "*.*", "a.*.*", "x.y"]
NAMES = ["a", "a.b", "a.b.c", "a.bc", "ab", "b", "a.b.c.d", "error.execution", "x", ".a", "a..b", "a.*",
         "x.y.z", "done.state"]
KINDS: list[Literal["state", "parallel", "final"]] = ["parallel", "state", "final", "final"]


@st.composite
def charts(draw: st.DrawFn) -> Chart:
    counter = iter(range(10_000))
    nodes: list[StateSpec] = []

    def node(depth: int) -> StateSpec:
        kind = draw(st.sampled_from(KINDS if depth < 5 else KINDS[2:]))
        spec = StateSpec(f"s{next(counter)}", kind=kind)
        nodes.append(spec)
        if kind != "final" and depth < 5 and draw(st.integers(0, 3)) > 0:
            spec.children = [node(depth + 1) for _ in range(draw(st.integers(1, 4)))]
        return spec

    root = StateSpec("root", kind=draw(st.sampled_from(["state", "parallel"])),
                     children=[node(1) for _ in range(draw(st.integers(1, 3)))])
    semantics = draw(st.sampled_from(["scxml", "xstate"]))
    for spec in [root, *nodes]:
        if spec.kind == "final" and semantics == "scxml":
            continue
        for _ in range(draw(st.integers(0, 3))):
            events = draw(st.lists(st.sampled_from(DESCRIPTORS + [f"done.state.{n.id}" for n in nodes[:6]]),
                                   max_size=3))
            cond = expr(lambda s: True) if draw(st.integers(0, 3)) == 0 else None
            spec.transitions.append(TransitionSpec(events=events, cond=cond))
    try:
        return build_chart(ChartSpec(root, semantics=semantics))  # type: ignore[arg-type]
    except DefinitionError:
        assume(False)
        raise


def _legal(draw: st.DrawFn, state: StateNode) -> set[StateNode]:
    out = {state}
    if state.kind == "parallel":
        for c in state.children:
            out |= _legal(draw, c)
    elif state.children:
        out |= _legal(draw, draw(st.sampled_from(state.children)))
    return out


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_selection_and_done_events_are_the_specs_in_random_situations(data: Any) -> None:
    chart = data.draw(charts())
    config = frozenset(_legal(data.draw, chart.root))
    order = tuple(s.id for s in data.draw(st.permutations(sorted(config, key=lambda s: s.order))))
    names: list[str | None] = [*NAMES, None, *(f"done.state.{s.id}" for s in chart.states.values())]
    for name in names:
        note(f"{chart.semantics} {[(s.id, s.kind, s.order, [(t.events, t.cond is not None) for t in s.transitions]) for s in chart.states.values()]} {name}")
        for entry_order in (None, order):
            runs, guarded = select._candidates(chart, config, name, entry_order)
            per_state, guarded_of_spec = candidates_of_spec(chart, config, name, entry_order)
            assert guarded == guarded_of_spec
            assert _selected([(c, 1) for c in per_state]) == _selected(list(runs))
        if name is not None and chart.semantics == "xstate":
            assert (rules_xstate.planned_selection(chart, config, name)
                    == selection_plan_of_spec(config, chart.root, name))
    # a microstep entering what lies below an active state, in document order, as Run._enter_states does
    new, old = (rules.SCXML.completion, scxml_completion_of_spec) if chart.semantics == "scxml" else (
        rules.XSTATE.completion, xstate_completion_of_spec)
    for top in config:
        entered = sorted((s for s in config if s.is_descendant_of(top)), key=lambda s: s.order)
        current_new, current_old = set(config - set(entered)), set(config - set(entered))
        finals: dict[StateNode, set[StateNode]] = {}
        completed: set[StateNode] = set()
        for s in entered:
            current_new.add(s)
            current_old.add(s)
            if s.kind == "final":
                assert new(s, current_new, finals) == old(s, current_old, completed)
