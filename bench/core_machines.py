"""The benchmark shapes, described once; every implementation builds exactly these.

Realistic shapes (guards and assignments read the event's data; the step's memo never serves them):

- ``counter``: one state. ``INC {by}`` guarded by ``count < limit and event.by > 0`` assigns
  ``count + event.by`` and ``n + 1``; every 7th event has ``by: 0`` and is ignored (its guard fails).
- ``order``: ``cart -> checkout -> paid``. Ten ``ADD {sku, price, qty}`` in the cart, guarded by
  ``event.price > 0 and count < max_items``, assign ``items + [event.sku]``,
  ``total + event.price * event.qty`` and ``count + 1`` (three of the ten have price 0 and are
  ignored); ``CHECKOUT`` guarded by ``total > 0``; ``PAY {amount}`` guarded by
  ``event.amount >= total`` assigns ``amount``; ``RESET`` goes back to the cart and clears
  ``items``, ``total`` and ``count``. (``max_items``, not the issue's ``max``: in the expression
  language ``max`` is the built-in function.)

Memoized shapes (no guard, action or effect on most steps, so the step's memo serves them):

- ``flat``: A -NEXT-> B -NEXT-> C -NEXT-> A.
- ``hierarchy``: four levels (p > q > r1|r2 > s1..s4) with ``count`` in the context. Event STEP cycles
  s1 -> s2 -> s3 -> s4 -> s1. s1->s2 and s3->s4 are guarded by ``count < LIMIT`` and increment ``count``
  (an assign). s2 has a STEP transition guarded by ``count >= LIMIT`` that never passes, so selection
  falls through to its parent r1, whose STEP goes to r2 (entering r2's initial s3) and crosses levels;
  r2's STEP goes back to r1 (entering s1). Per cycle of 4 events: 2 guards true, 1 false, 2 assigns.
  Three events of four evaluate something, so the memo serves only the fourth.
- ``parallel``: a parallel state P with three regions x, y, z; each toggles between its two states on
  its own event (EX, EY, EZ).

Every implementation exposes :class:`Instance`; ``tests/bench`` checks they all agree event by event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Large enough that ``count < LIMIT`` holds for any run: the guard is evaluated, it never flips.
LIMIT = 10**9
# The counter's ``limit``: ``count`` grows by up to 3 per event, so this holds for any run too.
COUNTER_LIMIT = 10**15
ORDER_MAX_ITEMS = 10

EventSpec = tuple[str, Mapping[str, Any] | None]  # an event's name and its data (None: no data)


@dataclass(frozen=True)
class Machine:
    """A benchmark shape: its name, what it exercises, and one cycle of events that returns it home."""

    name: str
    summary: str
    cycle: tuple[EventSpec, ...]
    leaves: tuple[str, ...]  # the atomic states active at start
    context: Mapping[str, Any]  # the context at start (the variables every implementation reports)
    memo: str  # what the step's memo serves on this shape
    realistic: bool


def _plain(*names: str) -> tuple[EventSpec, ...]:
    return tuple((name, None) for name in names)


def _counter_cycle() -> tuple[EventSpec, ...]:
    return tuple(("INC", {"by": by}) for by in (1, 2, 3, 1, 2, 3, 0))


# (sku, price, qty): prices in cents, three of them 0 (ignored by the guard)
ORDER_LINES = (("a", 250, 1), ("b", 0, 2), ("c", 1200, 1), ("d", 99, 3), ("e", 0, 1),
               ("f", 450, 2), ("g", 75, 4), ("h", 0, 1), ("i", 1999, 1), ("j", 320, 2))
ORDER_TOTAL = sum(price * qty for _, price, qty in ORDER_LINES)


def _order_cycle() -> tuple[EventSpec, ...]:
    adds = tuple(("ADD", {"sku": s, "price": p, "qty": q}) for s, p, q in ORDER_LINES)
    return (*adds, ("CHECKOUT", None), ("PAY", {"amount": ORDER_TOTAL}), ("RESET", None))


COUNTER = Machine("counter", "1 state, guard + 2 assigns on event data", _counter_cycle(), ("active",),
                  {"count": 0, "n": 0, "limit": COUNTER_LIMIT}, "no step", True)
ORDER = Machine("order", "cart/checkout/paid, list append, guards on event data", _order_cycle(),
                ("cart",), {"items": [], "total": 0, "count": 0, "max_items": ORDER_MAX_ITEMS,
                            "amount": 0}, "no step", True)
FLAT = Machine("flat", "3-state cycle", _plain("NEXT", "NEXT", "NEXT"), ("A",), {},
               "every step", False)
HIERARCHY = Machine("hierarchy", "4 levels, guards, assign, cross-level", _plain(*["STEP"] * 4),
                    ("s1",), {"count": 0}, "1 step in 4", False)
PARALLEL = Machine("parallel", "3 parallel regions", _plain("EX", "EY", "EZ"), ("x1", "y1", "z1"), {},
                   "every step", False)

MACHINES: dict[str, Machine] = {m.name: m for m in (COUNTER, ORDER, FLAT, HIERARCHY, PARALLEL)}


class Instance(Protocol):
    """One running machine in one implementation."""

    def send(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Process one event to completion."""

    def leaves(self) -> frozenset[str]:
        """The active atomic states."""

    def context(self) -> dict[str, Any]:
        """The shape's variables (the keys of :attr:`Machine.context`), lists as lists."""

    def runner(self, events: Sequence[EventSpec]) -> Callable[[], None]:
        """A callable that processes ``events`` in order, with everything per-event prepared up front."""


def events_for(machine: Machine, at_least: int) -> list[EventSpec]:
    """Whole cycles of the machine's events, at least ``at_least`` of them."""
    cycles = -(-at_least // len(machine.cycle))
    return list(machine.cycle) * cycles


def variables(machine: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The shape's variables out of ``values`` (an implementation's context or model attributes)."""
    return {key: (list(values[key]) if isinstance(values[key], (list, tuple)) else values[key])
            for key in MACHINES[machine].context}
