"""The benchmark machines in ``transitions`` (pytransitions): a plain Machine for the flat cycle,
HierarchicalMachine for the hierarchy and the parallel regions. Events are the model's trigger methods.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from transitions import Machine
from transitions.extensions import HierarchicalMachine

from bench.core_machines import LIMIT

NAME = "transitions"


class Model:
    """The model transitions decorates with ``state`` and one trigger method per event."""

    state: Any

    def __init__(self) -> None:
        self.count = 0

    def below_limit(self) -> bool:
        return self.count < LIMIT

    def at_limit(self) -> bool:
        return self.count >= LIMIT

    def increment(self) -> None:
        self.count += 1


def _hierarchy(model: Model) -> None:
    r1 = {"name": "r1", "initial": "s1", "children": ["s1", "s2"]}
    r2 = {"name": "r2", "initial": "s3", "children": ["s3", "s4"]}
    states = [{"name": "p", "initial": "q", "children": [{"name": "q", "initial": "r1", "children": [r1, r2]}]}]
    step = "STEP"
    transitions = [
        {"trigger": step, "source": "p_q_r1_s1", "dest": "p_q_r1_s2",
         "conditions": "below_limit", "after": "increment"},
        {"trigger": step, "source": "p_q_r1_s2", "dest": "p_q_r1_s1", "conditions": "at_limit"},
        {"trigger": step, "source": "p_q_r1", "dest": "p_q_r2"},
        {"trigger": step, "source": "p_q_r2_s3", "dest": "p_q_r2_s4",
         "conditions": "below_limit", "after": "increment"},
        {"trigger": step, "source": "p_q_r2", "dest": "p_q_r1"},
    ]
    HierarchicalMachine(model, states=states, transitions=transitions, initial="p", auto_transitions=False)


def _parallel(model: Model) -> None:
    regions = [{"name": r, "initial": f"{r}1", "children": [f"{r}1", f"{r}2"]} for r in "xyz"]
    transitions = []
    for r in "xyz":
        event = f"E{r.upper()}"
        transitions.append({"trigger": event, "source": f"P_{r}_{r}1", "dest": f"P_{r}_{r}2"})
        transitions.append({"trigger": event, "source": f"P_{r}_{r}2", "dest": f"P_{r}_{r}1"})
    HierarchicalMachine(model, states=[{"name": "P", "parallel": regions}], transitions=transitions,
                        initial="P", auto_transitions=False)


def _flat(model: Model) -> None:
    transitions = [["NEXT", "A", "B"], ["NEXT", "B", "C"], ["NEXT", "C", "A"]]
    Machine(model, states=["A", "B", "C"], transitions=transitions, initial="A", auto_transitions=False)


BUILDERS: dict[str, Callable[[Model], None]] = {"flat": _flat, "hierarchy": _hierarchy, "parallel": _parallel}


class TransitionsInstance:
    def __init__(self, machine: str) -> None:
        self.model = Model()
        BUILDERS[machine](self.model)

    def send(self, event: str) -> None:
        self.model.trigger(event)

    def leaves(self) -> frozenset[str]:
        state = self.model.state
        names = state if isinstance(state, list) else [state]
        # nested names are "p_q_r1_s1": the leaf is the last part
        return frozenset(n.rsplit("_", 1)[-1] for n in names)

    def count(self) -> int:
        return self.model.count

    def runner(self, events: Sequence[str]) -> Callable[[], None]:
        # The per-event trigger methods transitions puts on the model, looked up once.
        triggers = [getattr(self.model, e) for e in events]

        def run() -> None:
            for trigger in triggers:
                trigger()

        return run


def build(machine: str) -> TransitionsInstance:
    return TransitionsInstance(machine)
