"""``interlock simulate``: run a machine on a virtual clock, from a script file or typed events."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from interlock.cli.console import fail, make_console, problem_lines
from interlock.cli.labels import format_seconds
from interlock.cli.load import chart_or_exit
from interlock.cli.scenario import missing_services
from interlock.cli.script import Script, ScriptError, ScriptStep, SendStep, load_script, parse_line
from interlock.cli.simulator import SimulationError, Simulator
from interlock.cli.trace import StepRecord, compact, describe_configuration, print_step
from interlock.core.chart import Chart
from interlock.errors import InterlockError

HELP = """\
Type one command per line:
  NAME                 send the event NAME
  NAME {"k": 1}        send NAME with JSON data
  wait 5s              advance the virtual clock (ms, s, m, h), firing due timers
  state                show the configuration, context and pending timers
  quit                 stop (end of input stops too)"""


def simulate(
    file: Annotated[Path, typer.Argument(help="The machine file to run.")],
    events: Annotated[Path | None, typer.Option(
        "--events", "-e",
        help="A YAML/JSON script: `- {event: PAY, data: {...}}`, `- {wait: 5s}`.")] = None,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", help="Read events from stdin (`NAME {json}`, `wait 5s`, `quit`).")] = False,
    data: Annotated[str | None, typer.Option(
        "--data", "-d", help='Initial context values as a JSON object, e.g. \'{"total": 10}\'.')] = None,
    machine: Annotated[list[Path] | None, typer.Option(
        "--machine", "-m", help="A machine the chart may invoke (by its name: src: machine:NAME); repeatable.")
    ] = None,
) -> None:
    """Run a machine on the in-memory engine with a virtual clock and print every step."""
    chart = chart_or_exit(file)
    # the runner logs a step's errors; here each step prints them itself, under the step
    runtime_log = logging.getLogger("interlock.runtime")
    if not any(isinstance(h, logging.NullHandler) for h in runtime_log.handlers):
        runtime_log.addHandler(logging.NullHandler())
    machines = [chart_or_exit(path) for path in machine or ()]
    script = _script_or_exit(events) if events else Script(())
    initial = {**script.data, **_data_or_exit(data)}
    _check_services(chart, script, events)
    out = make_console()
    try:
        sim = Simulator(chart, data=initial, services=dict(script.services), machines=machines)
        _show(out, sim, [sim.started, *sim.pending_start])
        for item in script.steps:
            play(out, sim, item)
        if interactive:
            _interact(out, sim)
    except SimulationError as exc:
        fail(str(exc))
    except typer.Exit:
        raise
    except InterlockError as exc:  # StepLimitError and the like: the machine, not the tool, is at fault
        fail(f"the machine cannot go on: {type(exc).__name__}: {_one_line(exc)}")
    except Exception as exc:  # anything else is our bug: one line, not a traceback
        fail(f"internal error: {type(exc).__name__}: {_one_line(exc)}",
             hint="this is probably a bug in interlock; please report it with the machine file and the events")
    if not events and not interactive:
        out.print("[dim]no events given: pass --events FILE or --interactive[/]")
    _summary(out, sim)


def _check_services(chart: Chart, script: Script, events: Path | None) -> None:
    """Fail before running if the machine invokes a service the script does not answer for."""
    missing = missing_services(chart, script.services)
    if missing:
        where = f"the events file {events}" if events else "an events file (--events)"
        example = missing[0].split("'")[1]
        fail(f"the machine invokes {' and '.join(missing)}, which a simulation cannot run: a machine file "
             "only names its services",
             hint=f"say what each answers in {where}: services: {{{example}: {{result: ...}}}} or "
                  f"{{{example}: {{error: MESSAGE}}}} (see docs/cli.md, simulate)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or "(no message)"


def play(out: Console, sim: Simulator, item: ScriptStep) -> None:
    """Run one scripted step and print the steps it caused (events to a done machine are dropped)."""
    _show(out, sim, _run(out, sim, item))


def _run(out: Console, sim: Simulator, item: ScriptStep) -> list[StepRecord]:
    if isinstance(item, SendStep):
        if sim.done:
            out.print(f"[dim]t={format_seconds(sim.now)} {escape(item.name)}: not sent, the session is done[/]")
            return []
        return sim.send(item.name, item.data)
    start = sim.now
    records = sim.advance(item.seconds)
    out.print(f"[dim]wait {format_seconds(item.seconds)}: t={format_seconds(start)} -> "
              f"t={format_seconds(sim.now)}, {len(records)} step(s)[/]")
    return records


def _show(out: Console, sim: Simulator, records: list[StepRecord]) -> None:
    for record in records:
        print_step(out, record, main=sim.sessionid)


def _interact(out: Console, sim: Simulator) -> None:
    tty = sys.stdin.isatty()
    if tty:
        out.print(HELP)
    while True:
        if tty:
            out.print("> ", end="")
        line = sys.stdin.readline()
        if not line:
            return
        try:
            item = parse_line(line)
        except ValueError as exc:
            out.print(f"[red]error:[/] {escape(str(exc))}")
            continue
        if item in ("quit", "exit"):
            return
        if item == "help":
            out.print(HELP)
        elif item == "state":
            _state(out, sim)
        elif item is not None and not isinstance(item, str):
            play(out, sim, item)


def _state(out: Console, sim: Simulator) -> None:
    out.print(f"[bold]state[/]  {escape(describe_configuration(sim.chart, sim.snapshot))}")
    out.print(f"[bold]data[/]   {escape(compact(sim.snapshot.context, limit=400))}")
    for due, sendid, name in sim.timers():
        out.print(f"[bold]timer[/]  {escape(name)} at t={format_seconds(due)} (id {escape(sendid)})")


def _summary(out: Console, sim: Simulator) -> None:
    status = "[green]done[/]" if sim.done else "active"
    out.print(f"[bold]end[/] t={format_seconds(sim.now)}, {status}, "
              f"in {escape(describe_configuration(sim.chart, sim.snapshot))}")
    pending = sim.timers()
    if pending and not sim.done:
        out.print(f"  {len(pending)} timer(s) still pending; the next fires at "
                  f"t={format_seconds(pending[0][0])}")


def _script_or_exit(path: Path) -> Script:
    try:
        return load_script(path)
    except OSError as exc:
        fail(f"cannot read events file {path}: {exc.strerror or exc}")
    except ScriptError as exc:
        err = make_console(stderr=True)
        err.print(f"[bold red]error:[/] {escape(str(exc))}:")
        for line in problem_lines(exc.problems):
            err.print(line)
        raise typer.Exit(1) from None


def _data_or_exit(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--data is not valid JSON: {exc.msg} at column {exc.colno}",
             hint='quote it for the shell: --data \'{"total": 10}\'', code=2)
    if not isinstance(value, dict):
        fail("--data must be a JSON object", hint='e.g. --data \'{"total": 10}\'', code=2)
    return value
