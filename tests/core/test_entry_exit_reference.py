"""The linear forms of computeExitSet, removeConflictingTransitions and the entry of parallel regions
(core/entry_exit.py, core/select.py, core/rules_xstate.py) against the spec's quadratic forms, as the code
had them before, on random charts in every configuration and history their steps reach."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interlock.core import rules_xstate
from interlock.core.chart import Chart, StateNode, Transition, build_chart
from interlock.core.entry_exit import (
    EntrySet,
    compute_exit_set,
    effective_targets,
    record_history,
    transition_domain,
)
from interlock.core.select import remove_conflicts
from interlock.core.spec import ChartSpec, StateSpec, TransitionSpec
from interlock.core.step import start, step
from interlock.errors import DefinitionError, StepLimitError

from .test_properties import EVENTS, specs

History = Mapping[str, tuple[str, ...]]
States = Mapping[str, StateNode]


# -- the spec's forms (the code before f591173 and 6c090b5) ------------------------------------------------

def exit_set_of_spec(transitions: list[Transition], config: frozenset[StateNode], history: History,
                     chart: Chart) -> set[StateNode]:
    out: set[StateNode] = set()
    for t in transitions:
        if not t.targets:
            continue
        domain = chart.rules.transition_domain(t, history, chart.states)
        out |= {s for s in config if domain is None or s.is_descendant_of(domain)}
    return out


def remove_conflicts_of_spec(enabled: tuple[Transition, ...], config: frozenset[StateNode], history: History,
                             chart: Chart) -> tuple[Transition, ...]:
    kept: list[Transition] = []
    for t1 in enabled:
        preempted, to_remove = False, []
        exit1 = exit_set_of_spec([t1], config, history, chart)
        for t2 in kept:
            if exit1 & exit_set_of_spec([t2], config, history, chart):
                if t1.source.is_descendant_of(t2.source):
                    to_remove.append(t2)
                else:
                    preempted = True
                    break
        if not preempted:
            for t in to_remove:
                kept.remove(t)
            kept.append(t1)
    return tuple(kept)


def record_history_of_spec(exiting: set[StateNode], config: frozenset[StateNode]) -> dict[str, tuple[str, ...]]:
    ordered = sorted(config, key=lambda s: s.order)
    out: dict[str, tuple[str, ...]] = {}
    for s in sorted(exiting, key=lambda s: s.order):
        for h in s.histories:
            if h.history == "deep":
                kept = [c for c in ordered if c.kind in ("atomic", "final") and c.is_descendant_of(s)]
            else:
                kept = [c for c in ordered if c.parent is s]
            out[h.id] = tuple(c.id for c in kept)
    return out


def _covered(child: StateNode, entry: EntrySet) -> bool:
    return any(s.is_descendant_of(child) for s in entry.states)


def scxml_entry_of_spec(transitions: tuple[Transition, ...], history: History, states: States) -> EntrySet:
    entry = EntrySet()

    def descendants(state: StateNode) -> None:
        if state.kind == "history":
            entry.used_history = True
            parent = state.parent
            assert parent is not None
            if state.id in history:
                recorded = [states[i] for i in history[state.id]]
            else:
                assert state.initial is not None
                entry.default_history_content[parent.id] = state.initial
                recorded = list(state.initial.targets)
            for s in recorded:
                descendants(s)
            for s in recorded:
                ancestors(s, parent)
            return
        entry.states.add(state)
        if state.kind == "compound":
            entry.default_entry.add(state)
            assert state.initial is not None
            for s in state.initial.targets:
                descendants(s)
            for s in state.initial.targets:
                ancestors(s, state)
        elif state.kind == "parallel":
            for child in state.children:
                if not _covered(child, entry):
                    descendants(child)

    def ancestors(state: StateNode, ancestor: StateNode | None) -> None:
        for anc in state.ancestors:
            if anc is ancestor:
                return
            entry.states.add(anc)
            if anc.kind == "parallel":
                for child in anc.children:
                    if not _covered(child, entry):
                        descendants(child)

    for t in transitions:
        for s in t.targets:
            descendants(s)
        domain = transition_domain(t, history, states)
        for s in effective_targets(t, history, states):
            ancestors(s, domain)
    return entry


def xstate_entry_of_spec(transitions: tuple[Transition, ...], history: History, states: States,
                         before: History) -> EntrySet:
    entry = EntrySet()
    proper = rules_xstate._proper_ancestors
    enter = rules_xstate._enter

    def regions(state: StateNode, default: bool) -> None:
        for child in state.children:
            if not _covered(child, entry):
                enter(entry, child, default)
                descendants(child)

    def ancestors(nodes: list[StateNode], reentrancy: StateNode | None) -> None:
        for anc in nodes:
            if reentrancy is None or anc.is_descendant_of(reentrancy):
                entry.states.add(anc)
            if anc.kind == "parallel":
                regions(anc, False)

    def descendants(state: StateNode) -> None:
        if state.kind == "history":
            entry.used_history = True
            parent = state.parent
            assert parent is not None
            if state.id in history:
                recorded = [states[i] for i in history[state.id]]
            else:
                assert state.initial is not None
                entry.default_history_content[parent.id] = state.initial
                recorded = list(state.initial.targets)
            for s in recorded:
                enter(entry, s, False)
                descendants(s)
            for s in recorded:
                ancestors(proper(s, parent), None)
        elif state.kind == "compound":
            assert state.initial is not None
            for s in state.initial.targets:
                if s.kind != "history":
                    enter(entry, s, True)
                descendants(s)
                ancestors(proper(s, state), None)
        elif state.kind == "parallel":
            regions(state, True)

    for t in transitions:
        domain = rules_xstate.transition_domain(t, before, states)
        reenter = t.type == "external"
        for s in t.targets:
            if s.kind != "history" and (s is not t.source or t.source is not domain or reenter):
                enter(entry, s, True)
            descendants(s)
        for s in effective_targets(t, history, states):
            nodes = proper(s, domain)
            if domain is not None and domain.kind == "parallel":
                nodes.append(domain)
            ancestors(nodes, None if t.source.parent is None and reenter else domain)
    return entry


# -- the comparison ---------------------------------------------------------------------------------------

def _same_entry(a: EntrySet, b: EntrySet) -> None:
    assert a.states == b.states
    assert a.default_entry == b.default_entry
    assert a.default_history_content == b.default_history_content
    assert a.used_history == b.used_history


def _compare(chart: Chart, config_ids: tuple[str, ...], history: History, picks: list[int]) -> None:
    config = frozenset(chart.states[i] for i in config_ids)
    candidates = [t for t in chart.transitions if t.source in config]
    if not candidates:
        return
    chosen: list[Transition] = []
    for p in picks:  # random subsets, in document order as selection gives them, or not
        t = candidates[p % len(candidates)]
        if t not in chosen:
            chosen.append(t)
    shallow_first = sorted(candidates, key=lambda t: t.source.depth)  # an ancestor's kept, then a descendant's
    for group in (tuple(candidates), tuple(reversed(candidates)), tuple(shallow_first), tuple(chosen)):
        exits = compute_exit_set(group, config, history, chart.states, chart.rules.transition_domain)
        assert exits == exit_set_of_spec(list(group), config, history, chart)
        recorded = record_history(exits, config)
        assert recorded == record_history_of_spec(exits, config)
        assert list(recorded) == list(record_history_of_spec(exits, config))
        kept = remove_conflicts(group, config, history, chart)
        assert kept == remove_conflicts_of_spec(group, config, history, chart)
        if chart.semantics == "xstate":
            _same_entry(chart.rules.compute_entry_set(kept, history, chart.states, history),
                        xstate_entry_of_spec(kept, history, chart.states, history))
        else:
            _same_entry(chart.rules.compute_entry_set(kept, history, chart.states, history),
                        scxml_entry_of_spec(kept, history, chart.states))
        for t in group:  # one transition at a time, as each microstep of one region plans it
            _same_entry(chart.rules.compute_entry_set((t,), history, chart.states, history),
                        xstate_entry_of_spec((t,), history, chart.states, history)
                        if chart.semantics == "xstate" else scxml_entry_of_spec((t,), history, chart.states))


KINDS: list[Literal["state", "parallel", "final"]] = ["parallel", "state", "state", "final"]


@st.composite
def charts(draw: st.DrawFn) -> Chart:
    """Deep charts, parallel states in parallel states, history states everywhere, transitions of every
    kind (targetless, internal, several targets, history targets) from every state."""
    counter = iter(range(10_000))
    nodes: list[StateSpec] = []
    histories: list[str] = []

    def node(depth: int) -> StateSpec:
        kind = draw(st.sampled_from(KINDS if depth < 5 else KINDS[2:]))
        spec = StateSpec(f"s{next(counter)}", kind=kind)
        nodes.append(spec)
        if kind != "final" and depth < 5 and draw(st.integers(0, 3)) > 0:
            spec.children = [node(depth + 1) for _ in range(draw(st.integers(1, 3)))]
            if draw(st.booleans()):
                spec.children.append(StateSpec(f"h{next(counter)}", kind="history",
                                               history=draw(st.sampled_from(["shallow", "deep"]))))
                histories.append(spec.children[-1].id)
        return spec

    root = StateSpec("root", children=[node(1) for _ in range(draw(st.integers(1, 2)))])
    ids = [n.id for n in nodes] + histories * 2  # restoring recorded history is where bugs hide
    for spec in nodes:
        if spec.kind == "history" or not spec.children:
            continue
        for h in (c for c in spec.children if c.kind == "history"):
            inside = [n.id for n in nodes if n.kind != "history" and _below(n.id, spec)]
            if draw(st.booleans()):
                h.transitions = [TransitionSpec(targets=[draw(st.sampled_from(inside))])]
    for spec in nodes:
        if spec.kind in ("history", "final"):
            continue
        near = [n.id for n in nodes if _below(n.id, spec)] or ids  # transitions within a region conflict less
        for _ in range(draw(st.integers(0, 3))):
            targets = draw(st.lists(st.sampled_from(draw(st.sampled_from([ids, near]))), max_size=2, unique=True))
            spec.transitions.append(TransitionSpec(events=["e"], targets=targets,
                                                   type=draw(st.sampled_from(["external", "internal"]))))
    try:
        return build_chart(ChartSpec(root, semantics=draw(st.sampled_from(["scxml", "xstate"]))))
    except DefinitionError:  # two targets in one region, and the like
        assume(False)
        raise


def _below(sid: str, spec: StateSpec) -> bool:
    return any(c.id == sid or _below(sid, c) for c in spec.children)


def _legal(draw: st.DrawFn, state: StateNode) -> set[StateNode]:
    """A legal configuration below ``state`` (itself included)."""
    out = {state}
    kids = [c for c in state.children if c.kind != "history"]
    if state.kind == "parallel":
        for c in kids:
            out |= _legal(draw, c)
    elif kids:
        out |= _legal(draw, draw(st.sampled_from(kids)))
    return out


@st.composite
def situations(draw: st.DrawFn) -> tuple[Chart, frozenset[StateNode], dict[str, tuple[str, ...]], list[int]]:
    chart = draw(charts())
    config = frozenset(_legal(draw, chart.root))
    history: dict[str, tuple[str, ...]] = {}
    for h in chart.states.values():
        if h.kind != "history" or h.parent is None or draw(st.booleans()):
            continue
        below = _legal(draw, h.parent) - {h.parent}
        if h.history == "deep":
            kept = [s for s in below if s.kind in ("atomic", "final")]
        else:
            kept = [s for s in below if s.parent is h.parent]
        history[h.id] = tuple(s.id for s in sorted(kept, key=lambda s: s.order))
    picks = draw(st.lists(st.integers(0, 200), min_size=1, max_size=8))
    return chart, config, history, picks


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(situations())
def test_linear_exit_conflict_and_entry_sets_are_the_specs_in_random_situations(
        situation: tuple[Chart, frozenset[StateNode], dict[str, tuple[str, ...]], list[int]]) -> None:
    chart, config, history, picks = situation
    _compare(chart, tuple(s.id for s in config), history, picks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs(), st.sampled_from(["scxml", "xstate"]), st.lists(st.sampled_from(EVENTS), max_size=10),
       st.lists(st.integers(0, 50), min_size=1, max_size=6))
def test_linear_exit_conflict_and_entry_sets_are_the_specs(spec: ChartSpec, semantics: str, events: list[str],
                                                           picks: list[int]) -> None:
    spec.semantics = semantics  # type: ignore[assignment]
    chart = build_chart(spec)
    try:
        snap = start(chart).snapshot
    except StepLimitError:
        return
    _compare(chart, snap.configuration, snap.history, picks)
    for ev in events:
        try:
            snap = step(chart, snap, ev).snapshot
        except StepLimitError:
            return
        _compare(chart, snap.configuration, snap.history, picks)
