"""XState v5's rules, for charts defined in XState's shape (documents and ``machine(config)``).

Where XState v5 departs from SCXML (docs/semantics.md, "XState rules"), these functions follow XState's
own algorithm (``stateUtils.ts`` of xstate 5): their names say which of its functions they mirror.

- Event descriptors match the exact name, ``*``, or a ``prefix.*`` wildcard; a state's exact-name
  transitions come first, then wildcards, the longer first (``getCandidates``).
- Selection walks the active tree: a parallel state's own transitions are considered only when none of
  its regions has one (``transitionNode``).
- A transition's domain is its source when it does not reenter and targets the source or a descendant,
  else the nearest proper ancestor of all of them, a parallel state included (``getTransitionDomain``).
- A final state that is a region of a parallel state makes that region done; the parallel state is done
  when all its regions are, and a root parallel state that is done finishes the machine (``enterStates``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from interlock.core import owners
from interlock.core.entry_exit import EntrySet, effective_targets, region_completed

if TYPE_CHECKING:
    from interlock.core.chart import Chart, StateNode, Transition
    from interlock.core.datamodel import Expr

History = Mapping[str, tuple[str, ...]]
MEMO_LIMIT = owners.MEMO_LIMIT  # entries of a chart's memo before it is cleared (the same bound as select's)
States = Mapping[str, "StateNode"]


def descriptor_matches(descriptor: str, name: str) -> bool:
    """``matchesEventDescriptor``: the exact name, ``*``, or ``a.b.*`` matching ``a.b`` and ``a.b.c...``."""
    if descriptor == name or descriptor == "*":
        return True
    if not descriptor.endswith(".*"):
        return False
    tokens = name.split(".")
    for i, token in enumerate(descriptor.split(".")):
        if token == "*":
            return i == descriptor.count(".")  # only a last '*' is a wildcard
        if i >= len(tokens) or token != tokens[i]:
            return False
    return True


def candidates(state: StateNode, name: str) -> tuple[Transition, ...]:
    """``getCandidates``: transitions on the exact name, then wildcard ones, the longer descriptor first."""
    exact = [t for t in state.transitions if name in t.events]
    seen = set(exact)  # sets, not list lookups: a state may have thousands of wildcard transitions
    wild = [(d, t) for t in state.transitions for d in t.events
            if d != name and t not in seen and descriptor_matches(d, name)]
    wild.sort(key=lambda pair: -len(pair[0]))
    out: list[Transition] = list(exact)
    for _, t in wild:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return tuple(out)


# One node of a selection plan: the plans of the regions below a chain of single active children, and the
# candidates of that chain's states, deepest first (each state's in ``getCandidates`` order)
SelectionPlan = tuple[tuple["SelectionPlan", ...], tuple["Transition", ...]]
_NO_CANDIDATES: SelectionPlan = ((), ())


def select_evented(chart: Chart, config: frozenset[StateNode], name: str,
                   check: Callable[[Expr], bool]) -> tuple[Transition, ...]:
    """``transitionNode`` from the root: the transitions the event selects.

    The walk over the active tree depends only on the configuration and the event name, so it is done
    once per pair (:func:`selection_plan`); a step only reads guards along the plan, in the walk's order.
    """
    return select_along(planned_selection(chart, config, name), check)


def planned_selection(chart: Chart, config: frozenset[StateNode], name: str) -> SelectionPlan:
    """:func:`selection_plan` from the root, memoized per (configuration, event name)."""
    key = ("xstate-plan", config, name)
    plan: SelectionPlan | None = chart.memo.get(key)
    if plan is None:
        if len(chart.memo) > MEMO_LIMIT:
            chart.memo.clear()  # event names come from clients: keep the memo bounded
        matching = owners.owners_of(chart, config).matching(name)
        plan = chart.memo[key] = selection_plan(chart, config, chart.root, name, _marked(matching))
    return plan


def _marked(matching: set[StateNode]) -> dict[StateNode, list[StateNode]]:
    """The states with a candidate and their ancestors: each one's children among them, in document
    order. The selection walks these only: walking the whole
    active tree for each event made n done events of n regions take n * n steps."""
    below: dict[StateNode, list[StateNode]] = {}
    for s in matching:
        if s in below:
            continue  # marked as an ancestor of another already
        below[s] = []
        child = s
        for anc in s.ancestors:
            kids = below.get(anc)
            if kids is not None:
                kids.append(child)
                break  # anc and its ancestors are marked already
            below[anc] = [child]
            child = anc
    for kids in below.values():
        if len(kids) > 1:
            kids.sort(key=_order)
    return below


def _order(state: StateNode) -> int:
    return state.order


def select_along(plan: SelectionPlan, check: Callable[[Expr], bool]) -> tuple[Transition, ...]:
    """The transitions a selection plan selects, its guards evaluated in the walk's order."""
    regions, chain = plan
    if not regions:  # one active state per level (no parallel state with candidates): the common case
        for t in chain:
            if t.cond is None or check(t.cond):
                return (t,)
        return ()
    return tuple(_first_enabled(plan, check))


def _first_enabled(plan: SelectionPlan, check: Callable[[Expr], bool]) -> list[Transition]:
    """``transitionNode`` along a plan: the regions' transitions, else the chain's first enabled one."""
    regions, chain = plan
    inner: list[Transition] = []
    for region in regions:
        inner.extend(_first_enabled(region, check))
    if inner:
        return inner
    for t in chain:
        if t.cond is None or check(t.cond):
            return [t]
    return []


def selection_plan(chart: Chart, config: frozenset[StateNode], state: StateNode, name: str,
                   marked: dict[StateNode, list[StateNode]]) -> SelectionPlan:
    """What ``transitionNode(state)`` looks at for this configuration and event name, without the guards:
    ``_NO_CANDIDATES`` when no state below ``state`` (itself included) has a candidate.

    ``walk(s) = walk(child) or first_enabled(s)`` for a single active child, so a chain of them is one
    list of candidates, deepest state first; a parallel state's regions are walked each, in document order.
    Only the ``marked`` states (:func:`_marked`) are walked: below any other, no state has a candidate.
    """
    path = [state]
    while True:
        # one active child: a compound state's (the configuration is legal) or a parallel state's only region
        if len(state.children) != 1 and state.kind != "compound":
            break
        kids = marked.get(state)
        if not kids:
            break  # no candidate below: the rest of the chain adds nothing
        state = kids[0]
        path.append(state)
    regions = tuple(p for p in (selection_plan(chart, config, c, name, marked) for c in marked.get(state, ()))
                    if p is not _NO_CANDIDATES)
    chain = tuple(t for s in reversed(path) if s in marked for t in _candidates_memo(chart, s, name))
    if not regions and not chain:
        return _NO_CANDIDATES
    return regions, chain


def _candidates_memo(chart: Chart, state: StateNode, name: str) -> tuple[Transition, ...]:
    key = ("xstate-candidates", state.id, name)
    found = chart.memo.get(key)
    if found is None:
        found = chart.memo[key] = candidates(state, name)
    return found


def transition_domain(t: Transition, history: History, states: States) -> StateNode | None:
    """``getTransitionDomain``."""
    targets = effective_targets(t, history, states)
    source = t.source
    reenter = t.type == "external"
    if not reenter and all(s is source or s.is_descendant_of(source) for s in targets):
        return source
    lca = _least_common_ancestor([*targets, source])
    if lca is not None:
        return lca
    return None if reenter else (source.ancestors[-1] if source.ancestors else source)


def _least_common_ancestor(nodes: list[StateNode]) -> StateNode | None:
    head, *tail = nodes
    for ancestor in head.ancestors:
        if all(n.is_descendant_of(ancestor) for n in tail):
            return ancestor
    return None


def compute_entry_set(transitions: Iterable[Transition], history: History, states: States,
                      before: History) -> EntrySet:
    """``computeEntrySet``, with ``history`` as recorded by this microstep's exits.

    The domain is the one the exit set was computed with (from the history ``before`` the exits). XState
    computes it again from the history just recorded: a history state without a default target in a
    parallel parent then leaves the parent out of the configuration (docs/semantics.md).
    """
    entry = EntrySet()
    for t in transitions:
        domain = transition_domain(t, before, states)
        reenter = t.type == "external"
        for s in t.targets:
            # XState also enters a target that is the domain when it is not the source (the root, targeted
            # from a descendant): the step leaves out states that stay active (Rules.reenter_active)
            if s.kind != "history" and (s is not t.source or t.source is not domain or reenter):
                _enter(entry, s, default=True)
            add_descendants(s, entry, history, states)
        for s in effective_targets(t, history, states):
            ancestors = _proper_ancestors(s, domain)
            if domain is not None and domain.kind == "parallel":
                ancestors.append(domain)
            reentrancy = None if t.source.parent is None and reenter else domain
            _add_ancestors(ancestors, entry, history, states, reentrancy)
    return entry


def initial_entry(root: StateNode, states: States) -> EntrySet:
    """``initialMicrostep``: the root and its default descendants."""
    entry = EntrySet()
    _enter(entry, root, default=True)
    add_descendants(root, entry, {}, states)
    return entry


def add_descendants(state: StateNode, entry: EntrySet, history: History, states: States) -> None:
    """``addDescendantStatesToEnter`` (the state itself is added by the caller)."""
    if state.kind == "history":
        entry.used_history = True
        parent = state.parent
        assert parent is not None
        if state.id in history:
            recorded = [states[i] for i in history[state.id]]
        else:
            default = state.initial
            assert default is not None  # compiled for every history state
            entry.default_history_content[parent.id] = default
            recorded = list(default.targets)
        for s in recorded:
            _enter(entry, s, default=False)
            add_descendants(s, entry, history, states)
        for s in recorded:
            _add_ancestors(_proper_ancestors(s, parent), entry, history, states, None)
    elif state.kind == "compound":
        assert state.initial is not None
        for s in state.initial.targets:
            if s.kind != "history":
                _enter(entry, s, default=True)
            add_descendants(s, entry, history, states)
            _add_ancestors(_proper_ancestors(s, state), entry, history, states, None)
    elif state.kind == "parallel":
        _enter_regions(state, entry, history, states, default=True)


def _enter(entry: EntrySet, state: StateNode, default: bool) -> None:
    entry.add(state)
    if default and state.kind == "compound":
        entry.default_entry.add(state)


def _enter_regions(state: StateNode, entry: EntrySet, history: History, states: States, default: bool) -> None:
    if not entry.fill(state):
        return  # each region is covered or was entered by default: looking again adds nothing
    for child in state.children:
        if child not in entry.below:
            _enter(entry, child, default)
            add_descendants(child, entry, history, states)


def _add_ancestors(ancestors: list[StateNode], entry: EntrySet, history: History, states: States,
                   reentrancy: StateNode | None) -> None:
    """``addAncestorStatesToEnter``."""
    for anc in ancestors:
        if reentrancy is None or anc.is_descendant_of(reentrancy):
            entry.add(anc)
        if anc.kind == "parallel":
            _enter_regions(anc, entry, history, states, default=False)


def _proper_ancestors(state: StateNode, upto: StateNode | None) -> list[StateNode]:
    """``getProperAncestors``: from the parent up to, not including, ``upto``."""
    out: list[StateNode] = []
    if upto is state:
        return out
    for anc in state.ancestors:
        if anc is upto:
            break
        out.append(anc)
    return out


def in_final_state(state: StateNode, configuration: set[StateNode]) -> bool:
    """``isInFinalState``: a final state is; a compound with an active final child; a parallel state all
    of whose regions are."""
    if state.kind == "compound":
        return any(c.kind == "final" and c in configuration for c in state.children)
    if state.kind == "parallel":
        return all(in_final_state(c, configuration) for c in state.children)
    return state.kind == "final"


def completion(state: StateNode, current: set[StateNode],
               finals: dict[StateNode, set[StateNode]]) -> tuple[list[tuple[StateNode, bool]], bool]:
    """What entering the final ``state`` completes (``enterStates``): the states whose done event is
    raised (with the final state's output as data, or none), and whether the machine is done.

    ``finals``: the final regions of the parallel states met in this microstep
    (:func:`~interlock.core.entry_exit.region_completed`); each parallel state is reported once, when its
    last region becomes final, although final regions may be entered after that."""
    parent = state.parent
    assert parent is not None
    done: list[tuple[StateNode, bool]] = []
    if parent.kind == "compound":
        done.append((parent, True))
    region, marker = (state, parent) if parent.kind == "parallel" else (parent, parent.parent)
    while (marker is not None and marker.kind == "parallel"
           and region_completed(marker, region, current, finals, in_final_state)):
        done.append((marker, False))
        region, marker = marker, marker.parent
    return done, marker is None
