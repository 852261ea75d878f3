"""Which transitions an event enables (SCXML Appendix D: selectTransitions, removeConflictingTransitions).

Candidate lists depend only on the configuration and the event name, so they are memoized on the chart;
guards are evaluated on every call by the caller-supplied ``check``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from interlock.core.chart import Chart, StateNode, Transition
from interlock.core.datamodel import Expr
from interlock.core.entry_exit import compute_exit_set
from interlock.core.events import descriptor_matches
from interlock.core.owners import MEMO_LIMIT, owners_of
from interlock.core.rules_xstate import SelectionPlan, select_along, select_evented

Config = frozenset[StateNode]
# runs of atomic states, in document order: the transitions that match for each of them, nearest state
# first, and how many atomic states the run stands for (a run without guards: 1, see _candidates)
Candidates = tuple[tuple[tuple[Transition, ...], int], ...]

_MEMO_LIMIT = MEMO_LIMIT


def candidates(chart: Chart, config: Config, name: str | None,
               order: tuple[str, ...] | None = None) -> tuple[Candidates, bool]:
    """The matching transitions per atomic state, and whether any of them has a guard.

    ``name`` None selects eventless transitions. The atomic states come in document order, or in
    ``order`` (the configuration in the order its states were entered: XState's order).
    """
    key = (config if order is None else order, name)
    memo = chart.memo
    found = memo.get(key)
    if found is None:
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        found = memo[key] = _candidates(chart, config, name, order)
    return found


def _candidates(chart: Chart, config: Config, name: str | None,
                order: tuple[str, ...] | None) -> tuple[Candidates, bool]:
    """selectTransitions' candidates, from the active states whose descriptors may match the event only.

    The spec walks every atomic state of the configuration and its ancestors for each event: n regions
    reaching their final states in one microstep raise n done events, and each walked all n regions again
    (4,000 regions: 10.6 s a step). Here the configuration's :class:`Owners` names the active states with
    a transition the event may match, and the atomic states below each come as one run: they share their
    candidates, the matching transitions of that state and of the matching states above it. A run whose
    candidates have no guard selects their first whatever its length, and only its first occurrence
    counts (later ones are duplicates): it is listed once. A guarded one is listed with its length, and
    its guards are evaluated once per atomic state, as the spec does."""
    owners = owners_of(chart, config)
    matching = owners.matching(name)
    if not matching:
        return (), False
    chains: dict[StateNode, tuple[tuple[Transition, ...], bool]] = {}

    def chain(state: StateNode) -> tuple[tuple[Transition, ...], bool]:
        """The candidates of the atomic states whose nearest matching ancestor (or self) is ``state``."""
        found = chains.get(state)
        if found is None:
            own = tuple(t for t in state.transitions if _matches(t, name))
            above = next((a for a in state.ancestors if a in matching), None)
            rest, rest_guarded = chain(above) if above is not None else ((), False)
            found = chains[state] = (own + rest, rest_guarded or any(t.cond is not None for t in own))
        return found

    if order is None:
        runs: Iterable[tuple[StateNode, int]] = owners.runs(matching)
    else:
        covered = set(owners.atomic_below(matching))
        runs = ((next(a for a in (s, *s.ancestors) if a in matching), 1)
                for s in (chart.states[i] for i in order) if s in covered)
    out: list[tuple[tuple[Transition, ...], int]] = []
    listed: set[StateNode] = set()
    guarded = False
    for state, count in runs:
        matches, with_guard = chain(state)
        if not matches:
            continue
        if with_guard:
            guarded = True
            out.append((matches, count))
        elif state not in listed:
            listed.add(state)
            out.append((matches, 1))
    return tuple(out), guarded


def has_eventless(chart: Chart, config: Config) -> bool:
    """Could any eventless transition be enabled in this configuration?"""
    return bool(candidates(chart, config, None)[0])


def _matches(t: Transition, name: str | None) -> bool:
    if name is None:
        return not t.events
    return any(descriptor_matches(d, name) for d in t.events)


def select(chart: Chart, config: Config, name: str | None,
           check: Callable[[Expr], bool], history: Mapping[str, tuple[str, ...]],
           order: tuple[str, ...] | None = None) -> tuple[Transition, ...]:
    """selectTransitions / selectEventlessTransitions followed by removeConflictingTransitions.

    ``order``: the configuration in entry order, when the chart's rules select in that order.
    """
    if name is not None and chart.rules.tree_selection:
        chosen = select_evented(chart, config, name, check)
        return chosen if len(chosen) < 2 else _resolve_tree(chart, config, chosen, history)
    per_state, guarded = candidates(chart, config, name, order)
    if not per_state:
        return ()
    if not guarded:
        key = ("enabled", config if order is None else order, name)
        found = chart.memo.get(key)
        if found is None:
            first = _dedupe(c[0][0] for c in per_state)
            found = remove_conflicts(first, config, history, chart)
            if not any(s.kind == "history" for t in first for s in t.targets):
                chart.memo[key] = found  # exit sets through history targets depend on recorded history
        return found
    enabled = []
    for options, count in per_state:
        for _ in range(count):  # each atomic state of the run evaluates the guards again, as the spec's walk
            for t in options:
                if t.cond is None or check(t.cond):
                    enabled.append(t)
                    break
    if len(enabled) < 2:
        return tuple(enabled)
    chosen = _dedupe(enabled)
    conflict_key = ("conflicts", config if order is None else order, chosen)
    resolved = chart.memo.get(conflict_key)
    if resolved is None:
        resolved = remove_conflicts(chosen, config, history, chart)
        if not any(s.kind == "history" for t in chosen for s in t.targets):
            chart.memo[conflict_key] = resolved
    return resolved


def select_planned(chart: Chart, config: Config, plan: SelectionPlan, check: Callable[[Expr], bool],
                   history: Mapping[str, tuple[str, ...]]) -> tuple[Transition, ...]:
    """:func:`select` of an event under XState's rules, given its memoized selection plan."""
    chosen = select_along(plan, check)
    return chosen if len(chosen) < 2 else _resolve_tree(chart, config, chosen, history)


def _resolve_tree(chart: Chart, config: Config, chosen: tuple[Transition, ...],
                  history: Mapping[str, tuple[str, ...]]) -> tuple[Transition, ...]:
    """Conflicts between the transitions of XState's selection (a parallel state's regions each chose one)."""
    key = ("tree-conflicts", config, chosen)
    resolved = chart.memo.get(key)
    if resolved is None:
        resolved = remove_conflicts(_dedupe(chosen), config, history, chart)
        if not any(s.kind == "history" for t in chosen for s in t.targets):
            if len(chart.memo) > _MEMO_LIMIT:
                chart.memo.clear()
            chart.memo[key] = resolved  # exit sets through history targets depend on recorded history
    return resolved


def _dedupe(transitions: Iterable[Transition]) -> tuple[Transition, ...]:
    """Keep the first occurrence of each transition (an ancestor's transition can match twice).

    A dictionary's keys keep their first insertion's order: looking each one up in a list of those kept
    took n * n steps for the n transitions of n regions (8,000 regions: 1.2 s)."""
    return tuple(dict.fromkeys(transitions))


def remove_conflicts(enabled: tuple[Transition, ...], config: Config,
                     history: Mapping[str, tuple[str, ...]], chart: Chart) -> tuple[Transition, ...]:
    """removeConflictingTransitions: of two transitions whose exit sets intersect, keep the one from the
    descendant state, or the earlier one in document order.

    The spec compares each transition with every one kept, computing both exit sets each time: for the n
    transitions of n parallel regions that took n * n * |configuration| steps (400 regions: 11 s to plan
    one microstep). Here each exit set is found once, and the kept transitions'
    exit sets (disjoint: no two kept ones conflict) map each exited state to its transition, so a
    transition meets only those it conflicts with. The result is the spec's: a transition is preempted
    when one it conflicts with is not an ancestor's, else it replaces all of them."""
    if len(enabled) < 2:
        return enabled
    kept: dict[int, Transition] = {}  # insertion-ordered, as the spec's list
    exits: dict[int, set[StateNode]] = {}
    owner: dict[StateNode, Transition] = {}  # each state a kept transition exits -> that transition
    states, domain = chart.states, chart.rules.transition_domain
    for t1 in enabled:
        exit1 = compute_exit_set([t1], config, history, states, domain)
        conflicts = {id(t2): t2 for s in exit1 if (t2 := owner.get(s)) is not None}
        if any(not t1.source.is_descendant_of(t2.source) for t2 in conflicts.values()):
            continue  # preempted
        for key in conflicts:
            del kept[key]
            for s in exits.pop(key):
                del owner[s]
        kept[id(t1)] = t1
        exits[id(t1)] = exit1
        owner.update(dict.fromkeys(exit1, t1))
    return tuple(kept.values())
