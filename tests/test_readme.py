"""The README's examples run as written: its Python blocks in order, as one program, and its offline
`interlock` command lines on the repository's example files (through the real command)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interlock.cli.main import app as cli

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 3
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)  # the durable example writes orders.db in the working directory
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["order"].done  # type: ignore[attr-defined]
    assert namespace["result"].instance.context == {"items": ["book"], "total": 12}  # type: ignore[attr-defined]


def _readme_commands() -> list[list[str]]:
    """The README's `interlock` command lines that read only the repository's examples (not interactive)."""
    commands = []
    for block in re.findall(r"```console\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line.split("#")[0].removeprefix("$ "))
            if words[:1] == [".venv/bin/interlock"] and words[1] in {"validate", "simulate", "diagram"} \
                    and "--interactive" not in words:
                commands.append(words[1:])
    return commands


def _expand(word: str) -> list[str]:
    """A shell glob, as the shell would expand it."""
    return [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob(word))] if "*" in word else [word]


def test_readme_shows_the_offline_commands() -> None:
    assert {words[0] for words in _readme_commands()} == {"validate", "simulate", "diagram"}


@pytest.mark.parametrize("words", _readme_commands(), ids=" ".join)
def test_readme_command_runs(words: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, [arg for word in words for arg in _expand(word)])
    assert result.exit_code == 0, result.output
    assert result.output.strip()
