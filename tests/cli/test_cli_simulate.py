"""``interlock simulate`` on real files: scripted runs with timers, interactive input, bad input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Invoke = Callable[..., Result]

SCRIPT = """\
- {event: ADD, data: {sku: A, price: 10}}
- CHECKOUT
- PACKED
- {wait: 31s}
- PAY            # too late: the order was cancelled at t=30s
"""


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_a_script_with_a_timer_prints_each_step(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "late.yaml"
    script.write_text(SCRIPT, encoding="utf-8")
    result = cli("simulate", str(order_file), "--events", str(script))
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert lines[:4] == ["t=0s start", "  state  cart", "  data   + items: []", "  data   + total: 0"]
    assert "t=0s ADD {\"sku\": \"A\", \"price\": 10}" in lines
    assert "  data   ~ items: [] -> [\"A\"]" in lines
    assert "  data   ~ total: 0 -> 10" in lines
    assert "  cart --CHECKOUT [total > 0]--> checkout" in lines
    assert "  state  checkout > payment > waiting | checkout > shipping > packing" in lines
    assert "  effect send PAYMENT_TIMEOUT to itself in 30s (id pay_timer)" in lines
    # the wait fires the timer at its due time, not at the end of the wait
    wait = lines.index("wait 31s: t=0s -> t=31s, 1 step(s)")
    assert lines[wait + 1] == "t=30s PAYMENT_TIMEOUT (timer)"
    assert lines[wait + 2] == "  checkout --PAYMENT_TIMEOUT--> cancelled"
    assert "  effect log timeout: 10" in lines
    # a done machine takes no more events
    assert lines[-2:] == ["t=31s PAY: not sent, the session is done", "end t=31s, done, in cancelled"]


def test_cancelling_the_timer_keeps_the_order_alive(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "paid.json"
    script.write_text('[{"event": "ADD", "data": {"sku": "A", "price": 5}}, "CHECKOUT", '
                      '{"wait": "10s"}, "PAY", {"wait": "1m"}, "PACKED"]', encoding="utf-8")
    result = cli("simulate", str(order_file), "-e", str(script))
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert "  effect cancel delayed send pay_timer" in lines
    assert "PAYMENT_TIMEOUT (timer)" not in result.stdout
    assert "  checkout --done.state.checkout--> complete" in lines
    assert lines[-1] == "end t=1m10s, done, in complete"


def test_an_ignored_event_says_so(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("- CHECKOUT\n", encoding="utf-8")  # guarded: the cart is empty
    result = cli("simulate", str(order_file), "-e", str(script))
    assert "  ignored: no enabled transition" in _lines(result.stdout)


def test_initial_data_from_the_command_line(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text("- CHECKOUT\n", encoding="utf-8")
    result = cli("simulate", str(order_file), "-e", str(script), "--data", '{"total": 3}')
    assert result.exit_code == 0, result.output
    assert "  data   + total: 3" in _lines(result.stdout)
    assert "  cart --CHECKOUT [total > 0]--> checkout" in _lines(result.stdout)


def test_interactive_input(cli: Invoke, order_file: Path) -> None:
    typed = "\n".join([
        'ADD {"sku": "B", "price": 3}',
        "ADD {oops",
        "CHECKOUT",
        "state",
        "wait 45s",
        "quit",
        "PAY",  # after quit: never read
    ])
    result = cli("simulate", str(order_file), "--interactive", input=typed)
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert any(line.startswith("error: the data after ADD is not valid JSON") for line in lines)
    assert "timer  PAYMENT_TIMEOUT at t=30s (id pay_timer)" in lines
    assert "t=30s PAYMENT_TIMEOUT (timer)" in lines
    assert "t=45s PAY" not in result.stdout
    assert lines[-1] == "end t=45s, done, in cancelled"


def test_a_malformed_script_lists_each_bad_step(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "bad.yaml"
    script.write_text("- {evnt: PAY}\n- {wait: soon}\n- 42\n- {event: X, wait: 1s}\n", encoding="utf-8")
    result = cli("simulate", str(order_file), "-e", str(script))
    assert result.exit_code == 1
    err = result.stderr
    assert "4 problem(s)" in err
    assert "steps[0]" in err and "unknown key(s) evnt" in err
    assert "steps[1].wait" in err and "'soon' is not a duration" in err
    assert "steps[2]" in err and "expected a step, got 42" in err
    assert "steps[3]" in err and "cannot also send an event" in err
    assert result.stdout == ""


def test_unreadable_inputs_are_clear_errors(cli: Invoke, order_file: Path, tmp_path: Path) -> None:
    missing = cli("simulate", str(order_file), "-e", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 1 and "cannot read events file" in missing.stderr
    not_yaml = tmp_path / "x.yaml"
    not_yaml.write_text("- [unclosed\n", encoding="utf-8")
    broken = cli("simulate", str(order_file), "-e", str(not_yaml))
    assert broken.exit_code == 1 and "line 2, column 1: invalid YAML" in broken.stderr
    bad_data = cli("simulate", str(order_file), "--data", "[1]")
    assert bad_data.exit_code == 2 and "--data must be a JSON object" in bad_data.stderr


def test_a_machine_that_never_settles_is_a_clear_error_not_a_traceback(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "loop.yaml"
    machine.write_text("id: m\ninitial: a\nstates:\n  a: {always: {target: b}}\n  b: {always: {target: a}}\n",
                       encoding="utf-8")
    result = cli("simulate", str(machine))  # the fixture lets exceptions through: a traceback fails here
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the machine cannot go on: StepLimitError: chart 'm@1' took more "
                                    "than 100000 transitions")
    assert "Traceback" not in result.stderr


def test_a_step_that_fails_after_the_start_is_reported_the_same_way(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "later.yaml"
    machine.write_text("id: m\ninitial: idle\nstates:\n  idle: {on: {GO: a}}\n"
                       "  a: {always: {target: b}}\n  b: {always: {target: a}}\n", encoding="utf-8")
    script = tmp_path / "go.yaml"
    script.write_text("- GO\n", encoding="utf-8")
    result = cli("simulate", str(machine), "--events", str(script))
    assert result.exit_code == 1
    assert "t=0s start" in result.stdout
    assert result.stderr.startswith("error: the machine cannot go on: StepLimitError:")


def test_an_unexpected_exception_is_one_line_with_a_hint(cli: Invoke, tmp_path: Path) -> None:
    # trusted Python data whose repr fails: printing the context raises something that is not ours
    machine = tmp_path / "odd.scxml"
    machine.write_text(
        '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a" datamodel="python">\n'
        "  <datamodel><data id=\"x\" expr=\"type('Odd', (), {'__repr__': lambda self: 1 / 0})()\"/></datamodel>\n"
        '  <state id="a"/>\n</scxml>\n', encoding="utf-8")
    result = cli("simulate", str(machine))
    assert result.exit_code == 1
    assert _lines(result.stderr) == [
        "error: internal error: ZeroDivisionError: division by zero",
        "  hint: this is probably a bug in interlock; please report it with the machine file and the events"]


PAY = """\
id: pay
initial: idle
states:
  idle:
    on:
      PAY: {guard: "event.amount > 10", target: paid}
  paid: {}
"""


def test_a_guard_that_fails_is_shown_under_its_step_with_the_xstate_hint(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "pay.yaml"
    machine.write_text(PAY, encoding="utf-8")
    script = tmp_path / "s.yaml"
    script.write_text("- {event: PAY, data: {amt: 20}}\n- {event: PAY, data: {data: {amount: 20}}}\n"
                      "- {event: PAY, data: {amount: 20}}\n", encoding="utf-8")
    result = cli("simulate", str(machine), "-e", str(script))
    lines = _lines(result.stdout)
    error = ("  error  error.execution: guard 'event.amount > 10': EvaluationError: 'event.amount > 10': the "
             "event 'PAY' has no field or data key 'amount'")
    first = lines.index('t=0s PAY {"amt": 20}')
    assert lines[first:first + 3] == ['t=0s PAY {"amt": 20}',
                                                  "  ignored: no enabled transition (a guard failed: see the error "
                                      "below)", error]
    second = lines.index('t=0s PAY {"data": {"amount": 20}}')
    assert lines[second + 2] == error
    assert lines[second + 3].startswith("  error  hint: the event's fields are under 'data' because it was "
                                        "sent as {'type': NAME, 'data': {...}} (an XState habit)")
    assert lines[-2:] == ["  state  paid", "end t=0s, active, in paid"]
    assert result.stderr == ""  # shown once, not logged again


ORDER_WITH_SERVICE = """\
id: order
initial: charging
context: {receipt: null, error: null}
states:
  charging:
    invoke:
      src: charge
      input: {amount: 10}
      onDone: {target: paid, actions: {assign: {receipt: event.data}}}
      onError: {target: failed, actions: {assign: {error: event.data.error}}}
  failed: {on: {RETRY: charging}}
  paid: {type: final}
"""


def test_a_scenario_answers_the_services_a_machine_invokes(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "order.yaml"
    machine.write_text(ORDER_WITH_SERVICE, encoding="utf-8")
    script = tmp_path / "s.yaml"
    script.write_text("services:\n  charge: [{error: card declined, type: CardDeclined}, {result: {id: r-1}}]\n"
                      "steps: [RETRY]\n", encoding="utf-8")
    result = cli("simulate", str(machine), "-e", str(script))
    assert result.exit_code == 0, result.stderr
    lines = _lines(result.stdout)
    assert '  data   ~ error: null -> "CardDeclined"' in lines
    assert '  data   ~ receipt: null -> {"id": "r-1"}' in lines
    assert lines[-1] == "end t=0s, done, in paid"


def test_a_service_the_scenario_does_not_answer_is_named(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "order.yaml"
    machine.write_text(ORDER_WITH_SERVICE, encoding="utf-8")
    result = cli("simulate", str(machine))
    assert result.exit_code == 1
    assert _lines(result.stderr) == [
        "error: the machine invokes service 'charge' (invoked in order.charging), which a simulation cannot "
        "run: a machine file only names its services",
        "  hint: say what each answers in an events file (--events): services: {charge: {result: ...}} or "
        "{charge: {error: MESSAGE}} (see docs/cli.md, simulate)"]


def test_a_malformed_services_section_lists_each_problem(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "order.yaml"
    machine.write_text(ORDER_WITH_SERVICE, encoding="utf-8")
    script = tmp_path / "s.yaml"
    script.write_text("services:\n  charge: [{result: 1, error: x}, 5]\nsteps: []\n", encoding="utf-8")
    result = cli("simulate", str(machine), "-e", str(script))
    assert result.exit_code == 1
    assert "services.charge[0]: an answer has either 'result' or 'error'" in result.stderr
    assert "services.charge[1]: expected an answer, got 5" in result.stderr


def test_a_failing_on_done_guard_is_shown_as_written(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "order.yaml"
    machine.write_text(ORDER_WITH_SERVICE.replace("onDone: {target: paid,",
                                                  "onDone: {guard: 'event.data.total > 0', target: paid,"),
                       encoding="utf-8")
    script = tmp_path / "s.yaml"
    script.write_text("services: {charge: {result: {id: r-1}}}\nsteps: []\n", encoding="utf-8")
    lines = _lines(cli("simulate", str(machine), "-e", str(script)).stdout)
    [error] = [line for line in lines if line.startswith("  error")]
    assert error.startswith("  error  error.execution: guard 'event.data.total > 0': ")
