"""Plans for a microstep: the ordered exit and entry lists for a set of transitions.

A plan is a pure function of (configuration, transitions, history). When no history state is involved it
does not depend on history at all, and is memoized on the chart: a hot path costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping

from interlock.core.chart import Chart, StateNode, Transition, canonical
from interlock.core.content import Custom, Update
from interlock.core.entry_exit import (
    EntrySet,
    compute_exit_set,
    record_history,
)
from interlock.core.select import has_eventless

Config = frozenset[StateNode]


class Plan:
    """What one microstep exits and enters, in the order it must happen."""

    __slots__ = (
        "actions",
        "bare",
        "between",
        "changes_config",
        "default_entry",
        "enters_final",
        "entry",
        "eventless",
        "exit",
        "history_content",
        "light",
        "new_config",
        "recorded",
        "reordered",
        "runs_content",
        "uses_history",
    )

    def __init__(self, config: Config, exit_set: set[StateNode], entry: EntrySet,
                 recorded: dict[str, tuple[str, ...]], enabled: tuple[Transition, ...] = ()) -> None:
        self.exit: tuple[StateNode, ...] = tuple(sorted(exit_set, key=lambda s: -s.order))
        self.recorded = recorded  # history values stored on exit (SCXML exitStates), before entry
        self.entry: tuple[StateNode, ...] = tuple(sorted(entry.states, key=lambda s: s.order))
        self.default_entry = frozenset(entry.default_entry)
        self.history_content: dict[str, Transition] = entry.default_history_content
        self.enters_final = any(s.kind == "final" for s in self.entry)
        self.runs_content = any(s.active_content for s in (*self.exit, *self.entry))
        self.uses_history = entry.used_history  # what it enters depends on recorded history
        self.between: Config = config - exit_set  # the active states while the transitions' content runs
        self.new_config: Config = self.between | entry.states
        self.changes_config = self.new_config != config
        self.actions = tuple(t.actions for t in enabled if t.actions)  # the transitions' content, in order
        self.eventless = False  # set by the planner: may eventless transitions fire next?
        # exits and enters nothing and records no history (a targetless transition): content only
        self.bare = not (self.exit or self.entry or recorded or self.uses_history or self.changes_config)
        # no state's content runs, no history is involved, and the transitions' content only updates the
        # context: step's light path can take it (step runs it inline)
        self.light = not (self.runs_content or self.uses_history or recorded) and all(
            type(a) is Update or (type(a) is Custom and not a.params) for block in self.actions for a in block)
        # entry order before -> entry order after (XState rules keep the configuration in entry order)
        self.reordered: dict[tuple[str, ...], tuple[str, ...]] = {}


def plan_microstep(chart: Chart, config: Config, enabled: tuple[Transition, ...],
                   history: Mapping[str, tuple[str, ...]]) -> Plan:
    key = ("plan", config, enabled)
    memo = chart.memo
    plan = memo.get(key)
    if plan is None:
        rules = chart.rules
        exit_set = compute_exit_set(enabled, config, history, chart.states, rules.transition_domain)
        recorded = record_history(exit_set, config)
        # the spec records history in exitStates, before enterStates computes what to enter
        entry = rules.compute_entry_set(enabled, {**history, **recorded} if recorded else history, chart.states,
                                        history)
        stays = config - exit_set
        if entry.states & stays and not rules.reenter_active:  # a state that stays active is not entered again
            entry.states -= stays
            entry.default_entry -= stays
        plan = Plan(config, exit_set, entry, recorded, enabled)
        plan.new_config = canonical(chart, plan.new_config)
        plan.eventless = has_eventless(chart, plan.new_config)
        if any(s.kind == "history" for t in enabled for s in t.targets):
            plan.uses_history = True
            plan.bare = False
        if not plan.uses_history:
            memo[key] = plan
    return plan


def plan_initial(chart: Chart) -> Plan:
    """Entering the root and its default descendants, as the spec's initial transition does."""
    key = ("plan-initial",)
    plan = chart.memo.get(key)
    if plan is None:
        entry = chart.rules.initial_entry(chart.root, chart.states)
        plan = chart.memo[key] = Plan(frozenset(), set(), entry, {})
        plan.new_config = canonical(chart, plan.new_config)
        plan.eventless = has_eventless(chart, plan.new_config)
    return plan
