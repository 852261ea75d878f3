"""``interlock demo`` (what ``make run`` runs): an order machine taken through two scripted scenarios
on the virtual clock, one paid in time and one whose payment timer fires.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from interlock.cli.console import fail, make_console
from interlock.cli.labels import format_seconds
from interlock.cli.load import chart_or_exit
from interlock.cli.script import load_script
from interlock.cli.simulate import play
from interlock.cli.simulator import SimulationError, Simulator
from interlock.cli.trace import describe_configuration, print_step
from interlock.cli.validate import summary

MACHINE = "demo_order.yaml"
SCENARIOS = (
    ("order-1", "paid in time, then packed and shipped", "scenarios/demo_order_paid.yaml"),
    ("order-2", "never paid: the payment timer fires", "scenarios/demo_order_timeout.yaml"),
)


def default_examples() -> Path:
    """``examples/`` of the source tree (``make run`` uses an editable install), else of the cwd."""
    beside_source = Path(__file__).resolve().parents[3] / "examples"
    return beside_source if beside_source.is_dir() else Path("examples")


def demo(
    examples: Annotated[Path | None, typer.Option(
        "--examples", help="The examples directory (default: the repository's examples/).")] = None,
) -> None:
    """Run the demo: an order machine through scripted scenarios with timers on a virtual clock."""
    folder = examples or default_examples()
    machine = folder / MACHINE
    if not machine.is_file():
        fail(f"the demo machine {machine} does not exist",
             hint="run from the repository root, or pass --examples DIR")
    out = make_console()
    machine = _relative(machine)
    chart = chart_or_exit(machine)
    out.print(Rule("[bold]Interlock demo[/]"))
    out.print(f"machine {escape(str(machine))}: {escape(summary(chart))}")
    out.print("[dim]each session runs on a virtual clock: `wait` steps jump time and fire due timers[/]")
    for sessionid, title, script_name in SCENARIOS:
        _scenario(out, machine, sessionid, title, folder / script_name)
    out.print(Rule())
    out.print("Try it yourself:")
    command = escape(own_command())
    out.print(f"  {command} diagram {escape(str(machine))} --format mermaid")
    out.print(f"  {command} simulate {escape(str(machine))} --interactive")


def own_command(argv0: str | None = None) -> str:
    """How the user can run this command again: ``interlock`` if that name on the PATH is this program,
    else the path it was started by (``.venv/bin/interlock`` after ``make run``, where the virtual
    environment is not activated)."""
    started = Path(argv0 if argv0 is not None else sys.argv[0])
    on_path = shutil.which("interlock")
    if started.name != "interlock" or not started.exists():
        return "interlock"  # started some other way (python -m, a test): the installed name
    if on_path is not None and Path(on_path).resolve() == started.resolve():
        return "interlock"
    return str(_relative(started))


def _relative(path: Path) -> Path:
    """Shorter paths in the output (and in the commands it suggests) when run from the repository."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _scenario(out: Console, machine: Path, sessionid: str, title: str, script_path: Path) -> None:
    chart = chart_or_exit(machine)
    try:
        script = load_script(script_path)
    except Exception as exc:  # a broken demo script is a bug in the repository, say which file
        fail(f"cannot run the demo scenario {script_path}: {exc}")
    out.print()
    out.print(Rule(f"[bold]{escape(sessionid)}[/]: {escape(title)}", align="left"))
    try:
        sim = Simulator(chart, sessionid=sessionid, data=script.data)
        for record in (sim.started, *sim.pending_start):
            print_step(out, record, main=sessionid)
        for step in script.steps:
            play(out, sim, step)
    except SimulationError as exc:
        fail(str(exc))
    status = "[green]done[/]" if sim.done else "still active"
    out.print(f"[bold]{escape(sessionid)}[/] ends at t={format_seconds(sim.now)}: {status} in "
              f"{escape(describe_configuration(chart, sim.snapshot))}")
