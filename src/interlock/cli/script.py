"""Scripted simulation input: events to send and virtual-clock advances, from a file or typed lines.

A script file is YAML or JSON, either a list of steps or ``{data: {...}, services: {...}, steps: [...]}``
(``services``: what each invoked service answers, see :mod:`interlock.cli.scenario`)::

    - {event: PAY, data: {amount: 10}}
    - {wait: 5s}
    - CANCEL                      # a bare name is an event without data
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interlock.cli.scenario import ScriptedService, parse_services
from interlock.errors import DefinitionError, Problem
from interlock.frontends.loader import parse_document


@dataclass(frozen=True, slots=True)
class SendStep:
    """Send an external event to the machine."""

    name: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class WaitStep:
    """Advance the virtual clock, firing every timer that falls due on the way."""

    seconds: float


ScriptStep = SendStep | WaitStep


@dataclass(frozen=True, slots=True)
class Script:
    steps: tuple[ScriptStep, ...]
    data: dict[str, Any] = field(default_factory=dict)
    services: dict[str, ScriptedService] = field(default_factory=dict)


class ScriptError(Exception):
    """A script is malformed; ``problems`` lists each bad step with its position."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the script")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|min|m|h)?\s*")
_STEP_KEYS = {"event", "data", "wait"}


def parse_duration(value: object) -> float:
    """Seconds from ``5s``, ``250ms``, ``2m``, ``1h``, ``1.5`` (seconds) or a number.

    >>> parse_duration("250ms"), parse_duration(2)
    (0.25, 2.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration {value!r} is negative")
        return float(value)
    match = _DURATION.fullmatch(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration (write it like 5s, 250ms, 2m or 1h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def load_script(path: Path) -> Script:
    """Read a script file; raises :class:`ScriptError` (bad content) or ``OSError`` (cannot read)."""
    text = path.read_text(encoding="utf-8")
    # the machine loader's parser: YAML 1.2 booleans, so events named `on` or `yes` stay strings
    kind = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        document = parse_document(text, kind, str(path))
    except DefinitionError as exc:
        raise ScriptError(str(path), list(exc.problems)) from None
    return parse_script(document, str(path))


def parse_script(document: Any, source: str) -> Script:
    """Turn a parsed document into a :class:`Script`, collecting every problem before raising."""
    problems: list[Problem] = []
    data: dict[str, Any] = {}
    services: dict[str, ScriptedService] = {}
    items = document
    if isinstance(document, dict):
        unknown = set(document) - {"data", "services", "steps"}
        if unknown:
            problems.append(Problem(", ".join(sorted(map(str, unknown))), "unknown top-level key",
                                    "a script is a list of steps, or a mapping with 'data', 'services' "
                                    "and 'steps'"))
        if "services" in document:
            services = parse_services(document["services"], problems)
        data = document.get("data") or {}
        if not isinstance(data, dict):
            problems.append(Problem("data", "must be a mapping of initial context values"))
            data = {}
        items = document.get("steps", [])
    if not isinstance(items, list):
        problems.append(Problem("", "a script must be a list of steps",
                                "write e.g. `- {event: PAY}` and `- {wait: 5s}`, one per line"))
        raise ScriptError(source, problems)
    steps = []
    for index, item in enumerate(items):
        step = _parse_step(item, f"steps[{index}]", problems)
        if step is not None:
            steps.append(step)
    if problems:
        raise ScriptError(source, problems)
    return Script(tuple(steps), data, services)


def _parse_step(item: Any, where: str, problems: list[Problem]) -> ScriptStep | None:
    if isinstance(item, str) and item.strip():
        # the interactive syntax: `NAME`, `NAME {json}` or `wait 5s` (a whole line is never one event name)
        try:
            step = parse_line(item)
        except ValueError as exc:
            problems.append(Problem(where, str(exc), 'write NAME, NAME {"field": 1} or wait 5s'))
            return None
        return SendStep(step) if isinstance(step, str) else step
    if not isinstance(item, dict):
        problems.append(Problem(where, f"expected a step, got {item!r}",
                                "write {event: NAME, data: {...}} or {wait: 5s}"))
        return None
    unknown = set(item) - _STEP_KEYS
    if unknown:
        problems.append(Problem(where, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}",
                                "a step has 'event' (with optional 'data') or 'wait'"))
        return None
    if "wait" in item:
        if len(item) > 1:
            problems.append(Problem(where, "a wait step cannot also send an event",
                                    "split it into two steps"))
            return None
        try:
            return WaitStep(parse_duration(item["wait"]))
        except ValueError as exc:
            problems.append(Problem(f"{where}.wait", str(exc)))
            return None
    name = item.get("event")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(f"{where}.event", "the event needs a name", "e.g. {event: PAY}"))
        return None
    return SendStep(name.strip(), item.get("data"))

COMMANDS = ("quit", "exit", "state", "help")
_EVENT_NAME = re.compile(r"[^\s{}\[\]]+")


def parse_line(line: str) -> ScriptStep | str | None:
    """One interactive line: ``NAME {json}``, ``wait 5s``, or a command (``quit``, ``state``, ``help``).

    Returns None for a blank line or a ``#`` comment; raises ``ValueError`` with a fix for bad input.

    >>> parse_line('PAY {"amount": 10}')
    SendStep(name='PAY', data={'amount': 10})
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    head, _, rest = text.partition(" ")
    rest = rest.strip()
    if head in COMMANDS and not rest:
        return head
    if head == "wait":
        return WaitStep(parse_duration(rest or "0"))
    if _EVENT_NAME.fullmatch(head) is None:
        raise ValueError(f"{head!r} is not an event name (type `help` for the syntax)")
    if not rest:
        return SendStep(head)
    try:
        data = json.loads(rest)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the data after {head} is not valid JSON ({exc.msg} at column "
                         f"{exc.colno + len(head) + 1}); write e.g. {head} {{\"amount\": 10}}") from exc
    return SendStep(head, data)
