"""``interlock diagram``: draw a machine as Mermaid, Graphviz DOT or SVG, entirely offline."""

from __future__ import annotations

import shutil
import subprocess
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from interlock.cli.console import fail, make_console
from interlock.cli.load import chart_or_exit
from interlock.cli.render_dot import render_dot
from interlock.cli.render_mermaid import render_mermaid
from interlock.core.chart import Chart


class Format(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"


_BY_SUFFIX = {".mmd": Format.mermaid, ".mermaid": Format.mermaid,
              ".dot": Format.dot, ".gv": Format.dot, ".svg": Format.svg}


def diagram(
    file: Annotated[Path, typer.Argument(help="The machine file to draw.")],
    fmt: Annotated[Format | None, typer.Option(
        "--format", "-f",
        help="mermaid (default), dot, or svg (needs Graphviz's `dot`). Guessed from -o's suffix if unset.",
    )] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """Draw a machine: hierarchy, parallel regions, initial/final/history states, labelled transitions."""
    chosen = fmt or (_BY_SUFFIX.get(output.suffix.lower()) if output else None) or Format.mermaid
    chart = chart_or_exit(file)
    text = render(chart, chosen)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", hint="check the directory exists")
    make_console(stderr=True).print(f"wrote {output} ({chosen.value}, {len(chart.states)} states)")


def render(chart: Chart, fmt: Format) -> str:
    """The diagram text in ``fmt``."""
    if fmt is Format.mermaid:
        return render_mermaid(chart)
    if fmt is Format.dot:
        return render_dot(chart)
    return dot_to_svg(render_dot(chart))


def dot_to_svg(dot_text: str) -> str:
    """Lay out DOT with the Graphviz ``dot`` program; a clear error if it is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        fail("the svg format needs Graphviz's `dot` program, which is not on PATH",
             hint="install Graphviz (apt install graphviz / brew install graphviz), "
                  "or use --format dot or --format mermaid")
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_text, capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"running {dot} failed: {exc}")
    if done.returncode != 0:
        fail(f"Graphviz failed (exit {done.returncode}): {done.stderr.strip()}",
             hint="use --format dot to see the input it was given")
    return done.stdout
