"""``interlock conformance scxml PATH...``: run W3C SCXML conformance documents, one JSON line each."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interlock.conformance.scxml import DEFAULT_BUDGET, run_suite

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("scxml")
def scxml(
    paths: Annotated[list[Path], typer.Argument(
        help="Test documents or folders (files named *sub* and *.txt are helpers, not tests).")],
    budget: Annotated[float, typer.Option(
        help="Wall-clock seconds each test may take.", min=0.1)] = DEFAULT_BUDGET,
    runtime: Annotated[str, typer.Option(
        help="'memory' (the in-memory runner) or 'durable' (the durable runtime on a temporary SQLite "
             "file).")] = "memory",
) -> None:
    """Run SCXML tests; pass = the machine ends in <final id="pass">. Exits 0 even if tests fail."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        typer.echo(f"error: no such file or folder: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    if runtime not in ("memory", "durable"):
        typer.echo(f"error: --runtime must be 'memory' or 'durable', not {runtime!r}", err=True)
        raise typer.Exit(2)
    run_suite(paths, budget=budget, runtime="durable" if runtime == "durable" else "memory")
