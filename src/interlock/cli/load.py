"""Loading a machine file for a command, turning every way it can fail into a clear message."""

from __future__ import annotations

from pathlib import Path

import typer

from interlock.core.chart import Chart
from interlock.errors import DefinitionError, InterlockError


class LoadFailure(Exception):
    """A machine file could not be loaded; ``problems`` is set when the definition itself is invalid."""

    def __init__(self, path: Path, message: str, error: DefinitionError | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.error = error


def load_chart(path: Path) -> Chart:
    """Load and compile one machine file (YAML, JSON or SCXML, chosen by the loader)."""
    # Imported here so `interlock --version` and `--help` work even if a front end is broken.
    from interlock.frontends.loader import load_machine

    try:
        # services are Python code a runtime provides; a file can only name them. The user named this
        # file: an .scxml/.xml one is trusted SCXML, which may read <data src>/<script src> beside it
        scxml = path.suffix.lower() in (".scxml", ".xml")
        return load_machine(path, defer_services=True, format="scxml" if scxml else None, base_dir=path.parent)
    except DefinitionError as exc:
        raise LoadFailure(path, f"{path} is not a valid machine", exc) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadFailure(path, f"cannot read {path}: {exc}") from exc
    except InterlockError as exc:
        raise LoadFailure(path, f"cannot load {path}: {exc}") from exc


def chart_or_exit(path: Path) -> Chart:
    """Load ``path`` for a command that needs one machine; on failure print why and exit 1."""
    from interlock.cli.console import fail, make_console, problem_lines

    try:
        return load_chart(path)
    except LoadFailure as exc:
        if exc.error is None:
            fail(str(exc))
        err = make_console(stderr=True)
        err.print(f"[bold red]error:[/] {exc} ({len(exc.error.problems)} problem(s)):")
        for line in problem_lines(exc.error.problems):
            err.print(line)
        err.print(f"  [dim]run `interlock validate {path}` after fixing them[/]")
        raise typer.Exit(1) from None
