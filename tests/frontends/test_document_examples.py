"""The example machines in examples/ load cleanly and do what their comments say."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from interlock.core.effects import InvokeEffect
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.loader import load_machine

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_example_loads_without_warnings(path: Path) -> None:
    chart = load_machine(path, defer_services=True)
    assert chart.warnings == ()


def test_the_order_workflow_runs_in_memory_with_its_services() -> None:
    result = runpy.run_path(str(EXAMPLES / "order_workflow.py"))["main"]()
    assert result["done"] is True
    assert result["output"] == {"tracking": "TRK-42", "total": 120}
    assert result["context"]["attempts"] == 2  # the first courier booking failed and was retried


def test_the_order_workflow_payment_deadline() -> None:
    chart = load_machine(EXAMPLES / "order_workflow.yaml", defer_services=True)
    paying = step(chart, start(chart).snapshot, Event("CONFIRM", {"total": 5}))
    (invoke,) = [e for e in paying.effects if isinstance(e, InvokeEffect)]
    assert (invoke.invokeid, invoke.type, invoke.data) == ("payment", "service", {"amount": 5, "currency": "EUR"})
    deadline = "xstate.after.order.paying.#0"
    late = step(chart, paying.snapshot, Event(deadline, sendid=deadline))
    assert late.snapshot.configuration[-1] == "order.payment_failed"


def test_the_python_traffic_light_ignores_timer_in_rush_hour() -> None:
    context = runpy.run_path(str(EXAMPLES / "traffic_light.py"))["main"]()
    assert context == {"cycles": 1, "cars_waiting": 12}


def test_the_examples_in_docs_definitions_md_load() -> None:
    text = (Path(__file__).parents[2] / "docs" / "definitions.md").read_text()
    blocks = dict.fromkeys(("python", "yaml", "xml"), "")
    for lang, code in re.findall(r"```(\w+)\n(.*?)```", text, re.S):
        blocks[lang] = blocks[lang] or code  # the first block of each language is the full example
    namespace: dict[str, object] = {}
    exec(blocks["python"], namespace)  # it asserts on its own result
    chart = load_machine(blocks["yaml"], defer_services=True, actions={"notify_warehouse": print})
    assert chart.key == "order@3" and chart.warnings == ()
    assert load_machine(blocks["xml"], format="scxml").name == "light"
