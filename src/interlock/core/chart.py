"""The compiled, immutable model of a machine (SCXML 3): states, transitions and precomputed structure.

:func:`build_chart` validates a :class:`~interlock.core.spec.ChartSpec`, reports every problem at once,
and precomputes what the step algorithm needs (document order, ancestors, descriptor indexes).
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

from interlock.core.content import Actions
from interlock.core.datamodel import Expr
from interlock.core.events import normalize_descriptor
from interlock.core.rules import Rules, rules_for
from interlock.core.spec import ChartSpec, DataSpec, InvokeSpec, StateSpec, TransitionSpec
from interlock.errors import DefinitionError, Problem

MAX_HINTED_PROBLEMS = 20  # problems that get a did-you-mean hint (keeps reporting linear)
NodeKind = Literal["atomic", "compound", "parallel", "final", "history"]


class Transition:
    """A compiled transition. ``order`` is its position in document order across the chart."""

    __slots__ = ("actions", "cond", "events", "order", "path", "source", "targets", "type")

    def __init__(self, source: StateNode, spec: TransitionSpec, order: int, normalize: bool = True) -> None:
        self.source = source
        self.events: tuple[str, ...] = tuple(normalize_descriptor(e) if normalize else e for e in spec.events)
        self.cond: Expr | None = spec.cond
        self.targets: tuple[StateNode, ...] = ()
        self.type = spec.type
        self.actions: Actions = spec.actions
        self.order = order
        self.path = spec.path

    def __repr__(self) -> str:
        event = " ".join(self.events) or "(eventless)"
        targets = " ".join(t.id for t in self.targets) or "(targetless)"
        return f"<Transition {self.source.id} --{event}--> {targets}>"


MAX_CANONICAL = 10_000  # configurations Chart.canonical keeps (the same bound as run.MAX_CONFIGS)


class StateNode:
    """A compiled state. Treat as immutable once :func:`build_chart` returns."""

    __slots__ = (
        "active_content",
        "ancestors",
        "children",
        "data",
        "depth",
        "description",
        "donedata",
        "histories",
        "history",
        "id",
        "initial",
        "invokes",
        "kind",
        "meta",
        "onentry",
        "onexit",
        "order",
        "parent",
        "path",
        "tags",
        "transitions",
    )

    def __init__(self, spec: StateSpec, kind: NodeKind, parent: StateNode | None, order: int) -> None:
        self.id = spec.id
        self.kind: NodeKind = kind
        self.parent = parent
        self.order = order
        self.depth: int = 0 if parent is None else parent.depth + 1
        # proper ancestors, nearest first
        self.ancestors: tuple[StateNode, ...] = () if parent is None else (parent, *parent.ancestors)
        self.children: tuple[StateNode, ...] = ()
        self.histories: tuple[StateNode, ...] = ()
        self.initial: Transition | None = None
        self.transitions: tuple[Transition, ...] = ()
        self.onentry: tuple[Actions, ...] = tuple(spec.onentry)
        self.onexit: tuple[Actions, ...] = tuple(spec.onexit)
        self.invokes: tuple[InvokeSpec, ...] = tuple(spec.invokes)
        self.history = spec.history
        self.donedata: Expr | None = spec.donedata
        self.data: tuple[DataSpec, ...] = tuple(spec.data)
        self.tags = spec.tags
        self.description = spec.description
        self.meta = spec.meta
        self.path = spec.path
        # does entering or leaving this state run anything beyond updating the configuration?
        self.active_content = bool(self.onentry or self.onexit or self.invokes or self.data
                                   or kind == "final" or spec.initial_actions)

    def is_descendant_of(self, other: StateNode) -> bool:
        return other in self.ancestors

    def __repr__(self) -> str:
        return f"<{self.kind} {self.id}>"


class Chart:
    """An immutable, validated machine. Build one with :func:`build_chart` (front ends do it for you)."""

    def __init__(self, spec: ChartSpec, root: StateNode, states: dict[str, StateNode],
                 transitions: tuple[Transition, ...], warnings: tuple[Problem, ...]) -> None:
        self.name = spec.name or root.id
        self.version = spec.version
        self.binding = spec.binding
        self.script: Actions = spec.script
        self.datamodel = spec.datamodel
        self.deep_copy_context = spec.deep_copy_context
        self.source = spec.source
        self.services = dict(spec.services)  # name -> Python callable; runtimes run them as tasks
        self.semantics = spec.semantics
        self.unprovided = spec.unprovided  # named guards/actions still without an implementation
        self.lenient = spec.lenient  # built with strict=False (see ChartSpec.lenient)
        # set by the front end that can compile the chart again with more implementations (provide)
        self.provider: Callable[..., Chart] | None = None
        # set by the document front end: hook name -> its compiled webhook (frontends/webhooks.py); the
        # engine never reads it, the server's webhook ingress does
        self.webhooks: dict[str, Any] = {}
        # set by the document front end: the machine's authorize rules (interlock.auth.policy.Policy, or
        # None: every caller with the scope may); the engine never reads it, the runtime's writes do
        self.policy: Any = None
        # set by the server's upload compiler (server/uploads.py): the chart came over the API, written by
        # a caller the app does not trust as itself, so what its instances send to other machines' instances
        # and the children they invoke meet those machines' rules (runtime/callers.py); the engine never
        # reads it
        self.uploaded = False
        self.rules: Rules = rules_for(spec.semantics)
        self.root = root
        self.states = states
        self.transitions = transitions
        self.warnings = (*warnings, *spec.unprovided)
        self.has_eventless = any(not t.events for t in transitions)
        self.has_late_data = spec.binding == "late" and any(s.data for s in states.values())
        # Memo tables filled lazily by the step algorithm. They only cache pure functions of the chart,
        # so they never change what a step computes.
        self.memo: dict[Any, Any] = {}
        self.configs: dict[tuple[str, ...], frozenset[StateNode]] = {}
        self.config_ids: dict[frozenset[StateNode], tuple[str, ...]] = {}
        # one object per configuration (the first one made): memo keys holding it are then compared by
        # identity, not state by state (canonical, below)
        self.canonical: dict[frozenset[StateNode], frozenset[StateNode]] = {}
        self.orders: dict[tuple[str, ...], Order] = {}  # the same for entry orders (canonical_order)
        # configuration ids -> event name -> interlock.core.step.Route (two dicts rather than one keyed by the
        # pair: no key tuple is built and hashed per step); route_count is about how many routes they hold
        # (threads that clear the table and add to it at once can miss a few)
        self.routes: dict[tuple[str, ...], dict[str, Any]] = {}
        self.route_count = 0

    @property
    def key(self) -> str:
        """``name@version``, how runtimes refer to this chart."""
        return f"{self.name}@{self.version}"

    def leaves(self, configuration: Iterable[str]) -> tuple[str, ...]:
        """The atomic and final states of a configuration (state ids); ids this chart lacks are left out."""
        states = self.states
        return tuple(s for s in configuration if s in states and states[s].kind in ("atomic", "final"))

    def state(self, state_id: str) -> StateNode:
        return self.states[state_id]

    def walk(self) -> Iterator[StateNode]:
        """Every state in document order, root first."""
        return iter(self.states.values())

    def __repr__(self) -> str:
        return f"<Chart {self.key} states={len(self.states)}>"


def canonical(chart: Chart, config: frozenset[StateNode]) -> frozenset[StateNode]:
    """The chart's one object for this configuration. Memo keys (plans, candidates, selections) hold
    configurations: an equal but other object is compared state by state at each lookup, so a microstep
    among n idle regions cost n steps (a region toggling 2,000 times beside 4,000 idle ones: 0.3 s)."""
    known = chart.canonical.get(config)
    if known is None:
        if len(chart.canonical) >= MAX_CANONICAL:
            chart.canonical.clear()
        known = chart.canonical[config] = config
    return known


class Order(tuple[str, ...]):
    """A configuration in entry order (XState's rules) that computes its hash once.

    Memo keys hold the entry order (candidates, selections, conflicts, the next order): a tuple hashes
    all its items at each lookup, so each microstep cost the number of active states, not only those it
    changes (a region toggling eventlessly 2,000 times beside 4,000 idle regions: 0.2 s of hashing). It
    equals, and hashes as, the plain tuple of the same ids, and pickles and copies as one: string hashes
    differ between processes, so a cached hash must not travel. Made by :func:`canonical_order`; it stays
    inside the core: snapshots hold ``plain``, the plain tuple of the same ids (one object per order, so an
    unchanged order still gives the same snapshot), as JSON encoders such as orjson refuse tuple subclasses."""

    _hash: int
    plain: tuple[str, ...]

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            found = self._hash = tuple.__hash__(self)
            return found

    def __reduce__(self) -> tuple[type[tuple[str, ...]], tuple[tuple[str, ...]]]:
        return tuple, (tuple(self),)


def canonical_order(chart: Chart, ids: list[str]) -> Order:
    """The chart's one :class:`Order` for these ids: a memo key holding an equal but other order is
    compared id by id at each lookup (a region toggling between two states made a new order each time)."""
    order = Order(ids)
    known = chart.orders.get(order)
    if known is None:
        if len(chart.orders) >= MAX_CANONICAL:
            chart.orders.clear()
        order.plain = tuple(ids)
        known = chart.orders[order] = order
    return known


def build_chart(spec: ChartSpec) -> Chart:
    """Validate ``spec`` and compile it. Raises :class:`DefinitionError` listing every problem."""
    return _Builder(spec).build()


class _Builder:
    def __init__(self, spec: ChartSpec) -> None:
        self.spec = spec
        self.rules = rules_for(spec.semantics)
        self.problems: list[Problem] = []
        self.states: dict[str, StateNode] = {}
        self.specs: dict[str, StateSpec] = {}
        self.transitions: list[Transition] = []

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def build(self) -> Chart:
        root_spec = self.spec.root
        if root_spec.kind not in ("state", "parallel"):
            self.error(root_spec.path, f"the root must be a state or parallel, not {root_spec.kind}")
        root = self._add(root_spec, None)
        self._link_transitions()
        self._check_initials()
        self._check_target_sets()
        for node in self.states.values():
            # default history content runs when the parent is entered: the parent has content to run
            if any(h.initial is not None and h.initial.actions for h in node.histories):
                node.active_content = True
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise DefinitionError(errors, self.spec.source)
        warnings = tuple(self._unreachable(root))
        return Chart(self.spec, root, self.states, tuple(self.transitions), warnings)

    def _add(self, spec: StateSpec, parent: StateNode | None) -> StateNode:
        kind: NodeKind
        if spec.kind == "state":
            kind = "compound" if any(c.kind != "history" for c in spec.children) else "atomic"
        else:
            kind = spec.kind
        if not spec.id:
            self.error(spec.path, "state has no id", "give every state a unique id")
        elif spec.id in self.states:
            self.error(spec.path, f"duplicate state id {spec.id!r}",
                       f"it is already used at {self.specs[spec.id].path or 'the root'}; rename one")
        node = StateNode(spec, kind, parent, len(self.states))
        # a nameless or duplicate state is kept under an internal key, so every other problem is reported too
        key = spec.id if spec.id and spec.id not in self.states else f"\0dup{len(self.states)}"
        self.states[key] = node
        self.specs[key] = spec
        if kind in ("final", "history") and spec.children:
            self.error(spec.path, f"a {kind} state cannot have child states", "move the children elsewhere")
        if kind == "history" and spec.history not in ("shallow", "deep"):
            self.error(spec.path, f"history type must be 'shallow' or 'deep', not {spec.history!r}")
        node.children = tuple(self._add(c, node) for c in spec.children if c.kind != "history")
        node.histories = tuple(self._add(c, node) for c in spec.children if c.kind == "history")
        return node

    def _link_transitions(self) -> None:
        for key, node in list(self.states.items()):
            spec = self.specs[key]
            transitions = []
            for tspec in spec.transitions:
                t = Transition(node, tspec, len(self.transitions), self.rules.normalize_descriptors)
                t.targets = self._resolve(tspec.targets, tspec.path or spec.path)
                self.transitions.append(t)
                transitions.append(t)
            if node.kind == "history":
                # the history default transition is the spec's single eventless transition
                node.transitions = ()
                if len(spec.transitions) > 1 or any(t.events or t.cond for t in spec.transitions):
                    self.error(spec.path, "a history state may have one default transition, without event or cond")
                node.initial = transitions[0] if transitions else None
                for t in transitions:
                    for target in t.targets:
                        if node.parent and not target.is_descendant_of(node.parent):
                            self.error(spec.path, f"history default target {target.id!r} is not inside {node.parent.id!r}")
            else:
                node.transitions = tuple(transitions)
                if spec.kind == "final" and transitions and not self.rules.final_transitions:
                    self.error(spec.path, "a final state cannot have transitions", "remove them")

    def _resolve(self, ids: list[str], path: str) -> tuple[StateNode, ...]:
        out = []
        for target in ids:
            node = self.states.get(target)
            if node is None:  # hints for the first few only: each compares with every state
                hint = "" if len(self.problems) >= MAX_HINTED_PROBLEMS else _suggest(
                    target, [k for k in self.states if not k.startswith("\0")])
                self.error(path, f"unknown target state {target!r}", hint)
            else:
                out.append(node)
        return tuple(out)

    def _check_initials(self) -> None:
        for key, node in list(self.states.items()):
            spec = self.specs[key]
            if node.kind == "compound":
                if spec.initial:
                    targets = self._resolve(spec.initial, spec.path)
                    for t in targets:
                        if not t.is_descendant_of(node):
                            self.error(spec.path, f"initial state {t.id!r} is not a descendant of {node.id!r}")
                else:
                    targets = (node.children[0],)
                tspec = TransitionSpec(actions=spec.initial_actions, path=spec.path)
                node.initial = Transition(node, tspec, -1)
                node.initial.targets = targets
            elif node.kind == "history" and node.initial is None and node.parent is not None:
                # no default transition: the parent's default entry (XState's reading; SCXML leaves it open)
                parent = node.parent
                node.initial = Transition(node, TransitionSpec(path=spec.path), -1)
                targets = tuple(t for t in (parent.initial.targets if parent.initial is not None else ())
                                if t.kind != "history")
                if parent.kind == "parallel" and self.rules.history_enters_parallel_parent:
                    targets = (parent,)
                elif not targets:  # the parent starts at this history: fall back to its first child
                    targets = parent.children if parent.kind == "parallel" else parent.children[:1]
                node.initial.targets = targets
            elif spec.initial and node.kind != "history":
                article = "an" if node.kind[0] in "aeiou" else "a"
                self.error(spec.path, f"{article} {node.kind} state cannot have an initial state",
                           "only states with child states take 'initial'")

    def _check_target_sets(self) -> None:
        """Several targets of one transition must lie in different regions of a parallel state (SCXML 3.13).

        In document order, the common ancestor of any two targets is that of two neighbours between them,
        so checking neighbours checks every pair: linear in the targets, not quadratic."""
        for node in list(self.states.values()):
            for t in (*node.transitions, *((node.initial,) if node.initial is not None else ())):
                if len(t.targets) < 2:
                    continue
                ordered = sorted(set(t.targets), key=lambda s: s.order)
                for a, b in itertools.pairwise(ordered):
                    if not _compatible(a, b):
                        self.error(t.path or node.path,
                                   f"targets {a.id!r} and {b.id!r} cannot be active together",
                                   "several targets must be in different regions of a parallel state")

    def _unreachable(self, root: StateNode) -> Iterator[Problem]:
        reached: set[StateNode] = set()
        work = [root, *(t for tr in self.transitions for t in tr.targets)]
        while work:
            node = work.pop()
            if node in reached:
                continue
            reached.add(node)
            work.extend(node.ancestors)
            if node.kind == "parallel":
                work.extend(node.children)
            if node.initial is not None:
                work.extend(node.initial.targets)
        for node in self.states.values():
            if node not in reached and node.kind != "history":
                yield Problem(node.path or node.id, f"state {node.id!r} can never be entered",
                              "add a transition that targets it, or remove it", severity="warning")


def _compatible(a: StateNode, b: StateNode) -> bool:
    """Can ``a`` and ``b`` be active at once? Only if their nearest common ancestor is a parallel state."""
    if a is b or a in b.ancestors or b in a.ancestors:
        return a is b
    above_b = set(b.ancestors)
    common = next(anc for anc in a.ancestors if anc in above_b)
    return common.kind == "parallel"


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    return "known states: " + ", ".join(repr(k) for k in known[:10])
