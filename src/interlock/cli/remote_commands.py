"""``interlock machines | versions | instances | show | wait | send | history``: read and drive a server's
instances from the shell (``--url``/``INTERLOCK_URL``, ``--key``/``INTERLOCK_KEY``, ``--json``)."""

from __future__ import annotations

import datetime
import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from interlock.cli.console import make_console
from interlock.cli.remote import (
    BAD_INPUT,
    DEFAULT,
    NOT_ENDED,
    Json,
    Key,
    Url,
    connected,
    fail,
    json_argument,
    print_json,
)
from interlock.client.models import RemoteInstance
from interlock.runtime.model import HistoryEntry, Instance, SendResult


def machines(url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """List the machines the server runs, with their versions."""
    with connected(url, key) as client:
        found = client.machines()
    if as_json:
        print_json(found)
        return
    table = Table("machine", "latest", "versions", box=None)
    for machine in found:
        table.add_row(escape(machine.name), escape(machine.latest or "-"), escape(", ".join(machine.versions)))
    make_console().print(table)


def versions(machine: Annotated[str, typer.Argument(help="The machine's name.")],
             url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """List a machine's versions: format, where each came from and when it was registered."""
    with connected(url, key) as client:
        found = client.machine(machine)
        details = [client.version(machine, v) for v in found.versions]
    if as_json:
        print_json(details)
        return
    table = Table("version", "format", "source", "registered", box=None)
    for v in details:
        latest = " (latest)" if v.version == found.latest else ""
        table.add_row(escape(v.version + latest), escape(v.format), escape(v.source), _when(v.registered_at))
    make_console().print(table)


def instances(machine: Annotated[str, typer.Argument(help="The machine's name.")],
              state: Annotated[str | None, typer.Option(help="Only instances in this state.")] = None,
              tag: Annotated[str | None, typer.Option(help="Only instances with this tag active.")] = None,
              status: Annotated[str | None, typer.Option(help="active, done or cancelled.")] = None,
              limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
              url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """List a machine's instances, in the server's order."""
    with connected(url, key) as client:
        found: list[RemoteInstance] = []
        for instance in client.instances(machine, state=state, tag=tag, status=status,
                                         page_size=min(limit, 1000)):
            found.append(instance)
            if len(found) >= limit:
                break
    if as_json:
        print_json(found)
        return
    table = Table("instance", "version", "status", "state", "step", "updated", box=None)
    for i in found:
        table.add_row(escape(i.id), escape(i.version), _status(i), escape(", ".join(i.state)), str(i.step),
                      _when(i.updated_at))
    out = make_console()
    out.print(table)
    if not found:
        out.print("[dim]no instances[/]")


def show(machine: Annotated[str, typer.Argument(help="The machine's name.")],
         name: Annotated[str, typer.Argument(help="The instance's name.")],
         url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """Show one instance: its state, context and output."""
    with connected(url, key) as client:
        instance = client.get(machine, name)
    if as_json:
        print_json(instance)
        return
    _print_instance(instance)


def wait(machine: Annotated[str, typer.Argument(help="The machine's name.")],
         name: Annotated[str, typer.Argument(help="The instance's name.")],
         timeout: Annotated[float | None, typer.Option(
             min=0, help="Give up after this many seconds (exit 7); default: wait as long as it takes.")] = None,
         url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """Wait until an instance has ended (done or cancelled), then show it."""
    with connected(url, key) as client:
        try:
            instance = client.wait(machine, name, timeout=timeout)
        except TimeoutError as exc:
            fail(str(exc), NOT_ENDED, hint="wait longer with --timeout, or see where it stands with "
                 f"'interlock show {machine} {name}'")
    if as_json:
        print_json(instance)
        return
    _print_instance(instance)


def send(machine: Annotated[str, typer.Argument(help="The machine's name.")],
         name: Annotated[str, typer.Argument(help="The instance's name.")],
         event: Annotated[str, typer.Argument(help="The event's type, as in PAY.")],
         data: Annotated[str | None, typer.Argument(help="The event's data as a JSON object.")] = None,
         idempotency_key: Annotated[str | None, typer.Option(
             "--idempotency-key", help="Send it at most once: a repeat with the same key changes nothing.")] = None,
         wait: Annotated[bool, typer.Option(help="Wait for the instance to settle (--no-wait: return once queued).")] = True,
         url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """Send an event to an instance and show what became of it."""
    payload = json_argument(data, "DATA")
    if payload is not None and not isinstance(payload, dict):
        fail(f"DATA must be a JSON object, not {type(payload).__name__}", BAD_INPUT,
             hint="""write it as '{"amount": 30}'""")
    with connected(url, key) as client:
        if not wait:
            client.send_nowait(machine, name, event, payload, idempotency_key=idempotency_key)
            result: SendResult | None = None
        else:
            result = client.send(machine, name, event, payload, idempotency_key=idempotency_key)
    if as_json:
        print_json(result if result is not None else {"accepted": True})
    elif result is None:
        make_console().print(f"queued {escape(event)} for {escape(machine)}/{escape(name)}")
    else:
        duplicate = " [yellow](duplicate: sent before, nothing changed)[/]" if result.duplicate else ""
        make_console().print(f"[bold]{result.outcome}[/] at step {result.step}{duplicate}")
        if result.instance is not None:  # None: the machine's read rule does not let this caller read it
            _print_instance(result.instance)


def history(machine: Annotated[str, typer.Argument(help="The machine's name.")],
            name: Annotated[str, typer.Argument(help="The instance's name.")],
            after: Annotated[int, typer.Option(help="Start after this step.")] = -1,
            limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many steps.")] = 100,
            url: Url = DEFAULT, key: Key = None, as_json: Json = False) -> None:
    """Show an instance's steps: the event, what it did, where it went."""
    with connected(url, key) as client:
        page = client.history(machine, name, after=after, limit=limit)
    if as_json:
        print_json(list(page.items))
        return
    table = Table("step", "at", "outcome", "event", "from", "to", box=None)
    for entry in page.items:
        table.add_row(str(entry.step), _when(entry.at), _outcome(entry), escape(_event_text(entry)),
                      escape(", ".join(entry.source)), escape(", ".join(entry.target)))
    out = make_console()
    out.print(table)
    if page.next is not None:
        out.print(f"[dim]more: --after {page.next}[/]")


def _print_instance(instance: Instance) -> None:
    out = make_console()
    out.print(f"[bold]{escape(instance.machine)}/{escape(instance.id)}[/] v{escape(instance.version)} "
              f"{_status(instance)}  step {instance.step}")
    out.print(f"  state:   {escape(', '.join(instance.state))}")
    if isinstance(instance, RemoteInstance) and instance.tags:
        out.print(f"  tags:    {escape(', '.join(instance.tags))}")
    out.print(f"  context: {escape(_short(instance.context))}")
    if instance.output is not None:
        out.print(f"  output:  {escape(_short(instance.output))}")
    if instance.queued:
        out.print(f"  queued:  {instance.queued} event(s)")


def _status(instance: Instance) -> str:
    colour = {"active": "green", "done": "blue", "cancelled": "red"}.get(instance.status, "white")
    paused = " [yellow]paused[/]" if instance.paused else ""
    return f"[{colour}]{escape(instance.status)}[/]{paused}"


def _outcome(entry: HistoryEntry) -> str:
    colour = {"applied": "green", "ignored": "yellow", "failed": "red", "cancelled": "red"}.get(entry.outcome, "white")
    error = f" {escape(entry.error)}" if entry.error else ""
    return f"[{colour}]{escape(entry.outcome)}[/]{error}"


def _event_text(entry: HistoryEntry) -> str:
    if not entry.event:
        return entry.cause or ""
    data = entry.event.get("data")
    return str(entry.event.get("name", "")) + (f" {_short(data)}" if data not in (None, {}) else "")


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def _when(at: float | None) -> str:
    if not at:
        return "-"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
