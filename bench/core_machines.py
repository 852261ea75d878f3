"""The three benchmark machines, described once; every implementation builds exactly these.

- ``flat``: A -NEXT-> B -NEXT-> C -NEXT-> A.
- ``hierarchy``: four levels (p > q > r1|r2 > s1..s4) with ``count`` in the context. Event STEP cycles
  s1 -> s2 -> s3 -> s4 -> s1. s1->s2 and s3->s4 are guarded by ``count < LIMIT`` and increment ``count``
  (an assign). s2 has a STEP transition guarded by ``count >= LIMIT`` that never passes, so selection falls
  through to its parent r1, whose STEP goes to r2 (entering r2's initial s3) and crosses levels; r2's
  STEP goes back to r1 (entering s1). Per cycle of 4 events: 2 guards true, 1 guard false, 2 assigns.
- ``parallel``: a parallel state P with three regions x, y, z; each toggles between its two states on its
  own event (EX, EY, EZ).

Every implementation exposes :class:`Instance`; ``tests/bench`` checks they all agree event by event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# Large enough that ``count < LIMIT`` holds for any run: the guard is evaluated, it never flips.
LIMIT = 10**9


@dataclass(frozen=True)
class Machine:
    """A benchmark machine: its name, what it exercises, and one cycle of events that returns it home."""

    name: str
    summary: str
    cycle: tuple[str, ...]
    leaves: tuple[str, ...]  # the atomic states active at start


FLAT = Machine("flat", "3-state cycle", ("NEXT",) * 3, ("A",))
HIERARCHY = Machine("hierarchy", "4 levels, guards, assign, cross-level", ("STEP",) * 4, ("s1",))
PARALLEL = Machine("parallel", "3 parallel regions", ("EX", "EY", "EZ"), ("x1", "y1", "z1"))

MACHINES: dict[str, Machine] = {m.name: m for m in (FLAT, HIERARCHY, PARALLEL)}


class Instance(Protocol):
    """One running machine in one implementation."""

    def send(self, event: str) -> None:
        """Process one event to completion."""

    def leaves(self) -> frozenset[str]:
        """The active atomic states."""

    def count(self) -> int:
        """The ``count`` variable (0 for machines without one)."""

    def runner(self, events: Sequence[str]) -> Callable[[], None]:
        """A callable that processes ``events`` in order, with everything per-event prepared up front."""


def events_for(machine: Machine, at_least: int) -> list[str]:
    """Whole cycles of the machine's events, at least ``at_least`` of them."""
    cycles = -(-at_least // len(machine.cycle))
    return list(machine.cycle) * cycles
