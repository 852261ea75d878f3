"""The CLI on YAML/JSON machine documents (XState shape) and on the repository's demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Invoke = Callable[..., Result]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

LIGHT = """\
id: light
initial: green
context: {cycles: 0}
states:
  green:  {on: {TIMER: yellow}}
  yellow: {after: {2s: red}}
  red:
    on:
      TIMER: {target: green, actions: {assign: {cycles: "cycles + 1"}}}
"""


def test_a_yaml_machine_with_an_after_timer(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "light.yaml"
    machine.write_text(LIGHT, encoding="utf-8")
    script = tmp_path / "run.yaml"
    script.write_text("- TIMER\n- {wait: 5s}\n- TIMER\n", encoding="utf-8")
    result = cli("simulate", str(machine), "-e", str(script))
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert "  effect start timer of yellow: fires in 2s" in lines
    assert "t=2s after 2s (timer of yellow)" in lines
    assert "  yellow --after 2s--> red" in lines
    assert "  data   ~ cycles: 0 -> 1" in lines
    assert lines[-1] == "end t=5s, active, in green"


def test_a_json_machine_validates_and_draws(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "light.json"
    machine.write_text(json.dumps({"id": "light", "initial": "on",
                                   "states": {"on": {"on": {"FLIP": "off"}},
                                              "off": {"on": {"FLIP": "on"}}}}), encoding="utf-8")
    assert cli("validate", str(machine)).exit_code == 0
    mermaid = cli("diagram", str(machine)).stdout
    assert "[*] --> on" in mermaid and "on --> off : FLIP" in mermaid and "off --> on : FLIP" in mermaid


def test_document_problems_are_reported_with_their_paths(cli: Invoke, tmp_path: Path) -> None:
    machine = tmp_path / "light.yaml"
    machine.write_text(LIGHT.replace("TIMER: yellow", "TIMER: yelow"), encoding="utf-8")
    result = cli("validate", str(machine))
    assert result.exit_code == 1
    assert "states.green.on.TIMER" in result.stdout and "'yelow'" in result.stdout


def test_the_demo_example_is_valid_and_drawn_with_short_names(cli: Invoke) -> None:
    machine = EXAMPLES / "demo_order.yaml"
    result = cli("validate", str(machine))
    assert result.exit_code == 0, result.output
    dot = cli("diagram", str(machine), "-f", "dot").stdout
    assert 'label="checkout  (parallel)"' in dot
    assert '"demo_order.checkout.payment.waiting" [label="waiting"];' in dot
    assert 'label="after 30m"' in dot
    mermaid = cli("diagram", str(machine)).stdout
    assert "waiting --> paid : PAY [event.amount >= total]" in mermaid


def test_demo_plays_both_scenarios(cli: Invoke) -> None:
    result = cli("demo", "--examples", str(EXAMPLES))
    assert result.exit_code == 0, result.output
    out = [line.rstrip() for line in result.stdout.splitlines()]
    assert "  effect start timer of checkout.payment.waiting: fires in 30m" in out
    assert "  effect cancel timer of checkout.payment.waiting" in out
    # onDone, labelled without the machine id and the guard that only restates the event name
    assert "  checkout --done.state.checkout--> complete" in out
    assert "order-1 ends at t=2h10m: done in complete" in out
    assert "t=30m after 30m (timer of checkout.payment.waiting)" in out
    assert "order-2 ends at t=45m: done in expired" in out


def test_demo_without_its_examples_says_where_it_looked(cli: Invoke, tmp_path: Path) -> None:
    result = cli("demo", "--examples", str(tmp_path))
    assert result.exit_code == 1
    assert "demo_order.yaml does not exist" in result.stderr


def test_version(cli: Invoke) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("interlock ")


def test_the_demo_hint_names_the_command_that_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.cli.demo import own_command

    script = tmp_path / ".venv" / "bin" / "interlock"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert own_command(str(script)) == ".venv/bin/interlock"  # make run: the venv is not activated
    monkeypatch.setenv("PATH", str(script.parent))
    assert own_command(str(script)) == "interlock"  # activated: the name on the PATH is this program
    assert own_command("/usr/bin/python3") == "interlock"  # started another way


def test_make_run_prints_a_hint_that_runs(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    program = Path(sys.executable).parent / "interlock"
    if not program.exists():
        pytest.skip("the interlock script is not installed beside this Python")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(program), "demo", "--examples", str(EXAMPLES)], capture_output=True,
                            text=True, env=env, cwd=tmp_path, check=True)
    hint = [line.strip() for line in result.stdout.splitlines() if "simulate" in line][-1]
    assert hint.split()[0] == str(program)  # outside the working directory: the full path
    assert subprocess.run([hint.split()[0], "--version"], capture_output=True, env=env).returncode == 0
