"""Which active states have a transition an event may match, found without walking the configuration.

Transition selection (SCXML ``selectTransitions``, XState's ``transitionNode``) looks at every active state
for each event. One step can process as many internal events as the configuration has regions (each
region reaching its final state raises a done event), so walking the configuration per event made such a
step quadratic (4,000 regions: 10.6 s). :class:`Owners` indexes a configuration once; an event then costs
a few lookups and the states it may match.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interlock.core.chart import Chart, StateNode

Config = frozenset["StateNode"]
MEMO_LIMIT = 50_000  # entries of a chart's memo before it is cleared (rules_xstate.MEMO_LIMIT)


class Owners:
    """One configuration's active states with transitions, by what their event descriptors may match.

    Built once per configuration (linear in its states' transitions); :meth:`matching` then finds the
    active states with a transition an event name may match by looking up the name, ``*`` and the name's
    prefixes at its dots, without walking the configuration. It is a filter: the states it gives are
    checked with the real descriptor matching (``_matches``, ``rules_xstate.candidates``)."""

    __slots__ = ("_atomic", "_orders", "eventless", "exact", "lengths", "prefix", "star")

    def __init__(self, config: Config, normalized: bool) -> None:
        self.exact: dict[str, set[StateNode]] = {}
        # names a descriptor matches by token prefix: SCXML's every descriptor (``a`` matches ``a.b``),
        # XState's ``a.*`` (matches ``a`` and ``a.b``), under ``a``. XState charts select evented
        # transitions along the tree (rules_xstate), and select._candidates with SCXML's matching: their
        # descriptors are under both keys
        self.prefix: dict[str, set[StateNode]] = self.exact if normalized else {}
        self.star: set[StateNode] = set()
        self.eventless: set[StateNode] = set()
        for s in config:
            for t in s.transitions:
                if not t.events:
                    self.eventless.add(s)
                for d in t.events:
                    if d == "*":
                        self.star.add(s)
                    else:
                        self.exact.setdefault(d, set()).add(s)
                        if not normalized:  # XState's descriptors are matched both ways (select._matches)
                            self.prefix.setdefault(d, set()).add(s)
                            if d.endswith(".*"):
                                self.prefix.setdefault(d[:-2], set()).add(s)
        self.lengths = {len(p) for p in self.prefix}
        self._atomic = sorted((s for s in config if s.kind in ("atomic", "final")), key=_order)
        self._orders = [s.order for s in self._atomic]

    def matching(self, name: str | None) -> set[StateNode]:
        """The active states with a transition whose descriptor may match ``name`` (None: eventless)."""
        if name is None:
            return self.eventless
        out = set(self.star)
        found = self.exact.get(name)
        if found:
            out |= found
        if self.prefix is not self.exact:
            found = self.prefix.get(name)
            if found:
                out |= found
        lengths, prefix = self.lengths, self.prefix
        i = name.find(".")
        while i >= 0:  # a name's prefixes at its dots, those as long as some descriptor only
            if i in lengths:
                found = prefix.get(name[:i])
                if found:
                    out |= found
            i = name.find(".", i + 1)
        return out

    def atomic_below(self, states: Iterable[StateNode]) -> list[StateNode]:
        """The active atomic states below ``states`` (each itself included), in document order.

        A state's descendants follow it in document order, up to its last child's last descendant."""
        atomic, orders = self._atomic, self._orders
        spans: list[tuple[int, int]] = []
        for s in states:
            spans.append((s.order, _last(s)))
        spans.sort()
        out: list[StateNode] = []
        reached = -1  # the last order taken
        for first, last_order in spans:
            if last_order <= reached:
                continue  # inside a span already taken
            lo = bisect_left(orders, max(first, reached + 1))
            hi = bisect_right(orders, last_order)
            out.extend(atomic[lo:hi])
            reached = last_order
        return out

    def runs(self, states: Iterable[StateNode]) -> list[tuple[StateNode, int]]:
        """The active atomic states below ``states`` (each itself included), in document order, as runs of
        those whose nearest ancestor (or self) among ``states`` is the same: that state and the run's length.

        The subtrees of ``states`` nest: a sweep over their spans in document order finds the runs, each in
        a bisection."""
        orders = self._orders
        out: list[tuple[StateNode, int]] = []
        open_: list[tuple[int, StateNode]] = []  # the spans entered and not left, innermost last
        at = 0  # the first atomic state (its index) not yet in a run

        def run(state: StateNode, end: int) -> None:
            nonlocal at
            if end > at:
                out.append((state, end - at))
                at = end

        for first, last, state in sorted((s.order, _last(s), s) for s in states):
            while open_ and open_[-1][0] < first:
                end, closing = open_.pop()
                run(closing, bisect_right(orders, end))
            if open_:
                run(open_[-1][1], bisect_left(orders, first))
            else:
                at = max(at, bisect_left(orders, first))
            open_.append((last, state))
        while open_:
            end, closing = open_.pop()
            run(closing, bisect_right(orders, end))
        return out


def _last(state: StateNode) -> int:
    """The document order of the last state below ``state`` that is not a history state (itself if none)."""
    while state.children:
        state = state.children[-1]
    return state.order


def _order(state: StateNode) -> int:
    return state.order


def owners_of(chart: Chart, config: Config) -> Owners:
    """The configuration's :class:`Owners`, memoized on the chart."""
    key = ("owners", config)
    found: Owners | None = chart.memo.get(key)
    if found is None:
        if len(chart.memo) > MEMO_LIMIT:
            chart.memo.clear()
        found = chart.memo[key] = Owners(config, chart.rules.normalize_descriptors)
    return found
