"""The benchmark machines in sismic: YAML statecharts run by an ``Interpreter``.

Guards and the assign are sismic's own Python code strings (``count < LIMIT``, ``count += 1``), run by its
default PythonEvaluator. An event is one ``queue(event)`` then ``execute_once()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sismic.interpreter import Interpreter
from sismic.io import import_from_yaml
from sismic.model import Event

from bench.core_machines import LIMIT

NAME = "sismic"

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

DOCUMENTS = {"flat": FLAT, "hierarchy": HIERARCHY, "parallel": PARALLEL}


class SismicInstance:
    def __init__(self, machine: str) -> None:
        self.statechart = import_from_yaml(DOCUMENTS[machine])
        self.interpreter = Interpreter(self.statechart)
        self.interpreter.execute_once()  # enter the initial configuration

    def send(self, event: str) -> None:
        self.interpreter.queue(Event(event))
        self.interpreter.execute_once()

    def leaves(self) -> frozenset[str]:
        config = self.interpreter.configuration
        return frozenset(s for s in config if not self.statechart.children_for(s))

    def count(self) -> int:
        return int(self.interpreter.context.get("count", 0))

    def runner(self, events: Sequence[str]) -> Callable[[], None]:
        prepared = [Event(e) for e in events]
        queue = self.interpreter.queue
        execute_once = self.interpreter.execute_once

        def run() -> None:
            for event in prepared:
                queue(event)
                execute_once()

        return run


def build(machine: str) -> SismicInstance:
    return SismicInstance(machine)
