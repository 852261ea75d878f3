"""The ``interlock`` command line (console script ``interlock = interlock.cli.main:app``)."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer

from interlock.cli.db import app as db_app
from interlock.cli.demo import demo
from interlock.cli.diagram import diagram
from interlock.cli.keys import app as keys_app
from interlock.cli.remote_commands import history, instances, machines, send, show, versions, wait
from interlock.cli.remote_tail import tail
from interlock.cli.serve import serve
from interlock.cli.simulate import simulate
from interlock.cli.validate import validate
from interlock.cli.worker import worker

app = typer.Typer(
    name="interlock",
    help="Interlock: statecharts as a backend. Validate, simulate and draw machines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(validate)
app.command()(simulate)
app.command()(diagram)
app.command()(demo)
app.command()(worker)
app.command()(serve)
app.add_typer(db_app, name="db", help="Database schema: interlock db upgrade URL.")
app.add_typer(keys_app, name="keys", help="API keys: interlock keys create --admin --db URL.")
# against a running server (--url / INTERLOCK_URL, --key / INTERLOCK_KEY)
for _command in (machines, versions, instances, show, wait, send, history, tail):
    app.command(rich_help_panel="Against a server")(_command)


def _mount_conformance() -> None:
    # The conformance runner is its own module (another part of the project); mount it when present
    # so the rest of the CLI never depends on it being installed.
    if importlib.util.find_spec("interlock.cli.conformance") is None:
        return
    from interlock.cli.conformance import app as conformance_app

    app.add_typer(conformance_app, name="conformance", help="Run conformance suites (W3C SCXML).")


_mount_conformance()


def _version(value: bool) -> None:
    if value:
        from interlock import __version__

        typer.echo(f"interlock {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    _version_flag: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Interlock: statecharts as a backend. Validate, simulate and draw machines."""
