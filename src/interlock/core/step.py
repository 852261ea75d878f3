"""The pure step: ``(chart, snapshot, event, now) -> (snapshot, effects)`` (SCXML Appendix D).

:func:`start` enters the initial configuration; :func:`step` processes one external event as a whole
macrostep. Both return a :class:`StepResult` and never mutate their inputs. The algorithm itself runs on
one :class:`~interlock.core.run.Run` per call.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from interlock.core.chart import Chart, Order, StateNode, Transition
from interlock.core.content import Update
from interlock.core.datamodel import WORK_UNITS
from interlock.core.effects import Effect
from interlock.core.events import Event, as_event
from interlock.core.execute import SendFailed, merge, run_block
from interlock.core.microstep import Plan, plan_initial, plan_microstep
from interlock.core.reach import Reach
from interlock.core.rules_xstate import SelectionPlan, planned_selection
from interlock.core.run import Run, config_of, reorder
from interlock.core.select import select, select_planned
from interlock.core.snapshot import Snapshot
from interlock.errors import DefinitionError, Problem

MAX_ROUTES = 50_000  # (configuration, event name) pairs remembered per chart (event names come from clients)
_MAX_PLANS = 64  # microstep plans remembered per route (one per set of transitions it selected)
# tuple.__new__ skips NamedTuple's argument handling; used on the hot path only
_new_tuple = tuple.__new__


class StepResult(NamedTuple):
    """What a step produced: the new snapshot, its effects in order, the transitions it took, and the
    errors its expressions and actions raised (each became an ``error.*`` event, SCXML 5.10:
    ``{"event": "error.execution", "error": "KeyError", "message": ..., "guard": source}``, ``guard``
    only for a failed condition)."""

    snapshot: Snapshot
    effects: tuple[Effect, ...]
    transitions: tuple[Transition, ...]
    errors: tuple[dict[str, Any], ...] = ()


class Route:
    """What a step needs about one (configuration, event name) pair, looked up once per step.

    - ``config``: the configuration's state nodes;
    - ``selection``: XState's selection plan for the event (None under SCXML rules), and ``chain``: its
      candidates when no parallel state's regions are involved (one transition at most is selected);
    - ``static``: the outcome, when a step from this pair evaluated no expression, ran no action and
      produced no effect (a pure function of the pair: later steps reuse it);
    - ``plans``: the first microstep's plan per set of selected transitions, when it depends on no history;
      ``alone``: for a ``chain``'s transition, the same as ``((transition,), plan)`` (looked up by the
      transition itself: no tuple is made and hashed per step);
    - ``light``: whether a step may take the light path (a ``chain`` under rules that keep the
      configuration in entry order, and a chart with no eventless transitions and no datamodel that
      changes values in place).
    """

    __slots__ = ("alone", "chain", "config", "light", "plans", "selection", "static")

    def __init__(self, chart: Chart, config: frozenset[StateNode], selection: SelectionPlan | None) -> None:
        self.config = config
        self.selection = selection
        self.chain = selection[1] if selection is not None and not selection[0] else None
        # the light path keeps the snapshot's configuration as it is: it must be the order finish() writes
        self.light = (self.chain is not None and chart.rules.entry_ordered and not chart.has_eventless
                      and not chart.deep_copy_context)
        self.static: tuple[tuple[str, ...], tuple[Transition, ...]] | None = None
        self.plans: dict[tuple[Transition, ...], Plan] = {}
        self.alone: dict[Transition, tuple[tuple[Transition, ...], Plan]] = {}


def route(chart: Chart, configuration: tuple[str, ...], name: str) -> Route:
    """The chart's :class:`Route` for a snapshot's configuration and an event name, made on first use."""
    routes = chart.routes.get(configuration)
    found: Route | None = routes.get(name) if routes is not None else None
    if found is None:
        config = config_of(chart, configuration)
        selection = planned_selection(chart, config, name) if chart.rules.tree_selection else None
        if chart.route_count >= MAX_ROUTES:
            chart.routes.clear()
            chart.route_count = 0
        # setdefault: threads stepping one chart never drop each other's routes (a lost one would be
        # made again, and counted twice)
        made = Route(chart, config, selection)
        found = chart.routes.setdefault(configuration, {}).setdefault(name, made)
        if found is made:
            chart.route_count += 1
    return found


def start(chart: Chart, *, sessionid: str = "", data: dict[str, Any] | None = None,
          now: float = 0.0, reachable: Reach | None = None) -> StepResult:
    """Initialize the datamodel, run the global script and enter the initial configuration."""
    if chart.unprovided:
        raise DefinitionError(
            [Problem(p.path, p.message, p.hint) for p in chart.unprovided],
            f"{chart.key}: named guards and actions without implementations; give them with "
            "interlock.provide(chart, guards=..., actions=...) before running it")
    empty = Snapshot((), {}, {}, {}, (), (), 0, "active", None, sessionid, chart.key)
    run: Run = Run().begin(chart, empty, config_of(chart, ()), now, reachable)
    run.scope().writable()
    run.bind_data(chart.root, data)
    if chart.binding == "early":
        for state in chart.walk():
            if state is not chart.root and state.data:
                run.bind_data(state, None)
    run_block(run, chart.script)
    run.apply(plan_initial(chart), ())
    run.macrostep()
    return run.finish(StepResult)


def step(chart: Chart, snapshot: Snapshot, event: Event | str | dict[str, Any], *, now: float = 0.0,
         reachable: Reach | None = None) -> StepResult:
    """Process one external event as a complete macrostep."""
    ev = event if type(event) is Event else as_event(event)
    # one unpacking reads the snapshot's fields faster than its NamedTuple attributes one by one: three of
    # them (status, configuration, invocations) cost about what it costs, and every path needs them
    configuration, before, history, invocations, sends, bound, seq, status, output, sessionid, key = snapshot
    if status != "active":
        return _new_tuple(StepResult, (snapshot, (), (), ()))
    name, sendid = ev.name, ev.sendid
    routes = chart.routes.get(configuration)
    found = routes.get(name) if routes is not None else None
    if found is None:
        found = route(chart, configuration, name)
    elif found.static is not None and sendid is None and not invocations:
        # This (configuration, event name) was seen before and evaluated no expression, ran no action and
        # produced no effect: its outcome is a pure function of the two. Reuse it.
        ids, taken = found.static
        if ids is not configuration:
            snapshot = _new_tuple(Snapshot, (ids, before, history, invocations, sends, bound, seq, status, output,
                                             sessionid, key))
        return _new_tuple(StepResult, (snapshot, (), taken, ()))
    config = found.config
    # The light path: no timer to settle and no invocation to finalize or forward. Its run has only what
    # guards and updates read (Run.begin_light); the first error, or a plan that is not light, makes it a
    # whole run (Run.begin_rest) and the step goes on as usual from there.
    if found.light and sendid is None and not invocations:
        # Run.begin_light, inline: a call less per step (keep the two alike)
        run: Run = Run()
        run.context = before
        run.copied = False
        run.event = ev
        run.now = now
        run.left = WORK_UNITS
        run.chart = chart
        run.snapshot = snapshot
        run.reachable = reachable
        run.config = config
        run.live = None
        run.scoped = False
        run.transitions = ()
        run.microsteps = 0
        run.order = configuration
        run.light = True
    else:
        run = Run().begin(chart, snapshot, config, now, reachable, ev)
        if (sendid is not None and sendid in sends
                and ev.origin == f"#_scxml_{sessionid}"):  # only our own timer settles our pending id
            pending = list(sends)
            pending.remove(sendid)  # one timer came back; another with the same id may still be due
            run.pending = pending
        if invocations:
            run.finalize_and_forward(ev)
    chain = found.chain
    plan: Plan | None = None
    if chain is not None:  # select_along's common case, inline: the first candidate whose guard holds
        enabled: tuple[Transition, ...] = ()
        for t in chain:
            cond = t.cond
            if cond is not None:  # Run.check, inline: one call less per guard
                run.scoped = True
                direct = cond.direct  # a Python guard: called here, without the Expr's wrapper
                # A document's guard fused with its transition's assignment (Update.ready) computes the assignment
                # too when it holds on a light run (run.light now): that transition is then taken by the light
                # block below, whose first action is that update, with nothing run in between.
                try:
                    # fn read as an attribute, then called: cond.fn(run) would look it up as a method of the Expr
                    # (CPython 3.11 does not specialize that lookup for an instance's slot)
                    if not ((evaluate := cond.fn)(run) if direct is None else direct(run.context, run.event)):
                        continue
                except Exception as exc:  # a guard may fail in any way; the spec turns it into an event
                    run.raise_error("error.execution", exc, guard=cond.source)
                    continue
            known = found.alone.get(t)
            if known is None:
                enabled = (t,)
            else:
                enabled, plan = known
            break
    elif found.selection is not None:
        enabled = select_planned(chart, config, found.selection, run.check, run.history)
    else:
        enabled = select(chart, config, name, run.check, run.history)
    if enabled:
        if plan is None:
            memo = found.plans.get(enabled)
            if memo is None:
                memo = plan_microstep(chart, config, enabled, run.history if not run.light else history)
                if not memo.uses_history and len(found.plans) < _MAX_PLANS:
                    found.plans[enabled] = memo
                    if chain is not None:  # by its transition too (Route.alone)
                        found.alone[enabled[0]] = (enabled, memo)
            plan = memo
        # the first microstep of a light plan (no state content, no history, content that only updates the
        # context) on a run that may be light, with run_block's usual case inline: two or three calls less
        if run.light and plan.light:
            run.microsteps = 1
            run.transitions = enabled
            bare = plan.bare  # targetless: no state is exited or entered (so the configuration stays)
            if not bare:
                run.live = plan.between  # type: ignore[assignment]  # what In() sees while the content runs
            for block in plan.actions:
                # run_block for a light plan's block (only updates and Python actions without parameters).
                # An error stops the block and makes the run whole (raise_error); the step goes on.
                run.scoped = True
                try:
                    for action in block:
                        if type(action) is Update:
                            if action.ready:
                                # its transition's guard computed it (Update.ready): the transition is targetless
                                # and this update its only content, so nothing ran since; the guard ran on this
                                # light run (run.light was True then and is still)
                                update = run.ready
                                if type(update) is not dict:  # what the update raised (an exception)
                                    del run.ready  # the exception's frames hold the run: no cycle left
                                    run.raise_error("error.execution", update)  # type: ignore[arg-type]
                                    update = None  # type: ignore[assignment]  # nor in this frame (the traceback of its cause holds this frame)
                                    break  # the block's only action
                            else:
                                evaluate = action.expr.fn  # an attribute, then a call: see the guards' above
                                update = evaluate(run)
                        else:
                            update = action.fn(run.context, run.event)  # type: ignore[union-attr]
                        if type(update) is dict and update:
                            if run.copied:
                                run.context.update(update)
                            else:
                                run.context = {**run.context, **update}
                                run.copied = True
                        else:
                            merge(run, update)
                except SendFailed as exc:
                    run.raise_error("error.execution", exc.cause, exc.sendid)
                except Exception as exc:
                    run.raise_error("error.execution", exc)
            if not bare:
                run.live = None  # the configuration is the live set again
                if plan.changes_config:
                    order = run.order
                    if order is not None:
                        known = plan.reordered.get(order)
                        run.order = known if known is not None else reorder(chart, order, plan)
                    run.config = plan.new_config
        else:
            if run.light:
                run.begin_rest()
            run.apply(plan, enabled)
    if run.light and run.left >= 0.0:
        # The step stayed light: at most one transition, whose content only updated the context and which
        # ran no state's content; no error, no effect. The new snapshot differs from the old one in its
        # configuration and context only (the same snapshot when neither changed). Inline: a call less.
        ids, context = run.order, run.context
        if type(ids) is Order:
            ids = ids.plain  # the snapshot's plain tuple (chart.Order)
        if context is not before or ids is not configuration:
            snapshot = _new_tuple(Snapshot, (ids, context, history, invocations, sends, bound, seq, "active",
                                             None, sessionid, key))
        if not run.scoped:  # read nothing, ran nothing: a pure function of (configuration, event name)
            found.static = (snapshot.configuration, enabled)
        return _new_tuple(StepResult, (snapshot, (), enabled, ()))
    if run.light:
        run.begin_rest()  # an exhausted budget raises in the expression that spent it; exact all the same
    # anything for the macrostep to do: an internal event, an eventless transition that may fire, an
    # invocation to start, a final state reached, or the expression budget spent (an exhausted budget also
    # queued error.execution; this reads it directly all the same)
    if run.internal or run.eventless or run.to_invoke or not run.running or run.left < 0.0:
        run.macrostep()
    result = run.finish(StepResult)
    if not run.scoped and run.is_static():  # a step that read the datamodel is never static
        found.static = (result.snapshot.configuration, result.transitions)
    return result


def stop(chart: Chart, snapshot: Snapshot, *, now: float = 0.0,
         reachable: Reach | None = None) -> StepResult:
    """Cancel a session from outside (its invoking state was exited, or an operator stopped it).

    Runs every active state's exit handlers in exit order and cancels its invocations (SCXML 6.4), but
    reports no done event: the new snapshot's status is ``stopped``.
    """
    if snapshot.status != "active":
        return _new_tuple(StepResult, (snapshot, (), (), ()))
    run: Run = Run().begin(chart, snapshot, config_of(chart, snapshot.configuration), now, reachable)
    run.exit_all()
    result = run.finish(StepResult)
    return result._replace(snapshot=result.snapshot._replace(status="stopped"))
