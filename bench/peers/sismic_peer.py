"""The benchmark shapes in sismic: YAML statecharts run by an ``Interpreter``.

Guards and actions are sismic's own Python code strings (``count < LIMIT``, ``count += event.by``), run
by its default PythonEvaluator; event data are the ``Event``'s keyword arguments (``event.by``).
Targetless transitions are internal ones (no ``target``). An event is one ``queue(event)`` then
``execute_once()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sismic.interpreter import Interpreter
from sismic.io import import_from_yaml
from sismic.model import Event

from bench.core_machines import COUNTER_LIMIT, LIMIT, ORDER_MAX_ITEMS, EventSpec, variables

NAME = "sismic"

COUNTER = f"""
statechart:
  name: counter
  preamble: |
    count = 0
    n = 0
    limit = {COUNTER_LIMIT}
  root state:
    name: root
    initial: active
    states:
    - name: active
      transitions:
      - event: INC
        guard: count < limit and event.by > 0
        action: |
          count += event.by
          n += 1
"""

ORDER = f"""
statechart:
  name: order
  preamble: |
    items = []
    total = 0
    count = 0
    max_items = {ORDER_MAX_ITEMS}
    amount = 0
  root state:
    name: root
    initial: cart
    states:
    - name: cart
      transitions:
      - event: ADD
        guard: event.price > 0 and count < max_items
        action: |
          items = items + [event.sku]
          total += event.price * event.qty
          count += 1
      - {{target: checkout, event: CHECKOUT, guard: total > 0}}
    - name: checkout
      transitions:
      - {{target: paid, event: PAY, guard: event.amount >= total, action: amount = event.amount}}
    - name: paid
      transitions:
      - target: cart
        event: RESET
        action: |
          items = []
          total = 0
          count = 0
"""

FLAT = """
statechart:
  name: flat
  root state:
    name: root
    initial: A
    states:
    - name: A
      transitions: [{target: B, event: NEXT}]
    - name: B
      transitions: [{target: C, event: NEXT}]
    - name: C
      transitions: [{target: A, event: NEXT}]
"""

HIERARCHY = f"""
statechart:
  name: hierarchy
  preamble: |
    count = 0
    LIMIT = {LIMIT}
  root state:
    name: root
    initial: p
    states:
    - name: p
      initial: q
      states:
      - name: q
        initial: r1
        states:
        - name: r1
          initial: s1
          transitions: [{{target: r2, event: STEP}}]
          states:
          - name: s1
            transitions:
            - {{target: s2, event: STEP, guard: count < LIMIT, action: count += 1}}
          - name: s2
            transitions:
            - {{target: s1, event: STEP, guard: count >= LIMIT}}
        - name: r2
          initial: s3
          transitions: [{{target: r1, event: STEP}}]
          states:
          - name: s3
            transitions:
            - {{target: s4, event: STEP, guard: count < LIMIT, action: count += 1}}
          - name: s4
"""


def _region(r: str) -> str:
    event = f"E{r.upper()}"
    return f"""
      - name: {r}
        initial: {r}1
        states:
        - name: {r}1
          transitions: [{{target: {r}2, event: {event}}}]
        - name: {r}2
          transitions: [{{target: {r}1, event: {event}}}]"""


PARALLEL = """
statechart:
  name: parallel
  root state:
    name: root
    initial: P
    states:
    - name: P
      parallel states:""" + "".join(_region(r) for r in "xyz") + "\n"

DOCUMENTS = {"counter": COUNTER, "order": ORDER, "flat": FLAT, "hierarchy": HIERARCHY, "parallel": PARALLEL}


class SismicInstance:
    def __init__(self, machine: str) -> None:
        self.machine = machine
        self.statechart = import_from_yaml(DOCUMENTS[machine])
        self.interpreter = Interpreter(self.statechart)
        self.interpreter.execute_once()  # enter the initial configuration

    def send(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        self.interpreter.queue(Event(name, **(data or {})))
        self.interpreter.execute_once()

    def leaves(self) -> frozenset[str]:
        config = self.interpreter.configuration
        return frozenset(s for s in config if not self.statechart.children_for(s))

    def context(self) -> dict[str, Any]:
        return variables(self.machine, self.interpreter.context)

    def runner(self, events: Sequence[EventSpec]) -> Callable[[], None]:
        prepared = [Event(name, **(data or {})) for name, data in events]
        queue = self.interpreter.queue
        execute_once = self.interpreter.execute_once

        def run() -> None:
            for event in prepared:
                queue(event)
                execute_once()

        return run


def build(machine: str) -> SismicInstance:
    return SismicInstance(machine)
