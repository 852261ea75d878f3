"""The benchmark shapes in ``transitions`` (pytransitions): a plain Machine for the flat cycle, the
counter and the order, HierarchicalMachine for the hierarchy and the parallel regions. Events are the
model's trigger methods; event data goes in as keyword arguments, which transitions passes on to the
conditions and callbacks (its documented way of passing data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from transitions import Machine
from transitions.extensions import HierarchicalMachine

from bench.core_machines import LIMIT, MACHINES, EventSpec, variables

NAME = "transitions"


class Model:
    """The model transitions decorates with ``state`` and one trigger method per event."""

    state: Any

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.count = 0
        for key, value in context.items():
            setattr(self, key, list(value) if isinstance(value, list) else value)

    # hierarchy
    def below_limit(self) -> bool:
        return self.count < LIMIT

    def at_limit(self) -> bool:
        return self.count >= LIMIT

    def increment(self) -> None:
        self.count += 1

    # counter
    def can_add(self, by: int) -> bool:
        return self.count < self.limit and by > 0

    def add(self, by: int) -> None:
        self.count += by
        self.n += 1

    # order
    def priced(self, sku: str, price: int, qty: int) -> bool:
        return price > 0 and self.count < self.max_items

    def add_item(self, sku: str, price: int, qty: int) -> None:
        self.items = [*self.items, sku]
        self.total += price * qty
        self.count += 1

    def has_total(self) -> bool:
        return self.total > 0

    def covers(self, amount: int) -> bool:
        return amount >= self.total

    def record_payment(self, amount: int) -> None:
        self.amount = amount

    def clear(self) -> None:
        self.items = []
        self.total = 0
        self.count = 0


def _counter(model: Model) -> None:
    # dest=None: an internal transition (no exit, no entry), as the targetless one in the other builds
    transitions = [{"trigger": "INC", "source": "active", "dest": None, "conditions": "can_add",
                    "after": "add"}]
    Machine(model, states=["active"], transitions=transitions, initial="active", auto_transitions=False)


def _order(model: Model) -> None:
    transitions = [
        {"trigger": "ADD", "source": "cart", "dest": None, "conditions": "priced", "after": "add_item"},
        {"trigger": "CHECKOUT", "source": "cart", "dest": "checkout", "conditions": "has_total"},
        {"trigger": "PAY", "source": "checkout", "dest": "paid", "conditions": "covers",
         "after": "record_payment"},
        {"trigger": "RESET", "source": "paid", "dest": "cart", "after": "clear"},
    ]
    Machine(model, states=["cart", "checkout", "paid"], transitions=transitions, initial="cart",
            auto_transitions=False)


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


BUILDERS: dict[str, Callable[[Model], None]] = {
    "counter": _counter, "order": _order, "flat": _flat, "hierarchy": _hierarchy, "parallel": _parallel}


class TransitionsInstance:
    def __init__(self, machine: str) -> None:
        self.machine = machine
        self.model = Model(MACHINES[machine].context)
        BUILDERS[machine](self.model)

    def send(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        self.model.trigger(name, **(data or {}))

    def leaves(self) -> frozenset[str]:
        state = self.model.state
        names = state if isinstance(state, list) else [state]
        # nested names are "p_q_r1_s1": the leaf is the last part
        return frozenset(n.rsplit("_", 1)[-1] for n in names)

    def context(self) -> dict[str, Any]:
        return variables(self.machine, vars(self.model))

    def runner(self, events: Sequence[EventSpec]) -> Callable[[], None]:
        # The per-event trigger methods transitions puts on the model, looked up once.
        prepared = [(getattr(self.model, name), dict(data or {})) for name, data in events]

        def run() -> None:
            for trigger, kwargs in prepared:
                trigger(**kwargs)

        return run


def build(machine: str) -> TransitionsInstance:
    return TransitionsInstance(machine)
