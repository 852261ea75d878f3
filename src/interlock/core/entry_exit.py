"""Which states a microstep exits and enters (SCXML Appendix D, "Algorithm for SCXML Interpretation").

These are pure functions of the chart, the configuration, the transitions and the recorded history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlock.core.chart import StateNode, Transition


def find_lcca(states: Iterable[StateNode]) -> StateNode | None:
    """findLCCA: the innermost compound (or root) proper ancestor of the first state containing the rest."""
    first, *rest = states
    for anc in first.ancestors:
        if anc.kind != "compound" and anc.parent is not None:
            continue
        if all(s.is_descendant_of(anc) for s in rest):
            return anc
    return None


def effective_targets(t: Transition, history: Mapping[str, tuple[str, ...]],
                      states: Mapping[str, StateNode]) -> list[StateNode]:
    """getEffectiveTargetStates: targets with history states replaced by what they stand for (an ordered
    set: a deep history restores a state per region, and looking each up in the list took n * n steps)."""
    out: dict[StateNode, None] = {}
    for s in t.targets:
        if s.kind == "history":
            if s.id in history:
                out.update(dict.fromkeys(states[i] for i in history[s.id]))
            else:
                assert s.initial is not None  # validated: a history state without a record needs a default
                out.update(dict.fromkeys(effective_targets(s.initial, history, states)))
        else:
            out[s] = None
    return list(out)


def transition_domain(t: Transition, history: Mapping[str, tuple[str, ...]],
                      states: Mapping[str, StateNode]) -> StateNode | None:
    """getTransitionDomain: the state whose descendants the transition may exit and enter."""
    targets = effective_targets(t, history, states)
    if not targets:
        return None
    if (t.type == "internal" and t.source.kind == "compound"
            and all(s.is_descendant_of(t.source) for s in targets)):
        return t.source
    return find_lcca([t.source, *targets])


def compute_exit_set(transitions: Iterable[Transition], configuration: Iterable[StateNode],
                     history: Mapping[str, tuple[str, ...]],
                     states: Mapping[str, StateNode],
                     domain_of: Callable[[Transition, Mapping[str, tuple[str, ...]], Mapping[str, StateNode]],
                                         StateNode | None] | None = None) -> set[StateNode]:
    """computeExitSet: active states that are descendants of some transition's domain.

    Found from each domain down (a configuration holds the parent of each of its states), each active
    state once: testing every active state against every transition's domain took n * |configuration|
    steps for the n transitions of n parallel regions (2,500 regions: 2 s a microstep)."""
    out: set[StateNode] = set()
    config = configuration if isinstance(configuration, (set, frozenset)) else frozenset(configuration)
    domain_fn = domain_of or transition_domain
    for t in transitions:
        if not t.targets:
            continue
        domain = domain_fn(t, history, states)
        if domain is None:
            return set(config)
        stack = [domain]
        while stack:
            for child in stack.pop().children:
                if child in config and child not in out:
                    out.add(child)
                    stack.append(child)
    return out


class EntrySet:
    """computeEntrySet's three results: states to enter, those entered by default, history content."""

    __slots__ = ("below", "default_entry", "default_history_content", "filled", "states", "used_history")

    def __init__(self) -> None:
        self.states: set[StateNode] = set()
        self.default_entry: set[StateNode] = set()
        self.default_history_content: dict[str, Transition] = {}
        self.used_history = False
        # the states with a proper descendant among ``states``, kept as states are added (add): a region of
        # a parallel state is entered by default unless it is one (``statesToEnter.some(s => isDescendant(s,
        # child))``). Found again from every state entered at each parallel state entered, 4,000 parallel
        # states in one took 1.9 s to enter (quadratic); each ancestor is added once now.
        self.below: set[StateNode] = set()
        # the parallel states whose regions were looked at: each region was then covered or entered by
        # default, so looking again (the spec does at every ancestor walk) adds nothing; a deep history
        # restoring n regions walked all n regions for each (4,000 regions: 1.2 s a step)
        self.filled: set[StateNode] = set()

    def fill(self, state: StateNode) -> bool:
        """Whether the regions of the parallel ``state`` are still to be looked at (they are, from now)."""
        if state in self.filled:
            return False
        self.filled.add(state)
        return True

    def add(self, state: StateNode) -> None:
        """Enter ``state`` (``statesToEnter.add``), keeping :attr:`below`."""
        self.states.add(state)
        below = self.below
        for anc in state.ancestors:
            if anc in below:
                break  # and its ancestors with it
            below.add(anc)


def compute_entry_set(transitions: Iterable[Transition], history: Mapping[str, tuple[str, ...]],
                      states: Mapping[str, StateNode]) -> EntrySet:
    """computeEntrySet: every state the transitions enter, with ancestors and default descendants."""
    entry = EntrySet()
    for t in transitions:
        for s in t.targets:
            add_descendants(s, entry, history, states)
        ancestor = transition_domain(t, history, states)
        for s in effective_targets(t, history, states):
            _add_ancestors(s, ancestor, entry, history, states)
    return entry


def add_descendants(state: StateNode, entry: EntrySet, history: Mapping[str, tuple[str, ...]],
                     states: Mapping[str, StateNode]) -> None:
    """addDescendantStatesToEnter."""
    if state.kind == "history":
        entry.used_history = True
        parent = state.parent
        assert parent is not None
        if state.id in history:
            recorded = [states[i] for i in history[state.id]]
            for s in recorded:
                add_descendants(s, entry, history, states)
            for s in recorded:
                _add_ancestors(s, parent, entry, history, states)
        else:
            default = state.initial
            assert default is not None
            entry.default_history_content[parent.id] = default
            for s in default.targets:
                add_descendants(s, entry, history, states)
            for s in default.targets:
                _add_ancestors(s, parent, entry, history, states)
        return
    entry.add(state)
    if state.kind == "compound":
        entry.default_entry.add(state)
        assert state.initial is not None
        for s in state.initial.targets:
            add_descendants(s, entry, history, states)
        for s in state.initial.targets:
            _add_ancestors(s, state, entry, history, states)
    elif state.kind == "parallel" and entry.fill(state):
        for child in state.children:
            if child not in entry.below:
                add_descendants(child, entry, history, states)


def _add_ancestors(state: StateNode, ancestor: StateNode | None, entry: EntrySet,
                   history: Mapping[str, tuple[str, ...]], states: Mapping[str, StateNode]) -> None:
    """addAncestorStatesToEnter: ancestors of ``state`` up to (excluding) ``ancestor``."""
    for anc in state.ancestors:
        if anc is ancestor:
            return
        entry.add(anc)
        if anc.kind == "parallel" and entry.fill(anc):
            for child in anc.children:
                if child not in entry.below:
                    add_descendants(child, entry, history, states)


def record_history(exiting: Iterable[StateNode], configuration: Iterable[StateNode]) -> dict[str, tuple[str, ...]]:
    """The history values recorded when ``exiting`` states are left (exitStates, first loop).

    The configuration is read once for all of them, each active state handed to the recording states
    above it: read again for each, n regions with a history each took n * n steps to leave (4,000 deep
    histories: 1.9 s)."""
    recording = sorted((s for s in exiting if s.histories), key=_order)
    if not recording:
        return {}
    deep = {s for s in recording if any(h.history == "deep" for h in s.histories)}
    shallow = {s for s in recording if any(h.history != "deep" for h in s.histories)}
    atomic: dict[StateNode, list[str]] = {s: [] for s in deep}  # deep: the active atomic states below
    children: dict[StateNode, list[str]] = {s: [] for s in shallow}  # shallow: the active children
    for c in sorted(configuration, key=_order):
        if c.parent in children:
            children[c.parent].append(c.id)
        if deep and c.kind in ("atomic", "final"):
            for anc in c.ancestors:
                if anc in atomic:
                    atomic[anc].append(c.id)
    out: dict[str, tuple[str, ...]] = {}
    for s in recording:
        for h in s.histories:
            out[h.id] = tuple(atomic[s] if h.history == "deep" else children[s])
    return out


def in_final_state(state: StateNode, configuration: set[StateNode]) -> bool:
    """isInFinalState: a compound whose active child is final, or a parallel whose children all are."""
    if state.kind == "compound":
        return any(c.kind == "final" and c in configuration for c in state.children)
    if state.kind == "parallel":
        return all(in_final_state(c, configuration) for c in state.children)
    return False


def region_completed(parallel: StateNode, region: StateNode, current: set[StateNode],
                     finals: dict[StateNode, set[StateNode]],
                     in_final: Callable[[StateNode, set[StateNode]], bool]) -> bool:
    """``region``, a child of ``parallel``, has just become final (``in_final``): is ``parallel`` final now,
    and was it not before?

    ``finals`` holds, for each parallel state met in this microstep, its regions that are final (final
    states are only entered during a microstep's entry, so a region that is final stays final until it
    ends). Asking ``in_final`` of every region each time one of them became final took n * n steps for n
    regions reaching their final states in one microstep (4,000 regions: seconds); each parallel state's
    regions are asked once a microstep now, then kept up to date. (Under XState's rules a final state is
    final before it is entered, so a region may be final already when it becomes final.)"""
    known = finals.get(parallel)
    if known is None:
        known = finals[parallel] = {c for c in parallel.children if in_final(c, current)}
    elif region in known:
        return False
    else:
        known.add(region)
    return len(known) == len(parallel.children)


def _order(state: StateNode) -> int:
    return state.order
