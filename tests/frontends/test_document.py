"""YAML/JSON machine documents: loaded with load_machine, driven with the pure start/step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interlock.core.chart import Chart
from interlock.core.effects import CancelEffect, InvokeEffect, LogEffect, SendEffect
from interlock.core.events import Event
from interlock.core.step import StepResult, start, step
from interlock.frontends.loader import load_machine

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(chart: Chart, *events: Event | str, data: dict[str, Any] | None = None) -> StepResult:
    result = start(chart, data=data)
    for event in events:
        result = step(chart, result.snapshot, event)
    return result


def leaves(result: StepResult, chart: Chart) -> list[str]:
    """The active atomic states (sorted: a document's configuration lists states in the order entered)."""
    return sorted(s for s in result.snapshot.configuration if chart.state(s).kind in ("atomic", "final"))


LIGHT = """
id: light
initial: green
context: {cycles: 0}
states:
  green:
    on:
      TIMER: yellow
  yellow:
    on:
      TIMER: red
  red:
    on:
      TIMER:
        target: green
        actions: {assign: {cycles: "cycles + 1"}}
"""


def test_a_yaml_machine_runs_with_path_ids_and_expression_assignments() -> None:
    chart = load_machine(LIGHT)
    result = run(chart)
    assert result.snapshot.configuration == ("light", "light.green")
    result = run(chart, "TIMER", "TIMER", "TIMER", "TIMER")
    assert result.snapshot.configuration == ("light", "light.yellow")
    assert result.snapshot.context == {"cycles": 1}
    assert chart.warnings == ()


def test_files_load_by_extension_and_text_by_content(tmp_path: Path) -> None:
    (tmp_path / "light.yml").write_text(LIGHT)
    as_json = {"id": "light", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}}
    (tmp_path / "light.json").write_text(json.dumps(as_json))
    assert run(load_machine(tmp_path / "light.yml"), "TIMER").snapshot.configuration[-1] == "light.yellow"
    assert run(load_machine(str(tmp_path / "light.json")), "GO").snapshot.configuration[-1] == "light.b"
    assert run(load_machine(json.dumps(as_json)), "GO").snapshot.configuration[-1] == "light.b"


def test_yaml_keeps_on_yes_and_no_as_strings() -> None:
    chart = load_machine("""
initial: ask
states:
  ask:
    on: {yes: accepted, no: refused, off: refused}
  accepted: {type: final}
  refused: {type: final}
""")
    assert run(chart, "yes").snapshot.configuration == ("machine", "machine.accepted")
    assert run(chart, "off").snapshot.configuration == ("machine", "machine.refused")


def test_targets_resolve_the_way_xstate_does() -> None:
    chart = load_machine("""
id: m
initial: a
states:
  a:
    initial: a1
    states:
      a1:
        on:
          SIBLING: a2
          ID: "#deep"
          ID_PATH: "#bee.b2"
          UNIQUE_KEY: "#b1"
          FULL_ID: "#m.b.b1"
      a2: {}
    on:
      CHILD: .a2
      DOTTED: b.b2
  b:
    id: bee
    initial: b1
    states:
      b1: {}
      b2:
        initial: deeper
        states:
          deeper: {id: deep}
""")
    assert leaves(run(chart, "SIBLING"), chart) == ["m.a.a2"]
    assert leaves(run(chart, "CHILD"), chart) == ["m.a.a2"]
    assert leaves(run(chart, "DOTTED"), chart) == ["deep"]
    assert leaves(run(chart, "ID"), chart) == ["deep"]
    assert leaves(run(chart, "ID_PATH"), chart) == ["deep"]
    # as in XState, a path id starts from the machine id whatever ids the ancestors declare
    assert leaves(run(chart, "UNIQUE_KEY"), chart) == ["m.b.b1"]
    assert leaves(run(chart, "FULL_ID"), chart) == ["m.b.b1"]


def test_guards_are_tried_in_order_and_see_the_event() -> None:
    chart = load_machine("""
id: pay
initial: open
context: {paid: 0, total: 30}
states:
  open:
    on:
      PAY:
        - target: settled
          guard: "paid + event.data.amount >= total"
          actions: {assign: {paid: "paid + event.amount"}}
        - actions: {assign: {paid: "paid + event.amount"}}
  settled: {type: final, output: {paid: paid}}
""")
    result = run(chart, Event("PAY", {"amount": 10}))
    assert (leaves(result, chart), result.snapshot.context["paid"]) == (["pay.open"], 10)
    result = run(chart, Event("PAY", {"amount": 10}), Event("PAY", {"amount": 25}))
    assert result.snapshot.status == "done"
    assert result.snapshot.output == {"paid": 35}


def test_after_schedules_a_delayed_send_on_entry_and_cancels_it_on_exit() -> None:
    chart = load_machine("""
id: t
initial: waiting
delays: {patience: 1.5s}
context: {slow: true}
states:
  waiting:
    after:
      1000: {target: late, guard: slow}
      patience: gone
    on: {ARRIVE: arrived}
  late: {}
  gone: {}
  arrived:
    after: {"slow and 20 or 10": gone}
""", guards={"slow": lambda context, event: context["slow"]})
    first = start(chart)
    sends = [e for e in first.effects if isinstance(e, SendEffect)]
    assert [(s.delay_ms, s.target) for s in sends] == [(1000, None), (1500, None)]
    timer = sends[0].event
    assert step(chart, first.snapshot, timer).snapshot.configuration == ("t", "t.late")
    left = step(chart, first.snapshot, "ARRIVE")
    assert [e.sendid for e in left.effects if isinstance(e, CancelEffect)] == [s.sendid for s in sends]
    assert [e.delay_ms for e in left.effects if isinstance(e, SendEffect)] == [20]


def test_parallel_regions_and_a_state_ondone() -> None:
    chart = load_machine(EXAMPLES / "checkout.yaml")
    result = run(chart, "CARD_OK")
    assert leaves(result, chart) == ["checkout.processing.payment.done", "checkout.processing.shipping.packing"]
    result = run(chart, "CARD_OK", "PACKED")
    assert leaves(result, chart) == ["checkout.complete"]
    assert result.snapshot.output == {"status": "complete"}


def test_invoke_with_input_ondone_and_onerror() -> None:
    chart = load_machine("""
id: order
initial: charging
context: {total: 42, receipt: null, error: null}
states:
  charging:
    invoke:
      id: charge
      src: payments.charge
      input: {amount: total, currency: "'EUR'"}
      onDone: {target: paid, actions: {assign: {receipt: event.data.receipt}}}
      onError: {target: failed, actions: {assign: {error: event.data.message}}}
  paid: {type: final}
  failed: {}
""", services={"payments.charge": lambda task: {"receipt": "r-1"}})
    first = start(chart)
    (invoke,) = [e for e in first.effects if isinstance(e, InvokeEffect)]
    assert (invoke.invokeid, invoke.src, invoke.data) == ("charge", "payments.charge", {"amount": 42, "currency": "EUR"})
    done = Event("done.invoke.charge", {"receipt": "r-1"}, invokeid="charge")
    result = step(chart, first.snapshot, done)
    assert (result.snapshot.status, result.snapshot.context["receipt"]) == ("done", "r-1")
    failed = Event("error.invoke.charge", {"message": "declined"}, invokeid="charge")
    result = step(chart, first.snapshot, failed)
    assert result.snapshot.configuration[-1] == "order.failed"
    assert result.snapshot.context["error"] == "declined"


def test_an_invoke_without_id_gets_the_xstate_default() -> None:
    chart = load_machine("""
id: m
initial: s
states:
  s:
    invoke: {src: worker, onDone: t}
  t: {}
""", defer_services=True)
    first = start(chart)
    (invoke,) = [e for e in first.effects if isinstance(e, InvokeEffect)]
    assert invoke.invokeid == "m.s:invocation[0]"
    done = Event(f"done.invoke.{invoke.invokeid}", None, invokeid=invoke.invokeid)
    assert step(chart, first.snapshot, done).snapshot.configuration == ("m", "m.t")


def test_builtin_actions_raise_send_cancel_log_and_if() -> None:
    chart = load_machine("""
id: m
initial: a
context: {n: 2}
states:
  a:
    entry:
      - {log: "'n is ' + str(n)", label: start}
      - {send: {event: {type: PING, n: "n * 10"}, to: child, id: ping, delay: 5s}}
      - {sendParent: {type: STARTED, n: n}}
      - {cancel: ping}
      - {if: "n > 1", then: {raise: BIG}, else: {raise: SMALL}}
    on:
      BIG: big
      SMALL: small
  big: {}
  small: {}
""")
    result = start(chart)
    assert result.snapshot.configuration == ("m", "m.big")
    logs = [e for e in result.effects if isinstance(e, LogEffect)]
    assert [(log.label, log.value) for log in logs] == [("start", "n is 2")]
    sends = [e for e in result.effects if isinstance(e, SendEffect)]
    assert [(s.target, s.event.name, s.event.data, s.delay_ms) for s in sends] == [
        ("#_child", "PING", {"n": 20}, 5000), ("#_parent", "STARTED", {"n": 2}, 0)]
    assert [e.sendid for e in result.effects if isinstance(e, CancelEffect)] == ["ping"]


def test_history_returns_to_the_last_child() -> None:
    chart = load_machine("""
id: player
initial: on
states:
  on:
    initial: track1
    states:
      track1: {on: {NEXT: track2}}
      track2: {on: {NEXT: track1}}
      last: {type: history, history: deep}
    on: {OFF: off}
  off:
    on: {ON: on.last}
""")
    assert leaves(run(chart, "NEXT", "OFF", "ON"), chart) == ["player.on.track2"]


def test_null_stops_an_event_and_wildcards_come_last() -> None:
    chart = load_machine("""
id: m
initial: outer
context: {seen: []}
states:
  outer:
    initial: inner
    on:
      BLOCKED: elsewhere
      "*": {actions: {assign: {seen: "seen + [event.name]"}}}
      KNOWN: {actions: {assign: {seen: "seen + ['known']"}}}
    states:
      inner:
        on: {BLOCKED: null}
  elsewhere: {}
""")
    result = run(chart, "BLOCKED", "KNOWN", "OTHER")
    assert leaves(result, chart) == ["m.outer.inner"]
    assert result.snapshot.context["seen"] == ["known", "OTHER"]


def test_start_data_overrides_the_context() -> None:
    chart = load_machine(LIGHT)
    assert run(chart, data={"cycles": 7}).snapshot.context == {"cycles": 7}
