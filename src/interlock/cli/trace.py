"""Readable rendering of simulation steps: the event, transitions, configuration, context diff, effects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, assert_never

from rich.console import Console
from rich.markup import escape

from interlock.cli.labels import (
    after_label,
    display_id,
    format_seconds,
    short_name,
    timer_state,
    transition_label,
)
from interlock.core.chart import Chart, StateNode, Transition
from interlock.core.effects import Effect
from interlock.core.events import Event
from interlock.core.snapshot import Snapshot

_MISSING = object()


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One macrostep as the simulator saw it. ``event`` is None for the start of the session."""

    now: float
    event: Event | None
    transitions: tuple[Transition, ...]
    before: Snapshot | None
    after: Snapshot
    effects: tuple[Effect, ...]
    origin: str  # who caused it: "start", "you", "timer", "self", "child"
    session: str
    chart: Chart
    errors: str | None = None  # what the step's guards and actions raised (runtime/step_errors.py)


def print_step(out: Console, record: StepRecord, *, main: str) -> None:
    """Print one step as a heading line and indented detail lines; other sessions than ``main`` (invoked
    children) are named in the heading."""
    chart = record.chart
    who = "" if record.session == main else f"[blue]{escape(record.session)}[/] "
    out.print(f"[dim]t={format_seconds(record.now)}[/] {who}{_heading(record)}")
    if record.event is not None and not record.transitions:
        why = " (a guard failed: see the error below)" if record.errors and "guard " in record.errors else ""
        out.print(f"  [yellow]ignored[/]: no enabled transition{why}")
    for line in (record.errors or "").splitlines():
        out.print(f"  [bold red]error[/]  {escape(line)}")
    for t in record.transitions:
        out.print(f"  {escape(describe_transition(chart, t))}")
    out.print(f"  [bold]state[/]  {escape(describe_configuration(chart, record.after))}")
    before = record.before.context if record.before is not None else {}
    for line in context_diff(before, record.after.context):
        out.print(f"  [bold]data[/]   {escape(line)}")
    for effect in record.effects:
        if effect.kind == "done":  # shown below as the session's output
            continue
        out.print(f"  [bold]effect[/] {escape(describe_effect(effect, chart))}")
    if record.after.done and (record.before is None or not record.before.done):
        output = record.after.output
        out.print("  [bold green]done[/]" + ("" if output is None else f"   output {escape(compact(output))}"))


def _heading(record: StepRecord) -> str:
    if record.event is None:
        return "[bold]start[/]"
    data = "" if record.event.data is None else " " + escape(compact(record.event.data))
    timer_of = timer_state(record.chart, record.event.name)
    if timer_of is not None:
        return (f"[bold cyan]{escape(transition_name(timer_of, record.event.name))}[/] "
                f"[magenta](timer of {escape(display_id(record.chart, timer_of))})[/]")
    via = {"timer": " [magenta](timer)[/]", "self": " [dim](sent to itself)[/]",
           "child": " [dim](from a child)[/]", "platform": " [dim](platform)[/]"}
    return f"[bold cyan]{escape(record.event.name)}[/]{data}{via.get(record.origin, '')}"


def describe_transition(chart: Chart, t: Transition) -> str:
    """``cart --PAY [total > 0]--> paying``; eventless and targetless transitions say so."""
    label = transition_label(t) or "(eventless)"
    targets = ", ".join(display_id(chart, n) for n in t.targets) or "(targetless)"
    return f"{display_id(chart, t.source)} --{label}--> {targets}"


def describe_configuration(chart: Chart, snapshot: Snapshot) -> str:
    """The active leaf states with their ancestry: ``order > payment > waiting | order > shipping > idle``."""
    active = set(snapshot.configuration)
    leaves = [chart.state(s) for s in snapshot.configuration
              if s in chart.states and not any(c.id in active for c in chart.state(s).children)]
    paths = []
    for leaf in leaves:
        chain = [short_name(a) for a in reversed(leaf.ancestors) if a is not chart.root]
        chain.append(short_name(leaf))
        paths.append(" > ".join(chain))
    return " | ".join(paths) or "(none)"


def context_diff(before: dict[str, Any], after: dict[str, Any]) -> Iterator[str]:
    """``+ key: value``, ``- key``, ``~ key: old -> new`` lines; nested objects by dotted path."""
    yield from _diff(before, after, "")


def _diff(before: dict[str, Any], after: dict[str, Any], prefix: str) -> Iterator[str]:
    for key in (*before, *(k for k in after if k not in before)):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        path = f"{prefix}{key}"
        if old is _MISSING:
            yield f"+ {path}: {compact(new)}"
        elif new is _MISSING:
            yield f"- {path}"
        elif isinstance(old, dict) and isinstance(new, dict):
            yield from _diff(old, new, f"{path}.")
        elif old != new or type(old) is not type(new):
            yield f"~ {path}: {compact(old)} -> {compact(new)}"


def describe_effect(effect: Effect, chart: Chart) -> str:
    """One line per effect kind; delayed sends show their delay and id so cancels can be matched."""
    match effect.kind:
        case "send" if (timer_of := timer_state(chart, effect.event.name)) is not None:
            return (f"start timer of {display_id(chart, timer_of)}: fires in "
                    f"{format_seconds(effect.delay_ms / 1000)}")
        case "cancel" if (timer_of := timer_state(chart, effect.sendid)) is not None:
            return f"cancel timer of {display_id(chart, timer_of)}"
        case "send":
            target = effect.target or "itself"
            delay = f" in {format_seconds(effect.delay_ms / 1000)}" if effect.delay_ms else ""
            sendid = "" if effect.sendid == effect.event.name else f" (id {effect.sendid})"
            return f"send {_event_text(effect.event)} to {target}{delay}{sendid}"
        case "cancel":
            return f"cancel delayed send {effect.sendid}"
        case "invoke":
            return f"invoke {effect.invokeid} ({effect.type} {effect.src or 'inline'}) from {effect.state}"
        case "cancel_invoke":
            return f"stop invoked {effect.invokeid}"
        case "forward":
            return f"forward {_event_text(effect.event)} to {effect.invokeid}"
        case "log":
            label = f"{effect.label}: " if effect.label else ""
            return f"log {label}{compact(effect.value)}"
        case "done":
            return f"done {compact(effect.output)}"
        case _:
            assert_never(effect.kind)


def transition_name(state: StateNode, event: str) -> str:
    return after_label(state, event) or event


def _event_text(event: Event) -> str:
    return event.name if event.data is None else f"{event.name} {compact(event.data)}"


def compact(value: Any, limit: int = 120) -> str:
    """Short JSON for display (non-JSON values fall back to repr), cut at ``limit`` characters."""
    try:
        text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
