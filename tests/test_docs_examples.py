"""The docs' runnable examples run as written: the complete Python example of docs/definitions.md, and the
README's command lines on the repository's own example files (through the real `interlock` command)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interlock.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def _blocks(doc: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / doc).read_text(), flags=re.S)


def test_definitions_python_example_runs() -> None:
    """The first Python block of definitions.md is a whole program (the others show fragments)."""
    namespace: dict[str, object] = {}
    exec(compile(_blocks("docs/definitions.md", "python")[0], "definitions.md", "exec"), namespace)
    assert namespace["result"].snapshot.context["count"] == 1  # type: ignore[attr-defined]


def _readme_commands() -> list[list[str]]:
    """The README's `interlock` command lines that read only the repository's examples."""
    commands = []
    for block in _blocks("README.md", "console"):
        for line in block.splitlines():
            words = shlex.split(line.split("#")[0].removeprefix("$ "))
            if words[:1] == [".venv/bin/interlock"] and words[1] in {"validate", "simulate", "diagram"} \
                    and "--interactive" not in words:
                commands.append(words[1:])
    return commands


def _expand(word: str) -> list[str]:
    """A shell glob, as the shell would expand it."""
    return [str(p.relative_to(ROOT)) for p in sorted(ROOT.glob(word))] if "*" in word else [word]


@pytest.mark.parametrize("words", _readme_commands(), ids=" ".join)
def test_readme_command_runs(words: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, [arg for word in words for arg in _expand(word)])
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def test_readme_lists_the_commands_it_shows() -> None:
    assert {w[0] for w in _readme_commands()} == {"validate", "simulate", "diagram"}
