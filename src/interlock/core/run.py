"""The working state of one start/step/stop call (SCXML Appendix D's interpreter variables, for one step).

One :class:`Run` per call, and nothing else per call: it is also the step's datamodel :class:`Scope`
(expressions get the run itself), and so the step's work budget. It refers to nothing that refers back to
it, so reference counting frees it as the step returns (a cycle per step measured 17% slower: the cyclic
collector had to find every one). Lists are made on first use: most steps raise, emit and invoke nothing.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from interlock.core.chart import Chart, Order, StateNode, Transition, canonical, canonical_order
from interlock.core.datamodel import STEP_WORK_LIMIT, WORK_UNITS, Expr, Scope
from interlock.core.effects import (
    CancelEffect,
    CancelInvokeEffect,
    DoneEffect,
    Effect,
    ForwardEffect,
)
from interlock.core.events import Event
from interlock.core.execute import run_block
from interlock.core.invoke import start_invokes
from interlock.core.microstep import Plan, plan_microstep
from interlock.core.reach import Reach
from interlock.core.select import select
from interlock.core.snapshot import Snapshot
from interlock.core.values import detached
from interlock.errors import StepLimitError

if TYPE_CHECKING:
    from interlock.core.step import StepResult

MAX_MACROSTEP_WORK = 100_000
# configurations in their snapshots' orders remembered per chart (a chart of n parallel regions has up
# to n! orders of each configuration)
MAX_CONFIGS = 10_000
_MAX_REORDERED = 64  # entry orders remembered per plan (one configuration has few)
# tuple.__new__ skips NamedTuple's argument handling; used on the hot path only
_new_tuple = tuple.__new__


def config_of(chart: Chart, ids: tuple[str, ...]) -> frozenset[StateNode]:
    """The state nodes of a snapshot's configuration, memoized per chart."""
    config = chart.configs.get(ids)
    if config is None:
        if len(chart.configs) >= MAX_CONFIGS:  # keyed by entry order: parallel regions make many orders
            chart.configs.clear()
        config = chart.configs[ids] = canonical(chart, frozenset(chart.states[i] for i in ids))
    return config



_FEW_PENDING = 16  # pending sends a cancel looks through; past this many it indexes them (Run.pending_at)


class Run(Scope):
    """The working state of one start/step call, and the scope its expressions see. Private to the call.

    ``effects``, ``errors``, ``transitions`` and ``to_invoke`` are an empty tuple until the first item
    (:meth:`emit`, :meth:`raise_error`, :meth:`apply`, entering an invoking state); ``internal`` is None
    until the first internal event (:meth:`queue`). ``ready`` is unset until a fused guard sets it (the
    update it computed, or the exception it raised; see :class:`~interlock.core.content.Update`).
    """

    __slots__ = (
        "bound",
        "chart",
        "completed",
        "config",
        "effects",
        "errors",
        "eventless",
        "historic",
        "history",
        "internal",
        "invocations",
        "light",
        "live",
        "microsteps",
        "order",
        "output",
        "pending",
        "pending_at",
        "reachable",
        "ready",
        "running",
        "scoped",
        "seq",
        "snapshot",
        "to_invoke",
        "transitions",
    )
    ready: dict[str, Any] | Exception  # no default: unset until a fused guard sets it

    # Made empty (``Run()``) and set up by begin() or, on the step's light path, inline. object's own __init__
    # makes ``Run()`` a plain allocation: Scope's __init__ would run Python code, and ``object.__new__(Run)``
    # goes through tuple-packing tp_new_wrapper (~300 instructions more a step, measured with callgrind).
    __init__ = object.__init__

    def begin(self, chart: Chart, snapshot: Snapshot, config: frozenset[StateNode], now: float,
              reachable: Reach | None, event: Event | None = None) -> Run:
        """Set up a run: ``Run().begin(...)``."""
        self.begin_light(chart, snapshot, config, now, reachable, event)
        if not chart.rules.entry_ordered:
            self.order: tuple[str, ...] | None = None
        if chart.deep_copy_context:  # its datamodel changes values in place: the step gets its own copy
            self.context = copy.deepcopy(snapshot.context)
            self.copied = True
        self.begin_rest()
        return self

    def begin_light(self, chart: Chart, snapshot: Snapshot, config: frozenset[StateNode], now: float,
                    reachable: Reach | None, event: Event | None = None) -> Run:
        """Set up only what guards, ``assign`` updates and Python actions read (the scope, ``In()``), for
        :func:`~interlock.core.step.step`'s light path; :meth:`begin_rest` sets the rest when the step
        needs more (``light`` is True until then). Half the stores of a whole run. ``step`` makes the same
        stores inline (a call less per step): a field added here goes there too."""
        self.context = snapshot.context  # copied before its first change (Scope.writable)
        self.copied = False
        self.event = event
        self.now = now
        self.left = WORK_UNITS
        self.chart = chart
        self.snapshot = snapshot
        self.reachable = reachable
        self.config: frozenset[StateNode] = config
        # the active states while a microstep exits and enters them, made only when content may run then;
        # None: the configuration is the live set
        self.live: set[StateNode] | None = None
        self.scoped = False  # has the datamodel been read? then the step is not static
        self.transitions: list[Transition] | tuple[Transition, ...] = ()
        self.microsteps = 0
        # the configuration in entry order, for rules that select by it (XState); else None (begin() drops
        # it: the light path runs only under rules that keep it)
        self.order = snapshot.configuration
        self.light = True
        return self

    def begin_rest(self) -> None:
        """The rest of the run's fields, as the snapshot has them (the light path's run becomes a whole run)."""
        self.light = False
        snapshot = self.snapshot
        self.history = snapshot.history
        self.invocations = snapshot.invocations
        self.pending: list[str] | tuple[str, ...] = snapshot.pending
        # where each pending id is in ``pending``, once a cancel needed it (a cancelled entry is then None
        # until finish): looking each cancelled id up in the list took n * n steps for a loop that sends
        # and cancels (16,000 sends: 1 s)
        self.pending_at: dict[str, list[int]] | None = None
        self.bound = snapshot.bound
        self.seq = snapshot.seq
        self.internal: deque[Event] | None = None
        self.effects: list[Effect] | tuple[()] = ()
        self.errors: list[dict[str, Any]] | tuple[()] = ()
        self.to_invoke: list[StateNode] | tuple[()] = ()
        self.running = True
        self.output: Any = None
        self.historic = False  # did a plan depend on recorded history? then the step is not static
        # a step may start in a configuration with eventless transitions only after start()
        self.eventless = self.chart.has_eventless

    # rarely read by expressions: looked up then rather than stored on every step
    @property
    def sessionid(self) -> str:  # type: ignore[override]
        return self.snapshot.sessionid

    def basichttp_prefix(self) -> str | None:
        reachable = self.reachable
        return reachable.basichttp if reachable is not None else None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.chart.name

    def In(self, state_id: str) -> bool:  # the SCXML predicate keeps its spec name
        """SCXML ``In(stateID)``: is the state active (at this point of the microstep)?"""
        live = self.live
        return self.chart.states.get(state_id) in (live if live is not None else self.config)

    def is_static(self) -> bool:
        """True when the step's outcome depended only on the configuration and the event name."""
        snap = self.snapshot
        return (not self.scoped and not self.effects and self.running and self.microsteps <= 1
                and not self.historic
                and self.history is snap.history and self.seq == snap.seq and not snap.invocations
                and self.pending is snap.pending)

    # -- datamodel ----------------------------------------------------------------------------------

    def scope(self) -> Scope:
        """The step's datamodel view: the run itself (and from now on the step is not static)."""
        self.scoped = True
        return self

    def check(self, cond: Expr) -> bool:
        """Evaluate a guard; an error counts as false and raises error.execution (SCXML 5.9)."""
        self.scoped = True
        try:
            return True if cond.fn(self) else False  # noqa: SIM210  # no call to bool() per guard
        except Exception as exc:  # a guard may fail in any way; the spec turns it into an event
            self.raise_error("error.execution", exc, guard=cond.source)
            return False

    def queue(self, event: Event) -> None:
        """Put an event on the internal queue."""
        if self.internal is None:
            self.internal = deque()
        self.internal.append(event)

    def emit(self, effect: Effect) -> None:
        if self.effects:
            self.effects.append(effect)
        else:
            self.effects = [effect]

    def raise_error(self, name: str, exc: BaseException, sendid: str | None = None, *,
                    guard: str | None = None) -> None:
        if self.light:  # the light path's run: the step now needs the whole run
            self.begin_rest()
        data = {"message": str(exc), "error": type(exc).__name__}
        self.queue(Event(name, data, "platform", sendid))
        error = {"event": name, **data} if guard is None else {"event": name, **data, "guard": guard}
        if self.errors:
            self.errors.append(error)
        else:
            self.errors = [error]

    def next_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}.{self.seq}"

    def cancel(self, sendid: str) -> None:
        """<cancel>: always reaches the runtime (a delayed send to another target is not tracked here)."""
        at = self.pending_at
        if at is None:
            if len(self.pending) <= _FEW_PENDING:
                if sendid in self.pending:
                    self.pending = [p for p in self.pending if p != sendid]
                self.emit(CancelEffect(sendid))
                return
            pending = self.pending = list(self.pending)  # the step's own copy: the snapshot's stays
            at = self.pending_at = {}
            for i, p in enumerate(pending):
                at.setdefault(p, []).append(i)
        found = at.pop(sendid, None)
        if found:
            own = cast("list[str | None]", self.pending)  # made a list with the index
            for i in found:
                own[i] = None  # removed when the step finishes
        self.emit(CancelEffect(sendid))

    def add_pending(self, sendid: str) -> None:
        pending = self.pending
        if pending is self.snapshot.pending or type(pending) is not list:
            pending = self.pending = list(pending)  # the step's own copy, made once: the snapshot's stays
        at = self.pending_at
        if at is not None:
            at.setdefault(sendid, []).append(len(pending))
        pending.append(sendid)

    def bind_data(self, state: StateNode, overrides: dict[str, Any] | None) -> None:
        """Create the state's data items (SCXML 5.3); a failing expression leaves the item None."""
        if not state.data and not overrides:
            return
        scope = self.scope()
        ctx = scope.writable()
        for item in state.data:
            if overrides and item.id in overrides:
                ctx[item.id] = overrides[item.id]
                continue
            try:
                ctx[item.id] = item.expr(scope) if item.expr is not None else copy.deepcopy(item.value)
            except Exception as exc:  # data expressions may fail in any way (SCXML 5.3)
                ctx[item.id] = None
                self.raise_error("error.execution", exc)
        if overrides and state is self.chart.root:
            for key, value in overrides.items():
                ctx.setdefault(key, value)
        if self.chart.binding == "late":
            self.bound = (*self.bound, state.id)

    # -- the algorithm ------------------------------------------------------------------------------

    def macrostep(self) -> None:
        """Take eventless transitions and internal events until stable, then start invocations."""
        work = 0
        chart = self.chart
        settled = False  # an eventless microstep changed nothing (XState rules): wait for an internal event
        while self.running:
            work += 1  # every microstep and every internal event counts: an erroring guard loops too
            if self.left < 0.0:
                raise StepLimitError(f"chart {chart.key!r}: the expressions of this step did more than "
                                     f"{STEP_WORK_LIMIT:,} units of work; the step was aborted (see docs/limits.md)")
            if work > MAX_MACROSTEP_WORK:
                raise StepLimitError(
                    f"chart {chart.key!r} took more than {MAX_MACROSTEP_WORK} transitions and internal events "
                    "without settling; look for eventless transitions or raised events that loop forever, "
                    "or an eventless guard that fails every time it is evaluated (error.execution)")
            enabled: tuple[Transition, ...] = ()
            eventless = False
            if self.eventless and not settled:
                enabled = select(chart, self.config, None, self.check, self.history, self.order)
                eventless = bool(enabled)
            if not enabled:
                if not self.internal:
                    if not self.to_invoke:
                        break
                    start_invokes(self)
                    continue
                self.event = ev = self.internal.popleft()
                settled = False
                enabled = select(chart, self.config, ev.name, self.check, self.history)
                if not enabled:
                    continue
            # every transition taken counts: a microstep takes one per region of a parallel state, and counted
            # as one, 400 regions flipping between two states ran 15 s and kept 40 million transitions
            work += len(enabled) - 1
            if eventless and chart.rules.settles_unchanged:
                settled = self._settles(enabled)
                continue
            self.apply(plan_microstep(chart, self.config, enabled, self.history), enabled)
        if not self.running:
            self.exit_interpreter()

    def _settles(self, enabled: tuple[Transition, ...]) -> bool:
        """Take an eventless microstep; True when it left configuration, history and context as they were.

        XState v5 then selects no eventless transition again until the next internal event is processed
        (its macrostep compares snapshots), so a targetless ``always`` does not loop.
        """
        history = self.history
        # a context nothing read yet is copied before any change, so it stays as it is now
        before = dict(self.context) if self.scoped else self.context
        plan = plan_microstep(self.chart, self.config, enabled, history)
        self.apply(plan, enabled)
        # the plan knows whether it changes the configuration: comparing the two configurations took a
        # step per active state for each microstep that changed one region among many idle ones
        return not plan.changes_config and self.history is history and self.context == before

    def apply(self, plan: Plan, enabled: tuple[Transition, ...]) -> None:
        """microstep: exit states, run transition content, enter states."""
        self.microsteps += 1
        if plan.bare:  # a targetless transition: its content only
            transitions = self.transitions
            if not transitions:
                self.transitions = enabled
            elif type(transitions) is list:
                transitions.extend(enabled)
            else:
                self.transitions = [*transitions, *enabled]
            for block in plan.actions:
                run_block(self, block)
            self.eventless = plan.eventless
            return
        if plan.uses_history:
            self.historic = True
        if plan.recorded:
            self.history = {**self.history, **plan.recorded}
        if plan.exit or plan.entry:
            if self.live is None and (plan.runs_content or plan.actions):
                # content may call In() while states change: the live set must exist before the first one
                self.live = set(self.config)
            if plan.exit:
                self._exit_states(plan)
        transitions = self.transitions
        if not transitions:
            self.transitions = enabled
        elif type(transitions) is list:
            transitions.extend(enabled)
        else:
            self.transitions = [*transitions, *enabled]
        for block in plan.actions:
            run_block(self, block)
        if plan.entry:
            self._enter_states(plan)
        if self.order is not None and (plan.recorded or plan.changes_config):
            self.order = reorder(self.chart, self.order, plan)  # XState keeps its order when nothing changed
        self.config = plan.new_config
        self.eventless = plan.eventless

    def _exit_states(self, plan: Plan) -> None:
        live = self.live
        for state in plan.exit:
            if state.active_content:
                self._exit_state(state)
            if live is not None:
                live.discard(state)

    def _enter_states(self, plan: Plan) -> None:
        current = set(self.config.difference(plan.exit)) if plan.enters_final else None
        if plan.enters_final:
            self.completed: dict[StateNode, set[StateNode]] = {}  # final regions of parallel states (entry_exit.region_completed)
        live = self.live
        for state in plan.entry:
            if live is not None:
                live.add(state)
            if current is not None:
                current.add(state)
            if state.active_content:
                self._enter_state(state, state in plan.default_entry, plan, current)

    def _exit_state(self, state: StateNode) -> None:
        for block in state.onexit:
            run_block(self, block)
        if state.invokes:
            self._cancel_invokes(state)
        to_invoke = self.to_invoke
        if isinstance(to_invoke, list) and state in to_invoke:
            to_invoke.remove(state)

    def _cancel_invokes(self, state: StateNode) -> None:
        ids = [i for i, (sid, _) in self.invocations.items() if sid == state.id]
        if ids:
            self.invocations = {k: v for k, v in self.invocations.items() if k not in ids}
            for i in ids:
                self.emit(CancelInvokeEffect(i))

    def _enter_state(self, state: StateNode, default_entry: bool, plan: Plan,
                     current: set[StateNode] | None) -> None:
        if state.invokes:
            if self.to_invoke:
                self.to_invoke.append(state)
            else:
                self.to_invoke = [state]
        if self.chart.has_late_data and state.data and state.id not in self.bound:
            self.bind_data(state, None)
        for block in state.onentry:
            run_block(self, block)
        if default_entry and state.initial is not None and state.initial.actions:
            run_block(self, state.initial.actions)
        if plan.history_content:
            content = plan.history_content.get(state.id)
            if content is not None:
                run_block(self, content.actions)
        if state.kind == "final":
            assert current is not None
            self._final_entered(state, current)

    def _final_entered(self, state: StateNode, current: set[StateNode]) -> None:
        """Raise the done events entering a final state causes; the chart's rules say which."""
        completed, machine_done = self.chart.rules.completion(state, current, self.completed)
        for node, with_output in completed:
            data = self._donedata(state) if with_output else None
            self.queue(Event(f"done.state.{node.id}", data, "platform"))
        if machine_done:
            self.running = False

    def _donedata(self, state: StateNode) -> Any:
        if state.donedata is None:
            return None
        try:
            return detached(state.donedata(self.scope()))
        except Exception as exc:  # donedata expressions may fail in any way
            self.raise_error("error.execution", exc)
            return None

    def exit_interpreter(self) -> None:
        """A top-level final state was reached: run exit handlers, cancel invocations, report done.

        Unlike the spec's exitInterpreter, the configuration is kept in the snapshot, so one can see which
        final state the session ended in.
        """
        self.exit_all(done=True)
        self.emit(DoneEffect(self.output))

    def exit_all(self, done: bool = False) -> None:
        """Leave every active state (exit handlers, then its invocations), then drop pending sends.

        With ``done``, the top-level final state's donedata becomes the output as that state is left,
        after its own exit handlers and before its ancestors' (Appendix D, exitInterpreter).
        """
        for state in sorted(self.config, key=_exit_order):
            for block in state.onexit:
                run_block(self, block)
            if state.invokes:
                self._cancel_invokes(state)
            if done and state.kind == "final" and state.parent is self.chart.root:
                self.output = self._donedata(state)
            if done and state is self.chart.root and state.donedata is not None:
                self.output = self._donedata(state)  # a machine's own output (XState) wins
        for sendid in tuple(self.pending):
            if sendid is not None:  # not cancelled already
                self.cancel(sendid)

    def finalize_and_forward(self, ev: Event) -> None:
        """Apply <finalize> for events from a child, and autoforward external events (SCXML 6.4)."""
        for invokeid, (state_id, index) in list(self.invocations.items()):
            spec = self.chart.states[state_id].invokes[index]
            if invokeid == ev.invokeid and spec.finalize:
                run_block(self, spec.finalize)
            if spec.autoforward:
                self.emit(ForwardEffect(invokeid, ev))
        if ev.invokeid is not None and ev.name.startswith(("done.invoke.", "error.invoke.")):
            # the invocation is over: it finished, or its service failed for good
            self.invocations = {k: v for k, v in self.invocations.items() if k != ev.invokeid}

    def finish(self, result: type[StepResult]) -> StepResult:
        """The new snapshot and the step's result (``result`` is :class:`StepResult`, which imports this)."""
        chart = self.chart
        snap = self.snapshot
        ids = self.order
        if type(ids) is Order:
            ids = ids.plain  # the snapshot's plain tuple (chart.Order)
        elif ids is None:
            config = self.config
            ids = chart.config_ids.get(config)
            if ids is None:
                if len(chart.config_ids) >= MAX_CONFIGS:  # clients' events can reach many configurations
                    chart.config_ids.clear()
                ids = chart.config_ids[config] = tuple(s.id for s in sorted(config, key=_order))
        pending = self.pending if type(self.pending) is tuple else tuple(
            self.pending if self.pending_at is None else [p for p in self.pending if p is not None])
        new = _new_tuple(Snapshot, (ids, self.context, self.history, self.invocations, pending, self.bound,
                                    self.seq, "active" if self.running else "done", self.output,
                                    snap.sessionid, snap.chart))
        effects, transitions, errors = self.effects, self.transitions, self.errors
        return _new_tuple(result, (new, tuple(effects) if effects else (),
                                   transitions if type(transitions) is tuple else tuple(transitions),
                                   tuple(errors) if errors else ()))


def _exit_order(state: StateNode) -> int:
    return -state.order


def _order(state: StateNode) -> int:
    return state.order


def reorder(chart: Chart, order: tuple[str, ...], plan: Plan) -> tuple[str, ...]:
    """The configuration in entry order after a microstep: exited states leave, entered ones come last."""
    known = plan.reordered.get(order)
    if known is not None:
        return known
    left = {s.id for s in plan.exit}
    kept = [i for i in order if i not in left]
    present = set(kept)
    kept.extend(s.id for s in plan.entry if s.id not in present)
    if len(plan.reordered) >= _MAX_REORDERED:
        plan.reordered.clear()
    new = plan.reordered[order] = canonical_order(chart, kept)
    return new

