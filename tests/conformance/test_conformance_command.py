"""``interlock conformance scxml``: one JSON line per test document, a summary, exit 0 even on failures."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from interlock.cli.conformance import app

PASSING = '<scxml initial="s"><state id="s"><transition target="pass"/></state><final id="pass"/></scxml>'
FAILING = '<scxml initial="s"><state id="s"><transition target="fail"/></state><final id="fail"/></scxml>'
HANGING = '<scxml initial="s"><state id="s"/><final id="pass"/></scxml>'


def test_runs_each_test_document_and_prints_a_summary(tmp_path: Path) -> None:
    optional = tmp_path / "optional"
    optional.mkdir()
    (tmp_path / "test1.scxml").write_text(PASSING)
    (tmp_path / "test2.scxml").write_text(FAILING)
    (tmp_path / "test2sub1.scxml").write_text(FAILING)  # a helper, not a test
    (optional / "test3.scxml").write_text(HANGING)
    (optional / "test4.scxml").write_text("<scxml><state id='s'>")
    result = CliRunner().invoke(app, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    *lines, summary = result.output.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["test"], r["group"], r["result"]) for r in records] == [
        ("test1", "mandatory", "pass"), ("test2", "mandatory", "fail"),
        ("test3", "optional", "fail"), ("test4", "optional", "error")]
    assert "not well-formed" in records[3]["detail"]
    assert summary == "1 passed, 3 failed"


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [str(tmp_path / "absent")])
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_the_same_documents_run_on_the_durable_runtime(tmp_path: Path) -> None:
    (tmp_path / "test1.scxml").write_text(PASSING)
    (tmp_path / "test2.scxml").write_text(FAILING)
    (tmp_path / "test3.scxml").write_text(HANGING)
    result = CliRunner().invoke(app, ["--runtime", "durable", str(tmp_path)])
    assert result.exit_code == 0, result.output
    *lines, summary = result.output.strip().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["test"], r["result"]) for r in records] == [("test1", "pass"), ("test2", "fail"), ("test3", "fail")]
    assert records[2]["detail"] == "active in ['s']"
    assert summary == "1 passed, 2 failed"


def test_an_unknown_runtime_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--runtime", "cloud", str(tmp_path)])
    assert result.exit_code == 2 and "--runtime must be 'memory' or 'durable'" in result.output
