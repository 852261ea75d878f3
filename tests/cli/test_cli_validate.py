"""``interlock validate`` on real files: summaries for valid machines, every problem for invalid ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Invoke = Callable[..., Result]


def test_a_valid_machine_prints_ok_and_a_summary(cli: Invoke, order_file: Path) -> None:
    result = cli("validate", str(order_file))
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
    assert "order@1: 11 states (1 parallel, 4 final, 1 history), 7 transitions, 0 warnings" in result.stdout


def test_an_invalid_machine_lists_every_problem_with_path_and_hint(cli: Invoke, broken_file: Path) -> None:
    result = cli("validate", str(broken_file))
    assert result.exit_code == 1
    out = result.stdout
    assert "INVALID" in out and str(broken_file) in out
    assert "unknown target state 'yelow'" in out
    assert "did you mean 'yellow'" in out
    assert "duplicate state id 'yellow'" in out
    assert "Traceback" not in result.output


def test_several_files_are_all_checked_and_any_failure_fails(
        cli: Invoke, order_file: Path, broken_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.scxml"
    result = cli("validate", str(order_file), str(broken_file), str(missing))
    assert result.exit_code == 1
    assert result.stdout.count("INVALID") == 2
    assert str(missing) in result.stdout
    assert "1 valid, 2 invalid" in result.stdout


def test_warnings_are_shown_but_do_not_fail(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "island.scxml"
    path.write_text('<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" initial="a">'
                    '<state id="a"/><state id="island"/></scxml>', encoding="utf-8")
    result = cli("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "1 warning" in result.stdout
    assert "state 'island' can never be entered" in result.stdout


def test_no_file_is_a_usage_error(cli: Invoke) -> None:
    result = cli("validate")
    assert result.exit_code == 2


def test_services_named_by_a_document_are_left_to_the_runtime(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "ship.yaml"
    path.write_text("""
id: ship
initial: booking
states:
  booking:
    invoke: {src: book_courier, onDone: booked}
  booked: {type: final}
""")
    result = cli("validate", str(path))
    assert result.exit_code == 0, result.output
    assert "OK" in result.stdout
