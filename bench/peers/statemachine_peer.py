"""The benchmark shapes in python-statemachine 3.x, as ``StateChart`` classes (SCXML semantics).

Compound and parallel states are nested ``State.Compound`` / ``State.Parallel`` classes; guards and
actions are methods named by ``cond=`` and ``on=``. Events are sent with ``send(name, **data)``; the
library passes the event's keyword arguments to the methods that name them (its dependency injection).
Targetless transitions are ``state.to.itself(internal=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from statemachine import State, StateChart

from bench.core_machines import COUNTER_LIMIT, LIMIT, ORDER_MAX_ITEMS, EventSpec, variables

NAME = "python-statemachine"


class Counter(StateChart):  # type: ignore[misc]
    active = State(initial=True)
    INC = active.to.itself(internal=True, cond="can_add", on="add")

    def __init__(self) -> None:
        self.count = 0
        self.n = 0
        self.limit = COUNTER_LIMIT
        super().__init__()

    def can_add(self, by: int) -> bool:
        return self.count < self.limit and by > 0

    def add(self, by: int) -> None:
        self.count += by
        self.n += 1


class Order(StateChart):  # type: ignore[misc]
    cart = State(initial=True)
    checkout = State()
    paid = State()
    ADD = cart.to.itself(internal=True, cond="priced", on="add_item")
    CHECKOUT = cart.to(checkout, cond="has_total")
    PAY = checkout.to(paid, cond="covers", on="record_payment")
    RESET = paid.to(cart, on="clear")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.total = 0
        self.count = 0
        self.max_items = ORDER_MAX_ITEMS
        self.amount = 0
        super().__init__()

    def priced(self, price: int) -> bool:
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


class Flat(StateChart):  # type: ignore[misc]
    A = State(initial=True)
    B = State()
    C = State()
    NEXT = A.to(B) | B.to(C) | C.to(A)


class Hierarchy(StateChart):  # type: ignore[misc]
    class p(State.Compound):  # lower-case: the class names are the state ids
        class q(State.Compound):
            class r1(State.Compound):
                s1 = State(initial=True)
                s2 = State()

            class r2(State.Compound):
                s3 = State(initial=True)
                s4 = State()

            # Document order matters for selection: children's transitions are tried before r1's/r2's.
            STEP = (
                r1.s1.to(r1.s2, cond="below_limit", on="increment")
                | r1.s2.to(r1.s1, cond="at_limit")
                | r1.to(r2)
                | r2.s3.to(r2.s4, cond="below_limit", on="increment")
                | r2.to(r1)
            )

    def __init__(self) -> None:
        self.count = 0
        super().__init__()

    def below_limit(self) -> bool:
        return self.count < LIMIT

    def at_limit(self) -> bool:
        return self.count >= LIMIT

    def increment(self) -> None:
        self.count += 1


class Parallel(StateChart):  # type: ignore[misc]
    class P(State.Parallel):
        class x(State.Compound):
            x1 = State(initial=True)
            x2 = State()
            EX = x1.to(x2) | x2.to(x1)

        class y(State.Compound):
            y1 = State(initial=True)
            y2 = State()
            EY = y1.to(y2) | y2.to(y1)

        class z(State.Compound):
            z1 = State(initial=True)
            z2 = State()
            EZ = z1.to(z2) | z2.to(z1)


CLASSES: dict[str, type[Any]] = {"counter": Counter, "order": Order, "flat": Flat,
                                 "hierarchy": Hierarchy, "parallel": Parallel}


class StatemachineInstance:
    def __init__(self, machine: str) -> None:
        self.machine = machine
        self.sm = CLASSES[machine]()

    def send(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        self.sm.send(name, **(data or {}))

    def leaves(self) -> frozenset[str]:
        return frozenset(s.id for s in self.sm.configuration if s.is_atomic)

    def context(self) -> dict[str, Any]:
        return variables(self.machine, vars(self.sm))

    def runner(self, events: Sequence[EventSpec]) -> Callable[[], None]:
        send = self.sm.send
        prepared = [(name, dict(data or {})) for name, data in events]

        def run() -> None:
            for name, kwargs in prepared:
                send(name, **kwargs)

        return run


def build(machine: str) -> StatemachineInstance:
    return StatemachineInstance(machine)
