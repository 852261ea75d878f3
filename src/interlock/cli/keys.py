"""``interlock keys create|list|revoke --db URL``: API keys, straight in a server's database (docs/auth.md).

The first admin key of a new deployment comes from here (``interlock keys create --admin --db URL``);
later keys may also come from ``POST /v1/keys``. ``create`` prints the new key as its last line: the
database keeps only its digest, so it is shown this once.
"""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from interlock.cli.db import opened_store
from interlock.storage.store import KeyRow

PAGE = 500  # keys read per transaction by `keys list`

app = typer.Typer(no_args_is_help=True, add_completion=False)

Db = Annotated[str, typer.Option("--db", envvar="INTERLOCK_DB", show_envvar=True,
                                 help="The server's store URL: sqlite:///path.db or postgresql://...")]


@app.command("create")
def create(
    db: Db,
    admin: Annotated[bool, typer.Option("--admin", help="An admin key: every scope, keys included.")] = False,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="A scope (repeatable): machines:write, "
                                                    "instances:write, events:write, read.")] = None,
    label: Annotated[str, typer.Option(help="What the key is for (shown in listings).")] = "",
) -> None:
    """Create an API key; its last line of output is the key (shown only this once)."""
    from interlock.auth.keys import create_key

    if admin == bool(scope):
        typer.echo("error: give --admin, or the key's scopes with --scope (repeatable), not both", err=True)
        raise typer.Exit(2)
    with opened_store(db) as store:
        text, row = create_key(store, ["admin"] if admin else scope or [], label=label)
    typer.echo(f"created API key {row.id} ({', '.join(row.scopes)}); keep it now, it is not shown again:",
               err=True)
    typer.echo(text)


@app.command("list")
def listing(db: Db) -> None:
    """Every key of the database: id, scopes, label, created, last used, revoked (never the secret)."""
    from interlock.auth.keys import list_keys

    listed, after = 0, ""
    with opened_store(db, existing=True) as store:
        while True:  # page by page: each page is one short read, however many keys there are
            page = list_keys(store, after=after, limit=PAGE)
            for row in page:
                typer.echo(_line(row))
            listed += len(page)
            if page.next is None:
                break
            after = page.next
    if not listed:
        typer.echo("no API keys; create one with `interlock keys create --admin --db URL`", err=True)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (see `keys list`).")],
           db: Db) -> None:
    """Revoke a key: servers refuse it within their key cache time (10 s by default)."""
    from interlock.auth.keys import revoke_key

    with opened_store(db, existing=True) as store:
        row = revoke_key(store, key_id)
    typer.echo(_line(row))


def _line(row: KeyRow) -> str:
    used = _time(row.last_used_at) if row.last_used_at is not None else "never used"
    state = f"revoked {_time(row.revoked_at)}" if row.revoked_at is not None else "active"
    return f"{row.id}  {','.join(row.scopes)}  {row.label or '-'}  created {_time(row.created_at)}  {used}  {state}"


def _time(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
