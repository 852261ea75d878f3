"""``interlock validate``: load machine files and report every problem, or a summary of each machine."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from interlock.cli.console import make_console, problem_lines
from interlock.cli.load import LoadFailure, load_chart
from interlock.core.chart import Chart


def validate(
    files: Annotated[list[Path], typer.Argument(help="Machine files: .yaml, .yml, .json or .scxml.")],
) -> None:
    """Check machine definitions; exit 1 if any is invalid."""
    out = make_console()
    invalid = 0
    for path in files:
        try:
            chart = load_chart(path)
        except LoadFailure as exc:
            invalid += 1
            _print_failure(out, exc)
            continue
        out.print(f"[bold green]OK[/]      {escape(str(path))}  {escape(summary(chart))}")
        for line in problem_lines(chart.warnings):
            out.print(line)
    if len(files) > 1:
        out.print(f"{len(files) - invalid} valid, {invalid} invalid")
    if invalid:
        raise typer.Exit(1)


def summary(chart: Chart) -> str:
    """``order@1: 7 states (2 parallel, 1 final), 9 transitions, 0 warnings``."""
    kinds = Counter(node.kind for node in chart.walk() if node is not chart.root)
    extra = [f"{kinds[k]} {k}" for k in ("parallel", "final", "history") if kinds[k]]
    states = sum(kinds.values())
    detail = f" ({', '.join(extra)})" if extra else ""
    warnings = len(chart.warnings)
    return (f"{chart.key}: {states} states{detail}, {len(chart.transitions)} transitions, "
            f"{warnings} warning{'s' if warnings != 1 else ''}")


def _print_failure(out: Console, exc: LoadFailure) -> None:
    if exc.error is None:
        out.print(f"[bold red]INVALID[/] {escape(str(exc.path))}  {escape(str(exc))}")
        return
    count = len(exc.error.problems)
    out.print(f"[bold red]INVALID[/] {escape(str(exc.path))}  {count} problem{'s' if count != 1 else ''}")
    for line in problem_lines(exc.error.problems):
        out.print(line)
