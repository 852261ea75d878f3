"""The two rule sets the engine runs charts by: W3C SCXML, and XState v5 for charts in XState's shape.

A front end chooses one per chart (``ChartSpec.semantics``); :func:`rules_for` gives the functions the
step then uses for that chart, so the step itself has no per-dialect branches. docs/semantics.md lists
every rule that differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from interlock.core import entry_exit, rules_xstate

if TYPE_CHECKING:
    from interlock.core.chart import StateNode, Transition

Semantics = Literal["scxml", "xstate"]
History = Mapping[str, tuple[str, ...]]
States = Mapping[str, "StateNode"]
Completion = Callable[["StateNode", set["StateNode"], dict["StateNode", set["StateNode"]]], tuple[list[tuple["StateNode", bool]], bool]]


@dataclass(frozen=True)
class Rules:
    """The parts of the algorithm that differ between SCXML and XState v5."""

    name: Semantics
    # event descriptors: normalized once at load (SCXML drops a trailing ".*"); XState keeps them as written
    normalize_descriptors: bool
    # evented selection walks the active tree (XState's transitionNode) instead of each atomic state's
    # ancestors (SCXML selectTransitions)
    tree_selection: bool
    transition_domain: Callable[[Transition, History, States], StateNode | None]
    # the transitions, the history recorded by their exits, the states, the history before the exits
    compute_entry_set: Callable[[Iterable[Transition], History, States, History], entry_exit.EntrySet]
    initial_entry: Callable[[StateNode, States], entry_exit.EntrySet]
    # entering a final state: the states whose done event it raises (with its output as data or not), and
    # whether the machine is done
    completion: Completion
    # an eventless microstep that changed nothing stops eventless selection until the next internal event
    settles_unchanged: bool
    # may final states have transitions of their own?
    final_transitions: bool
    # a history state without a default in a parallel parent enters the parent itself
    history_enters_parallel_parent: bool
    # the configuration is kept in the order its states were entered (snapshot.configuration too), and
    # eventless transitions are selected in that order (XState's _nodes), not in document order
    entry_ordered: bool
    # enter again a state that stays active (XState does, running its entry actions a second time without
    # its exit actions); both rule sets leave it active instead. Only tests turn it on, to tell that
    # known difference from others (tests/xstate/test_differential.py)
    reenter_active: bool = False


def _scxml_initial(root: StateNode, states: States) -> entry_exit.EntrySet:
    entry = entry_exit.EntrySet()
    entry_exit.add_descendants(root, entry, {}, states)
    return entry


def _scxml_entry_set(transitions: Iterable[Transition], history: History, states: States,
                     before: History) -> entry_exit.EntrySet:
    return entry_exit.compute_entry_set(transitions, history, states)


def _scxml_completion(state: StateNode, current: set[StateNode],
                      finals: dict[StateNode, set[StateNode]]) -> tuple[list[tuple[StateNode, bool]], bool]:
    parent = state.parent
    assert parent is not None
    if parent.parent is None:
        return [], True
    done = [(parent, True)]
    if parent.kind != "compound":
        return done, False  # a final state in a parallel state makes no region final (isInFinalState)
    # A parallel state is done when all its regions are (SCXML 3.4). Appendix D only looks at the
    # grandparent; a region that is itself a parallel state completes its parent too, so go on up.
    region = parent
    ancestor: StateNode | None = parent.parent
    while (ancestor is not None and ancestor.kind == "parallel"
           and entry_exit.region_completed(ancestor, region, current, finals, entry_exit.in_final_state)):
        done.append((ancestor, False))
        region, ancestor = ancestor, ancestor.parent
    return done, False


SCXML = Rules("scxml", True, False, entry_exit.transition_domain, _scxml_entry_set, _scxml_initial,
              _scxml_completion, False, False, False, False)
XSTATE = Rules("xstate", False, True, rules_xstate.transition_domain, rules_xstate.compute_entry_set,
               rules_xstate.initial_entry, rules_xstate.completion, True, True, True, True)


def rules_for(semantics: Semantics) -> Rules:
    return XSTATE if semantics == "xstate" else SCXML
