"""``interlock db upgrade URL``: bring a database's schema to this Interlock's newest version."""

from __future__ import annotations

from typing import Annotated

import typer

from interlock.errors import StorageError

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("upgrade")
def upgrade(
    url: Annotated[str, typer.Argument(help="sqlite:///path.db or postgresql://user@host:5432/database")],
) -> None:
    """Apply the schema migrations a database lacks (each in a transaction; safe to run again, and
    processes that start meanwhile wait for it)."""
    from interlock.storage import open_store

    try:
        store = open_store(url)
    except StorageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        typer.echo(f"schema version {store.schema_version()}")
    finally:
        store.close()
