"""Simulation input parsing: durations, script documents and interactive lines."""

from __future__ import annotations

import pytest

from interlock.cli.script import (
    ScriptError,
    SendStep,
    WaitStep,
    parse_duration,
    parse_line,
    parse_script,
)


@pytest.mark.parametrize(("text", "seconds"), [
    ("5s", 5.0), ("250ms", 0.25), ("2m", 120.0), ("1.5h", 5400.0), ("3", 3.0), (7, 7.0), (" 10 s ", 10.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", "5 parsecs", True, -3])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_script_with_initial_data() -> None:
    script = parse_script({"data": {"total": 1}, "steps": ["GO", {"wait": "1s"}]}, "s.yaml")
    assert script.data == {"total": 1}
    assert script.steps == (SendStep("GO"), WaitStep(1.0))


def test_a_script_reports_every_problem() -> None:
    with pytest.raises(ScriptError) as caught:
        parse_script({"stepz": [], "data": 3}, "s.yaml")
    assert [p.path for p in caught.value.problems] == ["stepz", "data"]


def test_a_string_step_is_read_as_an_interactive_line_not_as_one_event_name() -> None:
    script = parse_script(['PAY {"amount": 10}', "wait 5s", "CHECKOUT"], "s.yaml")
    assert script.steps == (SendStep("PAY", {"amount": 10}), WaitStep(5.0), SendStep("CHECKOUT"))
    with pytest.raises(ScriptError) as caught:
        parse_script(["GO", "PAY {amount: 10}"], "s.yaml")
    assert [p.path for p in caught.value.problems] == ["steps[1]"]
    assert "not valid JSON" in caught.value.problems[0].message


@pytest.mark.parametrize(("line", "expected"), [
    ("PAY", SendStep("PAY")),
    ('PAY {"amount": 10}', SendStep("PAY", {"amount": 10})),
    ("order.placed [1, 2]", SendStep("order.placed", [1, 2])),
    ("wait 2m", WaitStep(120.0)),
    ("quit", "quit"),
    ("state", "state"),
    ("   ", None),
    ("# a comment", None),
])
def test_interactive_lines(line: str, expected: object) -> None:
    assert parse_line(line) == expected


def test_interactive_line_errors_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match=r'write e.g. PAY \{"amount": 10\}'):
        parse_line("PAY {amount: 10}")
    with pytest.raises(ValueError, match="not an event name"):
        parse_line("{} x")
