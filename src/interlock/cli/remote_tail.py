"""``interlock tail MACHINE [NAME...]``: follow a machine's changes as they commit (WS /v1/subscribe)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from typing import Annotated

import typer
from rich.markup import escape

from interlock.cli.console import make_console
from interlock.cli.remote import BAD_INPUT, DEFAULT, USAGE, Json, Key, Url, fail, print_json, report
from interlock.client import AsyncClient
from interlock.client.models import RemoteChange
from interlock.errors import InterlockError


def tail(machine: Annotated[str, typer.Argument(help="The machine's name.")],
         names: Annotated[list[str] | None, typer.Argument(help="Only these instances.", show_default=False)] = None,
         after: Annotated[int | None, typer.Option(
             min=0, help="Start after this feed position (0: from the start); default: from now.")] = None,
         count: Annotated[int | None, typer.Option(min=1, help="Stop after this many changes.")] = None,
         url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """Print each change of a machine's instances as it commits; reconnects and resumes by itself.
    Stop with Ctrl-C (or --count)."""
    try:
        client = AsyncClient(url, key=key or None)
    except ValueError as exc:
        fail(str(exc), USAGE)
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(_follow(client, machine, names or [], after, count, as_json))
        except InterlockError as exc:
            report(exc)
        except ValueError as exc:
            fail(str(exc), BAD_INPUT)


async def _follow(client: AsyncClient, machine: str, names: list[str], after: int | None, count: int | None,
                  as_json: bool) -> None:
    seen = 0
    async with client, contextlib.aclosing(client.subscribe(machine, instances=names, after=after)) as changes:
        async for change in changes:
            _print(change, as_json)
            seen += 1
            if count is not None and seen >= count:
                return


def _print(change: RemoteChange, as_json: bool) -> None:
    if as_json:
        print_json(change)
        return
    when = datetime.datetime.fromtimestamp(change.at, datetime.UTC).strftime("%H:%M:%S") if change.at else "-"
    state = f"  -> {', '.join(change.instance.state)}" if change.instance is not None else ""
    make_console().print(f"[dim]#{change.position} {when}[/] {escape(change.machine)}/{escape(change.id)} "
                         f"step {change.step} [bold]{escape(change.outcome)}[/]{escape(state)}")
