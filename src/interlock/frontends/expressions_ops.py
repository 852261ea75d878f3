"""The bounded operations behind the safe expression language: every cost is charged to a budget.

A compiled expression gets a fresh :class:`Budget` per evaluation. Anything whose cost grows with the
size of a value (building a list, turning a nested value into text, comparing two lists, iterating) is
charged to it, so one evaluation does a bounded amount of work however it is written. Sizes are counted
as *trees*: ``[L] * 1000`` costs 1,000 to build, but turning it into text costs 1,000 times ``L``,
because a value can reference the same list many times.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from interlock.core.events import Event

MAX_LENGTH = 100_000  # longest string, list or mapping an expression may build
MAX_INT_BITS = 8_192  # largest integer an expression may build (about 2,500 digits)
WORK_LIMIT = 1_000_000  # work units per evaluation (about one per element touched)

EVENT_FIELDS = frozenset(Event._fields)
_SCALARS = frozenset({int, float, str, bool, type(None)})
CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_FLAT = frozenset({float, bool, type(None)})


class EvaluationError(Exception):
    """An expression failed while it ran (a missing key, a wrong type, a limit). Becomes error.execution."""


class Budget:
    """The work left for one evaluation, plus the variables bound by comprehensions."""

    __slots__ = ("left", "locals")

    def __init__(self) -> None:
        self.left = WORK_LIMIT
        self.locals: dict[str, Any] = {}

    def charge(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise EvaluationError(f"the expression does too much work (over {WORK_LIMIT:,} units); "
                                  "simplify it or move the computation into a Python action")


def charge_tree(budget: Budget, value: Any) -> None:
    """Charge the full size of ``value``: containers by every element, recursively; strings by length.

    The size is of the value written out as a tree, computed over the shared structure with a memo, so
    ``[L] * 1000`` is measured in time proportional to ``1000 + len(L)`` but charged ``1000 * len(L)``.
    """
    kind = type(value)
    if kind in CONTAINERS or kind is str or kind is Event:
        budget.charge(_tree_size(value, {}, budget.left + 1))


def _tree_size(value: Any, memo: dict[int, int], limit: int) -> int:
    kind = type(value)
    if kind is str:
        return 1 + (len(value) >> 3)
    if kind is int:
        return 1 + (int(value).bit_length() >> 6)
    if kind is Event:
        # an event is text like a tuple: str(event) writes out its data, which may be shared structure
        return 1 + sum(_tree_size(field, memo, limit) for field in value)
    if kind not in CONTAINERS:
        return 1
    known = memo.get(id(value))
    if known is not None:
        return known
    total = 1
    for item in (value if kind is not dict else [*value.keys(), *value.values()]):
        total += 1 if type(item) in _FLAT else _tree_size(item, memo, limit)
        if total > limit:
            break  # already over: the caller's charge fails, no need to measure the rest
    memo[id(value)] = total
    return total


def check_length(n: int, what: str = "value") -> None:
    if n > MAX_LENGTH:
        raise EvaluationError(f"the {what} would have {n:,} elements; the limit is {MAX_LENGTH:,}")


def check_int(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise EvaluationError(f"the number would have {value.bit_length():,} bits; the limit is {MAX_INT_BITS:,}")
    return value


def _sized(value: Any) -> int:
    kind = type(value)
    return len(value) if kind in CONTAINERS or kind is str else 0


# --- attribute and item access -----------------------------------------------------------------------


def get_attr(value: Any, name: str) -> Any:
    """``value.name``: a key of a mapping, or a field of the event (with ``event.x`` meaning ``event.data.x``)."""
    if type(value) is dict:
        try:
            return value[name]
        except KeyError:
            raise EvaluationError(f"no key {name!r} (keys: {_keys(value)})") from None
    if isinstance(value, Event):
        if name in EVENT_FIELDS:
            return getattr(value, name)
        if isinstance(value.data, dict) and name in value.data:
            return value.data[name]
        raise EvaluationError(f"the event {value.name!r} has no field or data key {name!r}")
    if value is None:
        raise EvaluationError(f"cannot read {name!r} of None")
    raise EvaluationError(f"cannot read attribute {name!r} of a {type(value).__name__}: "
                          "only mapping keys and event fields can be read")


def _keys(mapping: dict[Any, Any]) -> str:
    keys = list(mapping)[:8]
    return ", ".join(repr(k) for k in keys) + (", ..." if len(mapping) > 8 else "") or "none"


def get_item(budget: Budget, value: Any, key: Any) -> Any:
    kind = type(value)
    if kind is dict:
        if type(key) not in _SCALARS:
            raise EvaluationError(f"mapping keys must be strings or numbers, not {type(key).__name__}")
        return value[key]
    if kind in (list, tuple, str):
        if type(key) is slice:
            result = value[key]
            budget.charge(len(result))
            return result
        return value[key]
    if isinstance(value, Event) and key in EVENT_FIELDS:
        return getattr(value, key)
    raise EvaluationError(f"cannot index a {type(value).__name__}")


# --- operators ----------------------------------------------------------------------------------------


def op_add(budget: Budget, a: Any, b: Any) -> Any:
    if type(a) in _SCALARS and type(a) is not str and type(b) in _SCALARS:
        return a + b
    n = _sized(a) + _sized(b)
    check_length(n, "result of +")
    budget.charge(n)
    return a + b


def op_mul(budget: Budget, a: Any, b: Any) -> Any:
    # isinstance, not type(): a bool is an int (True << n is 1 << n), and must meet the same size checks
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise EvaluationError(f"the product would exceed {MAX_INT_BITS:,} bits")
        return a * b
    if type(b) in (list, tuple, str):
        a, b = b, a
    if type(a) in (list, tuple, str) and type(b) in (int, bool):
        n = len(a) * max(b, 0)
        check_length(n, "repeated sequence")
        budget.charge(n)
    return a * b


def op_pow(budget: Budget, a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
        raise EvaluationError(f"{a} ** {b} would exceed {MAX_INT_BITS:,} bits")
    return check_int(a**b)


def op_mod(budget: Budget, a: Any, b: Any) -> Any:
    if type(a) is str:
        raise EvaluationError("'%' formatting of strings is not available; use an f-string")
    return a % b


def op_lshift(budget: Budget, a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b > MAX_INT_BITS:
        raise EvaluationError(f"the shift would exceed {MAX_INT_BITS:,} bits")
    return check_int(a << b)


def op_bitor(budget: Budget, a: Any, b: Any) -> Any:
    budget.charge(_sized(a) + _sized(b))
    return a | b


def deep(budget: Budget, a: Any, b: Any) -> None:
    """Charge what comparing ``a`` with ``b`` may cost when either is a container."""
    if type(a) not in _SCALARS:
        charge_tree(budget, a)
    if type(b) not in _SCALARS:
        charge_tree(budget, b)


def op_contains(budget: Budget, item: Any, container: Any) -> bool:
    kind = type(container)
    if kind is str:
        if type(item) is not str:
            raise EvaluationError(f"'in <string>' needs a string on the left, not {type(item).__name__}")
        budget.charge((len(container) + len(item)) >> 3)
        return item in container
    if kind is dict or kind is set or kind is frozenset:
        if type(item) not in _SCALARS:
            raise EvaluationError("only strings and numbers can be looked up in a mapping or set")
        return item in container
    if kind is range:
        # CPython answers 'int in range' in constant time but scans the whole range for anything else
        if not isinstance(item, int):
            raise EvaluationError(f"'in range(...)' needs an integer on the left, not {type(item).__name__}")
        return item in container
    if kind is list or kind is tuple:
        deep(budget, item, container)
        return item in container
    raise EvaluationError(f"cannot test membership in a {type(container).__name__}")


# --- text ---------------------------------------------------------------------------------------------


def to_str(budget: Budget, value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) not in _SCALARS:
        if type(value) not in CONTAINERS and not isinstance(value, Event):
            raise EvaluationError(f"cannot turn a {type(value).__name__} into text")
        charge_tree(budget, value)
    text = str(value)
    check_length(len(text), "text")
    return text


def to_repr(budget: Budget, value: Any) -> str:
    to_str(budget, value)  # same checks and charges
    return repr(value)


def iterate(budget: Budget, value: Any) -> Iterable[Any]:
    """The items of a value that may be iterated: list, tuple, set, mapping (its keys), string, range."""
    kind = type(value)
    if kind in CONTAINERS or kind is str:
        return value  # type: ignore[no-any-return]
    if kind is range:
        return value  # type: ignore[no-any-return]
    raise EvaluationError(f"cannot iterate over a {type(value).__name__}")


def materialize(budget: Budget, value: Any) -> list[Any]:
    kind = type(value)
    if kind is range:
        check_length(len(value), "range")
    items = list(iterate(budget, value))
    budget.charge(len(items))
    return items


def hashable(value: Any) -> Any:
    if type(value) not in _SCALARS:
        raise EvaluationError(f"mapping keys and set items must be strings or numbers, not {type(value).__name__}")
    return value
