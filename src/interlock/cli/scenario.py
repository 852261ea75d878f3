"""What the services a simulated machine invokes answer: given by the script, since a machine file only
names its services (their code lives in the application).

In a script's ``services`` mapping, each service answers with a result or a failure; a list gives the
answers of successive calls, the last one repeating::

    services:
      charge: {result: {receipt: r-1}}                # done.invoke.<id> with this data
      ship: {error: carrier down, type: CarrierDown}  # error.invoke.<id> {"message", "error": "CarrierDown"}
      quote: [{result: 10}, {error: timeout}]         # first call 10, then failures
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from interlock.core.chart import Chart
from interlock.errors import Problem
from interlock.runtime.machines import is_scxml_type
from interlock.runtime.tasks import Task

_ANSWER_KEYS = {"result", "error", "type"}
_HINT = "write {result: VALUE}, {error: MESSAGE} (with an optional type: ErrorName), or a list of them"


class ServiceFailed(Exception):
    """A scripted failure; its ``error`` name in ``error.invoke.*`` is the script's ``type``."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: a result, or a failure with a message and an error name."""

    result: Any = None
    error: str | None = None
    error_type: str = "ServiceError"


class ScriptedService:
    """A service that answers successive calls from a list (the last answer repeats)."""

    def __init__(self, name: str, answers: tuple[Answer, ...]) -> None:
        self.name = name
        self.answers = answers
        self.calls = 0

    def __call__(self, task: Task) -> Any:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if answer.error is not None:
            failure = type(answer.error_type, (ServiceFailed,), {})
            raise failure(answer.error)
        return answer.result


def parse_services(value: Any, problems: list[Problem]) -> dict[str, ScriptedService]:
    """The ``services`` mapping of a script; every problem is added to ``problems``."""
    if not isinstance(value, dict):
        problems.append(Problem("services", "must be a mapping of service name to its answers", _HINT))
        return {}
    services = {}
    for name, spec in value.items():
        answers = _answers(spec, f"services.{name}", problems)
        if answers:
            services[str(name)] = ScriptedService(str(name), answers)
    return services


def _answers(spec: Any, where: str, problems: list[Problem]) -> tuple[Answer, ...]:
    items = spec if isinstance(spec, list) else [spec]
    if not items:
        problems.append(Problem(where, "gives no answer", _HINT))
    answers = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(spec, list) else where
        answer = _answer(item, at, problems)
        if answer is not None:
            answers.append(answer)
    return tuple(answers) if len(answers) == len(items) else ()


def _answer(item: Any, where: str, problems: list[Problem]) -> Answer | None:
    if not isinstance(item, dict) or not item or set(item) - _ANSWER_KEYS:
        problems.append(Problem(where, f"expected an answer, got {item!r}", _HINT))
        return None
    if ("result" in item) == ("error" in item):
        problems.append(Problem(where, "an answer has either 'result' or 'error'", _HINT))
        return None
    if "result" in item:
        if "type" in item:
            problems.append(Problem(where, "'type' names the error of a failure, not a result", _HINT))
            return None
        return Answer(result=item["result"])
    kind = item.get("type", "ServiceError")
    if not isinstance(kind, str) or not kind.isidentifier():
        problems.append(Problem(f"{where}.type", f"{kind!r} is not an error name", "e.g. type: CardDeclined"))
        return None
    return Answer(error=str(item["error"]), error_type=kind)


def invoked_services(chart: Chart) -> Iterator[tuple[str, str]]:
    """``(service name, state id)`` for every service the chart invokes by a fixed name."""
    for state in chart.walk():
        for spec in state.invokes:
            if is_scxml_type(spec.type) or spec.typeexpr is not None:
                continue
            name = spec.src if spec.type == "service" else spec.type
            if name:
                yield name, state.id


def missing_services(chart: Chart, given: dict[str, Any]) -> list[str]:
    """Why a simulation cannot run: each service the chart invokes that neither the script nor the chart
    itself provides, with where it is invoked."""
    missing: dict[str, list[str]] = {}
    for name, state in invoked_services(chart):
        if name not in given and name not in chart.services:
            missing.setdefault(name, []).append(state)
    return [f"service {name!r} (invoked in {', '.join(states)})" for name, states in missing.items()]
