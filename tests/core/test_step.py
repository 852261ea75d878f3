"""The step algorithm through its public functions: start() and step()."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from interlock.core.chart import Chart, build_chart
from interlock.core.content import Cancel, Log, Raise, Send
from interlock.core.effects import CancelEffect, DoneEffect, LogEffect, SendEffect
from interlock.core.events import Event
from interlock.core.snapshot import Snapshot
from interlock.core.spec import ChartSpec, StateSpec
from interlock.core.step import start, step
from interlock.errors import StepLimitError

from .charts import always, assign, chart, expr, on, state, update

SCXML = "http://www.w3.org/TR/scxml/#SCXMLEventProcessor"


def drive(c, *events, data=None):
    result = start(c, data=data)
    for ev in events:
        result = step(c, result.snapshot, ev)
    return result


def leaf(snapshot: Snapshot) -> set[str]:
    return set(snapshot.configuration)


def test_flat_cycle_moves_and_reports_transitions() -> None:
    c = chart(state("m", state("a", transitions=[on("NEXT", "b")]), state("b", transitions=[on("NEXT", "a")])))
    r = drive(c, "NEXT")
    assert r.snapshot.configuration == ("m", "b")
    assert [(t.source.id, [x.id for x in t.targets]) for t in r.transitions] == [("a", ["b"])]


def test_unknown_event_is_ignored_and_snapshot_is_unchanged() -> None:
    c = chart(state("m", state("a", transitions=[on("GO", "b")]), state("b")))
    first = start(c).snapshot
    r = step(c, first, "NOPE")
    assert r.transitions == () and r.effects == ()
    assert r.snapshot == first


def test_descriptor_prefix_and_wildcard_matching() -> None:
    c = chart(state("m", state("a", transitions=[on("order", "b")]), state("b", transitions=[on("*", "a")])))
    assert drive(c, "order.placed.now").snapshot.configuration == ("m", "b")
    assert drive(c, "orders").snapshot.configuration == ("m", "a")
    assert drive(c, "order", "anything").snapshot.configuration == ("m", "a")


def test_guards_pick_the_first_enabled_transition_in_document_order() -> None:
    c = chart(state("m",
                    state("a", transitions=[on("GO", "b", cond=lambda s: s.context["n"] > 5),
                                            on("GO", "c", cond=lambda s: s.context["n"] > 0)]),
                    state("b"), state("c")), n=3)
    assert drive(c, "GO").snapshot.configuration == ("m", "c")
    assert drive(c, "GO", data={"n": 9}).snapshot.configuration == ("m", "b")


def test_assign_is_copy_on_write_and_never_mutates_the_input_snapshot() -> None:
    c = chart(state("m", state("a", transitions=[on("INC", "a", actions=(update(lambda s: {"n": s.context["n"] + 1}),))])), n=0)
    s0 = start(c).snapshot
    frozen = copy.deepcopy(s0)
    s1 = step(c, s0, "INC").snapshot
    s2 = step(c, s1, "INC").snapshot
    assert (s0.context, s1.context, s2.context) == ({"n": 0}, {"n": 1}, {"n": 2})
    assert s0 == frozen


def test_nested_key_assignment_copies_along_the_path() -> None:
    c = chart(state("m", state("a", transitions=[on("SET", "a", actions=(assign("order.total", lambda s: 7),))])),
              order={"total": 1, "items": []})
    s0 = start(c).snapshot
    s1 = step(c, s0, "SET").snapshot
    assert s1.context["order"] == {"total": 7, "items": []}
    assert s0.context["order"]["total"] == 1


def test_entry_exit_and_transition_actions_run_in_spec_order() -> None:
    def log(label):
        return Log(label, None)

    c = chart(state("m",
                    state("p", state("a", onexit=[(log("exit a"),)], transitions=[on("GO", "q", actions=(log("t"),))]),
                          onexit=[(log("exit p"),)]),
                    state("q", state("b", onentry=[(log("enter b"),)]), onentry=[(log("enter q"),)])))
    r = drive(c, "GO")
    assert [e.label for e in r.effects if isinstance(e, LogEffect)] == ["exit a", "exit p", "t", "enter q", "enter b"]


def test_internal_transition_does_not_exit_its_source() -> None:
    def log(label):
        return Log(label, None)

    c = chart(state("m", state("p", state("a"), state("b"), onexit=[(log("exit p"),)], onentry=[(log("enter p"),)],
                               transitions=[on("GO", "b", internal=True)])))
    r = drive(c, "GO")
    assert r.snapshot.configuration == ("m", "p", "b")
    assert [e for e in r.effects if isinstance(e, LogEffect)] == []


def test_parallel_regions_all_move_and_done_state_fires_when_all_are_final() -> None:
    c = chart(state("m",
                    state("par",
                          state("r1", state("a1", transitions=[on("GO", "f1")]), state("f1", kind="final")),
                          state("r2", state("a2", transitions=[on("GO", "f2")]), state("f2", kind="final")),
                          kind="parallel", transitions=[on("done.state.par", "end")]),
                    state("end", kind="final")))
    s = start(c).snapshot
    assert leaf(s) >= {"par", "r1", "r2", "a1", "a2"}
    r = step(c, s, "GO")
    assert r.snapshot.status == "done"
    assert r.snapshot.configuration == ("m", "end")
    assert isinstance(r.effects[-1], DoneEffect)


def test_shallow_and_deep_history_restore_what_was_active() -> None:
    def build(kind):
        return chart(state("m",
                           state("p",
                                 StateSpec("h", kind="history", history=kind),
                                 state("x", state("x1", transitions=[on("N", "x2")]), state("x2")),
                                 transitions=[on("OUT", "out")]),
                           state("out", transitions=[on("BACK", "h")])))

    deep = drive(build("deep"), "N", "OUT", "BACK").snapshot
    shallow = drive(build("shallow"), "N", "OUT", "BACK").snapshot
    assert deep.configuration == ("m", "p", "x", "x2")
    assert shallow.configuration == ("m", "p", "x", "x1")
    assert deep.history == {"h": ("x2",)}


def test_eventless_transitions_and_raised_events_settle_in_one_macrostep() -> None:
    c = chart(state("m",
                    state("a", transitions=[on("GO", "b", actions=(Raise("inner"),))]),
                    state("b", transitions=[on("inner", "c")]),
                    state("c", transitions=[always("d", cond=lambda s: s.context["ok"])]),
                    state("d")), ok=True)
    r = drive(c, "GO")
    assert r.snapshot.configuration == ("m", "d")
    assert [t.source.id for t in r.transitions] == ["a", "b", "c"]


def test_failing_expression_raises_error_execution_and_skips_rest_of_block() -> None:
    c = chart(state("m",
                    state("a", transitions=[on("GO", "b", actions=(update(lambda s: 1 / 0), Raise("never")))]),
                    state("b", transitions=[on("error.execution", "failed"), on("never", "wrong")]),
                    state("failed"), state("wrong")))
    assert drive(c, "GO").snapshot.configuration == ("m", "failed")


def test_delayed_send_is_an_effect_tracked_as_pending_and_cancelled_on_request() -> None:
    c = chart(state("m",
                    state("a", onentry=[(Send(event="tick", id="t1", delay_ms=1500),)],
                          transitions=[on("STOP", "b", actions=(Cancel(sendid="t1"),)), on("tick", "c")]),
                    state("b"), state("c")))
    s0 = start(c)
    assert s0.effects == (SendEffect("t1", Event("tick", None, "external", "t1", "#_scxml_", SCXML), None, SCXML, 1500),)
    assert s0.snapshot.pending == ("t1",)
    stopped = step(c, s0.snapshot, "STOP")
    assert stopped.effects == (CancelEffect("t1"),) and stopped.snapshot.pending == ()
    foreign = step(c, s0.snapshot, Event("other", sendid="t1", origin="#_scxml_someone-else"))
    assert foreign.snapshot.pending == ("t1",)  # only this session's own timer settles its id
    fired = step(c, s0.snapshot, Event("tick", sendid="t1", origin="#_scxml_"))
    assert fired.snapshot.configuration == ("m", "c") and fired.snapshot.pending == ()


def test_send_to_an_invalid_target_is_error_execution() -> None:
    c = chart(state("m", state("a", onentry=[(Send(event="x", target="nowhere"),)],
                               transitions=[on("error.execution", "bad")]), state("bad")))
    assert start(c).snapshot.configuration == ("m", "bad")


def test_an_endless_eventless_loop_is_reported_not_hung() -> None:
    c = chart(state("m", state("a", transitions=[always("b")]), state("b", transitions=[always("a")])))
    with pytest.raises(StepLimitError, match="without settling"):
        start(c)


def _regions_counting_to(limit: int) -> Chart:
    """100 parallel regions, each taking a targetless eventless transition while ``n < limit``; the first
    region's adds one to ``n``: each microstep takes 100 transitions, ``limit`` microsteps in all."""
    regions = [state(f"r{i}", state(f"a{i}", transitions=[always(cond=lambda s: s.context["n"] < limit, actions=(
        (assign("n", lambda s: s.context["n"] + 1),) if i == 0 else ()))])) for i in range(100)]
    return chart(state("m", state("p", *regions, kind="parallel")), n=0)


def test_every_transition_of_a_microstep_counts_towards_the_step_limit() -> None:
    """A microstep takes one transition per region of a parallel state: counted as one, 400 regions flipping
    between two states took 15 s of CPU and 360 MB (the transitions a step took) before the step stopped,
    and a document of a few thousand regions took minutes."""
    with pytest.raises(StepLimitError, match="took more than 100000 transitions and internal events"):
        start(_regions_counting_to(1500))  # 150,000 transitions in 1,500 microsteps
    assert start(_regions_counting_to(900)).snapshot.context["n"] == 900  # 90,000: within the limit


@pytest.mark.parametrize("semantics", ["scxml", "xstate"])
def test_a_parallel_state_of_thousands_of_regions_is_entered_whole(semantics: str) -> None:
    """Each region is entered by default unless a target is inside it (tested against every entered state
    for every region: 4,000 regions took 1.3 s to enter; found once for all now)."""
    from interlock.frontends.document import load_document

    regions = {f"r{i}": {"initial": "a", "states": {"a": {}, "b": {}}} for i in range(3000)}
    doc = {"id": "m", "initial": "i", "states": {"i": {"on": {"GO": "p", "DEEP": "#m.p.r7.b"}},
                                                 "p": {"type": "parallel", "states": regions}}}
    c = load_document(doc) if semantics == "xstate" else chart(state(
        "m", state("i", transitions=[on("GO", "p"), on("DEEP", "r7b")]),
        StateSpec("p", kind="parallel", children=[
            state(f"r{i}", state(f"r{i}a"), state(f"r{i}b")) for i in range(3000)])))
    entered = set(drive(c, "GO").snapshot.configuration)
    deep = set(drive(c, "DEEP").snapshot.configuration)
    if semantics == "xstate":
        assert len(entered) == 6002 and "m.p.r2999.a" in entered
        assert "m.p.r7.b" in deep and "m.p.r7.a" not in deep and "m.p.r8.a" in deep and len(deep) == 6002
    else:
        assert len(entered) == 6002 and "r2999a" in entered
        assert "r7b" in deep and "r7a" not in deep and "r8a" in deep and len(deep) == 6002


def test_snapshot_round_trips_through_json() -> None:
    c = chart(state("m", state("p", StateSpec("h", kind="history", history="deep"), state("a", transitions=[on("N", "b")]), state("b"),
                               transitions=[on("OUT", "o")]), state("o")), n={"x": [1, 2]})
    s = drive(c, "N", "OUT").snapshot
    text = json.dumps(s.to_json())
    assert Snapshot.from_json(json.loads(text)) == s


def test_steps_are_deterministic_and_memoization_changes_nothing() -> None:
    def build():
        return chart(state("m",
                           state("a", transitions=[on("GO", "b"), on("INC", "a", actions=(update(lambda s: {"n": s.context["n"] + 1}),))]),
                           state("b", transitions=[on("GO", "a", cond=lambda s: s.context["n"] % 2 == 0), on("GO", "b", internal=True)])), n=0)

    events = ["GO", "INC", "GO", "GO", "INC", "GO", "GO", "NOPE"] * 5
    warm, cold = build(), build()
    s_warm = start(warm).snapshot
    for ev in events:  # warm the memo tables
        s_warm = step(warm, s_warm, ev).snapshot
    a, b = start(warm).snapshot, start(cold).snapshot
    for ev in events:
        ra, rb = step(warm, a, ev), step(build(), b, ev)
        assert ra.snapshot == rb.snapshot
        assert [t.order for t in ra.transitions] == [t.order for t in rb.transitions]
        a, b = ra.snapshot, rb.snapshot


def test_done_session_ignores_further_events_and_reports_output() -> None:
    c = chart(state("m", state("a", transitions=[on("GO", "end")]),
                    state("end", kind="final", donedata=expr(lambda s: {"total": s.context["n"]}))), n=5)
    r = drive(c, "GO")
    assert r.snapshot.status == "done" and r.snapshot.output == {"total": 5}
    assert r.effects[-1] == DoneEffect({"total": 5})
    assert step(c, r.snapshot, "GO").snapshot is r.snapshot


def test_stop_runs_exit_handlers_and_cancels_invocations_without_done() -> None:
    from interlock.core.effects import CancelInvokeEffect, InvokeEffect
    from interlock.core.spec import InvokeSpec
    from interlock.core.step import stop

    c = chart(state("m", state("a", onexit=[(Log("bye", None),)], invokes=[InvokeSpec(type="service", src="work")])))
    started = start(c)
    assert [type(e) for e in started.effects] == [InvokeEffect]
    invokeid = started.effects[0].invokeid
    r = stop(c, started.snapshot)
    assert r.snapshot.status == "stopped"
    assert r.effects == (LogEffect("bye", None), CancelInvokeEffect(invokeid))
    assert step(c, r.snapshot, "anything").snapshot is r.snapshot


def test_in_sees_states_leave_and_join_the_configuration_one_by_one() -> None:
    seen: list[tuple[str, bool]] = []

    def probe(label: str, state_id: str):
        def record(scope):
            seen.append((label, scope.In(state_id)))
            return None
        return update(record)

    c = chart(state("m",
                    state("s0", state("s01", state("s01p")),
                          onexit=[(probe("exit s0: In(s01p)", "s01p"),)],
                          transitions=[on("GO", "s1")]),
                    state("s1", state("s11"), onentry=[(probe("enter s1: In(s11)", "s11"), probe("enter s1: In(s1)", "s1"))])))
    drive(c, "GO")
    assert seen == [("exit s0: In(s01p)", False), ("enter s1: In(s11)", False), ("enter s1: In(s1)", True)]


def test_history_without_default_enters_the_parents_initial_state_the_first_time() -> None:
    c = chart(state("m",
                    state("out", transitions=[on("IN", "h")]),
                    state("p", StateSpec("h", kind="history"), state("x1", transitions=[on("N", "x2")]), state("x2"),
                          transitions=[on("OUT", "out")])))
    assert drive(c, "IN").snapshot.configuration == ("m", "p", "x1")
    assert drive(c, "IN", "N", "OUT", "IN").snapshot.configuration == ("m", "p", "x2")


def test_an_eventless_guard_that_always_fails_is_reported_not_hung() -> None:
    c = chart(state("m", state("a", transitions=[always("b", cond=lambda s: s.context["totl"] > 5)]), state("b")),
              total=1)
    with pytest.raises(StepLimitError, match="fails every time"):
        start(c)


def test_cancel_of_a_send_to_another_target_still_reaches_the_runtime() -> None:
    c = chart(state("m", state("a", onentry=[(Send(event="ping", target="#_parent", id="p", delay_ms=1000),)],
                               transitions=[on("STOP", "b", actions=(Cancel(sendid="p"),))]), state("b")))
    s0 = start(c)
    assert s0.snapshot.pending == ()  # it never comes back here, so it is not tracked
    assert step(c, s0.snapshot, "STOP").effects == (CancelEffect("p"),)


def test_history_default_content_runs_even_when_the_parent_has_no_content_of_its_own() -> None:
    from interlock.core.spec import TransitionSpec

    history = StateSpec("h", kind="history", transitions=[TransitionSpec(targets=["p1"], actions=(
        update(lambda s: {"x": s.context["x"] + 1}),))])
    c = chart(state("m", state("a", transitions=[on("GO", "h")]), state("p", history, state("p1"))), x=0)
    assert drive(c, "GO").snapshot.context == {"x": 1}


def test_history_that_is_its_parents_initial_state_starts_at_the_first_child() -> None:
    c = chart(state("m", state("p", StateSpec("h", kind="history"), state("p1"), state("p2"), initial=["h"])))
    assert start(c).snapshot.configuration == ("m", "p", "p1")


def test_targets_that_cannot_be_active_together_are_refused() -> None:
    from interlock.errors import DefinitionError

    with pytest.raises(DefinitionError, match="cannot be active together"):
        chart(state("m", state("a", transitions=[on("GO", "b", "c")]), state("b"), state("c")))
    ok = chart(state("m", state("a", transitions=[on("GO", "x1", "y1")]),
                     state("p", state("x", state("x1")), state("y", state("y1")), kind="parallel")))
    assert set(drive(ok, "GO").snapshot.configuration) == {"m", "p", "x", "x1", "y", "y1"}


def test_a_parallel_region_that_is_itself_parallel_completes_its_parent() -> None:
    inner = state("inner", state("i1", state("i1a", transitions=[on("GO", "i1f")]), state("i1f", kind="final")),
                  state("i2", state("i2f", kind="final")), kind="parallel")
    outer = state("outer", inner, state("r2", state("r2f", kind="final")), kind="parallel",
                  transitions=[on("done.state.outer", "end")])
    c = chart(state("m", outer, state("end", kind="final")))
    r = drive(c, "GO")
    assert r.snapshot.configuration == ("m", "end") and r.snapshot.status == "done"


def test_two_timers_with_one_id_settle_one_at_a_time() -> None:
    twice = (Send(event="tick", id="x", delay_ms=1000), Send(event="tick", id="x", delay_ms=2000))
    c = chart(state("m", state("a", onentry=[twice], transitions=[on("tick")])))
    s0 = start(c).snapshot
    assert s0.pending == ("x", "x")
    s1 = step(c, s0, Event("tick", sendid="x", origin="#_scxml_")).snapshot
    assert s1.pending == ("x",)


def test_a_delayed_send_to_the_internal_queue_is_an_error() -> None:
    c = chart(state("m", state("a", onentry=[(Send(event="x", target="#_internal", delay_ms=10),)],
                               transitions=[on("error.execution", "bad")]), state("bad")))
    assert start(c).snapshot.configuration == ("m", "bad")


def test_a_failing_guard_is_in_the_step_errors_with_its_source() -> None:
    from interlock import load_document

    chart = load_document({"id": "pay", "initial": "idle", "states": {
        "idle": {"on": {"PAY": {"guard": "event.amount > 10", "target": "paid"}}}, "paid": {}}})
    result = step(chart, start(chart).snapshot, {"type": "PAY", "amt": 20})
    assert result.transitions == ()
    assert [(e["event"], e["error"], e["guard"]) for e in result.errors] == [
        ("error.execution", "EvaluationError", "event.amount > 10")]
    assert step(chart, start(chart).snapshot, {"type": "PAY", "amount": 20}).errors == ()


def test_a_step_leaves_no_reference_cycle_behind() -> None:
    """The step's working object is freed by reference counting as the step returns: a cycle per step
    (a scope referring to its run and back) left every step's objects to the cyclic collector."""
    import gc

    from interlock.frontends.loader import load_machine

    document = """
id: c
initial: a
context: {n: 0, items: []}
states:
  a:
    on:
      ADD: {guard: "n < 1000 and In('c.a')", actions: {assign: {n: n + 1, items: "items + [event.sku]"}}}
      GO: {target: b, actions: {raise: BACK}}
  b:
    on:
      BACK: a
"""
    c = load_machine(document)
    snapshot = start(c).snapshot
    for name in ("ADD", "GO", "ADD"):  # warm the memo tables: they are kept on the chart, not per step
        snapshot = step(c, snapshot, Event(name, {"sku": "x"})).snapshot
    gc.collect()
    gc.disable()
    try:
        for name in ("ADD", "GO", "ADD", "NOPE") * 50:
            snapshot = step(c, snapshot, Event(name, {"sku": "x"})).snapshot
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert snapshot.context["n"] == 102
    assert unreachable == 0


def _lines_run_in_core(fn: Any) -> int:
    """How many lines of interlock.core ``fn`` runs (sys.settrace: a count, not a time)."""
    import sys

    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: Any, event: str, arg: Any) -> Any:
        return local if "interlock/core/" in frame.f_code.co_filename.replace("\\", "/") else None

    sys.settrace(calls)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize("semantics", ["scxml", "xstate"])
def test_entering_parallel_states_nested_in_a_parallel_state_is_linear(semantics: str) -> None:
    """Each parallel state entered found the regions already covered from every state entered so far:
    n parallel states inside one took n * n steps to enter (4,000: 1.9 s); twice the regions now take
    about twice the lines of core, not four times."""
    def lines(n: int) -> int:
        spec = state("m", state("i", transitions=[on("GO", "p")]), StateSpec("p", kind="parallel", children=[
            StateSpec(f"r{i}", kind="parallel", children=[state(f"r{i}x"), state(f"r{i}y")]) for i in range(n)]))
        spec.data = []
        c = build_chart(ChartSpec(spec, semantics=semantics))  # type: ignore[arg-type]
        snap = start(c).snapshot
        result: list[Any] = []
        counted = _lines_run_in_core(lambda: result.append(step(c, snap, "GO")))
        assert len(result[0].snapshot.configuration) == 3 * n + 2
        return counted

    assert lines(400) < 3 * lines(200)


@pytest.mark.parametrize("semantics", ["scxml", "xstate"])
def test_a_deep_history_restoring_thousands_of_regions_is_linear(semantics: str) -> None:
    """A deep history restoring a state in each of n regions walked the parallel state's n regions for each
    restored state, and looked each up in a list of the others (4,000 regions: 1.2 s a step); twice the
    regions now take about twice the lines of core, not four times."""
    def lines(n: int) -> int:
        spec = state("m", state("c", StateSpec("h", kind="history", history="deep"), StateSpec(
            "p", kind="parallel", children=[state(f"r{i}", state(f"r{i}a"), state(f"r{i}b")) for i in range(n)]),
            transitions=[on("OUT", "o")]), state("o", transitions=[on("BACK", "h")]))
        spec.data = []
        c = build_chart(ChartSpec(spec, semantics=semantics))  # type: ignore[arg-type]
        snap = step(c, start(c).snapshot, "OUT").snapshot
        result: list[Any] = []
        counted = _lines_run_in_core(lambda: result.append(step(c, snap, "BACK")))
        assert len(result[0].snapshot.configuration) == 2 * n + 3
        return counted

    assert lines(400) < 3 * lines(200)


@pytest.mark.parametrize("kind", ["deep", "shallow"])
def test_leaving_thousands_of_regions_with_a_history_each_is_linear(kind: str) -> None:
    """Each history recorded read the whole configuration again: n regions with a history each took n * n
    steps to leave (4,000 deep histories: 1.9 s); twice the regions now take about twice the lines of core."""
    def lines(n: int) -> int:
        c = chart(state("m", state("c", StateSpec("p", kind="parallel", children=[
            state(f"r{i}", state(f"r{i}a"), state(f"r{i}b"), StateSpec(f"h{i}", kind="history", history=kind))
            for i in range(n)]), transitions=[on("OUT", "o")]), state("o")))
        snap = start(c).snapshot
        result: list[Any] = []
        counted = _lines_run_in_core(lambda: result.append(step(c, snap, "OUT")))
        assert result[0].snapshot.history["h7"] == ("r7a",)
        return counted

    assert lines(400) < 3 * lines(200)


@pytest.mark.parametrize("semantics", ["scxml", "xstate"])
def test_thousands_of_regions_reaching_their_final_states_in_one_step_is_linear(semantics: str) -> None:
    """n regions entering their final states in one microstep raise n done events: each event's selection
    walked the whole configuration (and the active tree, under XState's rules), and each final state
    entered asked every region whether it was final (4,000 regions: 10.6 s for the step under SCXML's
    rules, more under XState's); twice the regions now take about twice the lines of core."""
    def lines(n: int) -> int:
        spec = state("m", state("i", transitions=[on("GO", "p")]), StateSpec("p", kind="parallel", children=[
            state(f"r{i}", state(f"r{i}a", transitions=[on("GO", f"r{i}f")]), StateSpec(f"r{i}f", kind="final"))
            for i in range(n)], transitions=[on("done.state.p", "o")]), state("o"))
        spec.data = []
        c = build_chart(ChartSpec(spec, semantics=semantics))  # type: ignore[arg-type]
        snap = step(c, start(c).snapshot, "GO").snapshot
        result: list[Any] = []
        counted = _lines_run_in_core(lambda: result.append(step(c, snap, "GO")))
        assert result[0].snapshot.configuration[-1] == "o"  # every region's done event, then the parallel's
        return counted

    assert lines(400) < 3 * lines(200)


def test_a_wildcard_transition_above_thousands_of_regions_is_listed_once_per_event() -> None:
    """A targetless ``*`` transition on the root is a candidate of every atomic state: it was listed for each
    of the n regions for each of their n done events (1,000 regions: 2 s a step); its atomic states now
    come as one run, listed once when no guard is involved, so twice the regions take about twice the lines
    of core."""
    def lines(n: int) -> int:
        spec = state("m", state("i", transitions=[on("GO", "p")]), StateSpec("p", kind="parallel", children=[
            state(f"r{i}", state(f"r{i}a", transitions=[on("GO", f"r{i}f")]), StateSpec(f"r{i}f", kind="final"))
            for i in range(n)]), transitions=[on("*")])
        c = chart(spec)
        snap = step(c, start(c).snapshot, "GO").snapshot
        result: list[Any] = []
        counted = _lines_run_in_core(lambda: result.append(step(c, snap, "GO")))
        assert len(result[0].transitions) == 2 * n + 1  # GO in each region, * for each done event
        return counted

    assert lines(400) < 3 * lines(200)


def test_cancels_among_many_pending_sends_keep_the_pending_list_as_it_was() -> None:
    """Past a few pending sends a cancel finds them through an index (Run.pending_at) instead of looking
    through the list (a loop sending and cancelling 16,000 times took 1 s, 0.09 s now: C-level list scans,
    which no count of lines sees); what stays pending, in order and with repeated ids, is unchanged."""
    actions: list[str] = []
    expected: list[str] = []
    for i in range(24):
        actions.append(f"{{send: {{event: {{type: PING}}, delay: 1h, id: s{i % 5}}}}}")
        expected.append(f"s{i % 5}")
    for kind, sid in [("cancel", "s1"), ("send", "s1"), ("cancel", "nope"), ("cancel", "s3"), ("send", "s3"),
                      ("send", "s1"), ("cancel", "s1")]:
        if kind == "cancel":
            actions.append(f"{{cancel: {sid}}}")
            expected = [p for p in expected if p != sid]
        else:
            actions.append(f"{{send: {{event: {{type: PING}}, delay: 1h, id: {sid}}}}}")
            expected.append(sid)
    document = "id: m\ninitial: a\nstates:\n  a: {on: {GO: b}}\n  b:\n    on: {STOP: c}\n    entry:\n" + "".join(
        f"      - {a}\n" for a in actions) + "  c: {type: final}\n"
    from interlock.frontends.loader import load_machine

    c = load_machine(document)
    snap = step(c, start(c).snapshot, "GO").snapshot
    assert list(snap.pending) == expected
    done = step(c, snap, "STOP")  # the machine ends: every pending send is cancelled
    assert done.snapshot.pending == ()
    assert [e.sendid for e in done.effects if type(e) is CancelEffect] == expected  # one per entry, as before


def test_each_configuration_a_step_reaches_is_one_object() -> None:
    """Memo keys hold configurations; a plan's configuration equal to, but not the same object as, the one
    a key was made with was compared state by state at each lookup (a region toggling eventlessly 2,000
    times beside 4,000 idle regions: 0.3 s, 0.02 s now; a C-level comparison no count of lines sees). Each
    configuration is one object now (chart.canonical); chart.config_ids is bounded as the other tables."""
    from interlock.core.run import config_of

    c = chart(state("m", StateSpec("p", kind="parallel", children=[
        state("t", state("a", transitions=[on("T", "b")]), state("b", transitions=[on("T", "a")])),
        state("idle", state("x"), state("y"))])))
    snap = start(c).snapshot
    reached = [config_of(c, snap.configuration)]
    for _ in range(4):
        snap = step(c, snap, "T").snapshot
        reached.append(config_of(c, snap.configuration))
    plans = [v for k, v in c.memo.items() if type(k) is tuple and k[0] in ("plan", "plan-initial")]
    configs = reached + [p.new_config for p in plans]
    assert len(set(configs)) == 2
    assert len({id(x) for x in configs}) == 2


def test_each_entry_order_a_step_reaches_is_one_object() -> None:
    """Under XState's rules memo keys hold the configuration in entry order: a region toggling between two
    states made a new, equal order each time, compared id by id at each lookup, and a tuple hashes all its
    ids at each lookup (a region toggling eventlessly 20,000 times beside 6,000 idle regions: 3.1 s, 0.18 s
    now; C-level work no count of lines sees). Each order is one object now (chart.canonical_order), its hash
    computed once (chart.Order), and it pickles and copies as the plain tuple (a hash does not travel);
    snapshots hold plain tuples."""
    import pickle

    from interlock.frontends.document import load_document

    loop = {"guard": "n < 10", "actions": [{"assign": {"n": "n + 1"}}]}
    c = load_document({"id": "m", "type": "parallel", "context": {"n": 0}, "states": {
        "t": {"initial": "w", "states": {"w": {"on": {"GO": "a"}}, "a": {"always": [{**loop, "target": "b"}]},
                                         "b": {"always": [{**loop, "target": "a"}]}}},
        "idle": {"initial": "x", "states": {"x": {"on": {"E": "y"}}, "y": {}}}}})
    snap = step(c, start(c).snapshot, "GO").snapshot
    assert snap.context["n"] == 10
    orders: list[tuple[str, ...]] = []
    for key, value in list(c.memo.items()):
        if type(key) is tuple and key[0] in ("plan", "plan-initial"):
            orders.extend(value.reordered.values())  # the orders microsteps made
    assert len(orders) > 3
    assert len({id(o) for o in orders}) == len(set(orders)) == 3  # w, a or b last
    from interlock.core.chart import Order

    order = snap.configuration
    assert type(order) is tuple  # snapshots hold plain tuples: orjson, for one, refuses tuple subclasses
    inner = [o for o in orders if type(o) is Order]
    assert inner and all(hash(o) == hash(tuple(o)) and o == tuple(o) for o in inner)
    assert type(pickle.loads(pickle.dumps(inner[0]))) is tuple and type(copy.copy(inner[0])) is tuple
    assert step(c, Snapshot.from_json(json.loads(json.dumps(snap.to_json()))), "E").snapshot.configuration == (
        *(i for i in order if i != "m.idle.x"), "m.idle.y")
