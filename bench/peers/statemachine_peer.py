"""The benchmark machines in python-statemachine 3.x, as ``StateChart`` classes (SCXML semantics).

Compound and parallel states are nested ``State.Compound`` / ``State.Parallel`` classes; guards and the
assign are methods named by ``cond=`` and ``on=``. Events are sent with ``send(name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from statemachine import State, StateChart

from bench.core_machines import LIMIT

NAME = "python-statemachine"


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


CLASSES: dict[str, type[Any]] = {"flat": Flat, "hierarchy": Hierarchy, "parallel": Parallel}


class StatemachineInstance:
    def __init__(self, machine: str) -> None:
        self.sm = CLASSES[machine]()

    def send(self, event: str) -> None:
        self.sm.send(event)

    def leaves(self) -> frozenset[str]:
        return frozenset(s.id for s in self.sm.configuration if s.is_atomic)

    def count(self) -> int:
        return int(getattr(self.sm, "count", 0))

    def runner(self, events: Sequence[str]) -> Callable[[], None]:
        send = self.sm.send
        names = list(events)

        def run() -> None:
            for name in names:
                send(name)

        return run


def build(machine: str) -> StatemachineInstance:
    return StatemachineInstance(machine)
