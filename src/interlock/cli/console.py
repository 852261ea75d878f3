"""Shared output helpers for the CLI: one rich console per command run, and the user-error exit.

A console is made per call (not at import) so it writes to whatever ``sys.stdout`` is at that moment,
which is what typer's test runner and pipes expect.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from interlock.errors import Problem


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps long lines mid-word and does not guess at highlighting."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(message: str, *, hint: str = "", code: int = 1) -> NoReturn:
    """Report a user error on stderr, without a traceback, and exit with ``code``."""
    err = make_console(stderr=True)
    err.print(f"[bold red]error:[/] {escape(message)}")
    if hint:
        err.print(f"  [dim]hint:[/] {escape(hint)}")
    raise typer.Exit(code)


def problem_lines(problems: tuple[Problem, ...] | list[Problem]) -> list[str]:
    """Rich markup lines for problems: the path and message, then the hint on its own line."""
    lines = []
    for p in problems:
        colour = "yellow" if p.severity == "warning" else "red"
        where = f"[bold]{escape(p.path)}[/]: " if p.path else ""
        lines.append(f"  [{colour}]{p.severity}[/] {where}{escape(p.message)}")
        if p.hint:
            lines.append(f"      [dim]hint: {escape(p.hint)}[/]")
    return lines
