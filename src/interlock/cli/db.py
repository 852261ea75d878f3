"""``interlock db upgrade URL``: bring a database's schema to this Interlock's newest version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from interlock.errors import InterlockError, StorageError
from interlock.storage.store import Store

app = typer.Typer(no_args_is_help=True, add_completion=False)


@contextmanager
def opened_store(url: str, *, existing: bool = False) -> Iterator[Store]:
    """The store at ``url`` for a command that works on the database itself (``db``, ``keys``): a store
    that cannot be opened, or a refusal while it is used, is an ``error: ...`` line and exit status 1.
    ``existing``: a SQLite file that is not there is such an error too, not a new empty database (a
    mistyped path listed no keys, exit 0, and left an empty database and its folders behind)."""
    from interlock.storage import open_store
    from interlock.storage.sqlite import sqlite_path

    try:
        if existing and url.startswith("sqlite:") and not Path(sqlite_path(url)).exists():
            raise StorageError(f"no database at {sqlite_path(url)!r} ({url}); check --db (or INTERLOCK_DB)")
        # presize_wal=False: a command commits a row or two; a new WAL of 42 MB would be written for them
        store = open_store(url, presize_wal=False)
    except InterlockError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        yield store
    except (InterlockError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()


@app.command("upgrade")
def upgrade(
    url: Annotated[str, typer.Argument(help="sqlite:///path.db or postgresql://user@host:5432/database")],
) -> None:
    """Apply the schema migrations a database lacks (each in a transaction; safe to run again, and
    processes that start meanwhile wait for it)."""
    with opened_store(url) as store:  # opening it applies what it lacks
        typer.echo(f"schema version {store.schema_version()}")
