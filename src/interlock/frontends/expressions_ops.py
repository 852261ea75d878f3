"""The bounded operations behind the safe expression language: every cost is charged to a budget.

A compiled expression gets a fresh :class:`Budget` per evaluation. Anything whose cost grows with the
size of a value (building a list, turning a nested value into text, comparing two lists, iterating) is
charged to it, so one evaluation does a bounded amount of work however it is written. Sizes are counted
as *trees*: ``[L] * 1000`` costs 1,000 to build, but turning it into text costs 1,000 times ``L``,
because a value can reference the same list many times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from interlock.core.datamodel import Scope
from interlock.core.events import Event

MAX_LENGTH = 100_000  # longest string, list or mapping an expression may build
MAX_INT_BITS = 8_192  # largest integer an expression may build (about 2,500 digits)
WORK_LIMIT = 1_000_000  # work units per evaluation (about one per element touched)

EVENT_FIELDS = frozenset(Event._fields)
_SCALARS = frozenset({int, float, str, bool, type(None)})
_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
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
    if kind in _CONTAINERS or kind is str:
        budget.charge(_tree_size(value, {}, budget.left + 1))


def _tree_size(value: Any, memo: dict[int, int], limit: int) -> int:
    kind = type(value)
    if kind is str:
        return 1 + (len(value) >> 3)
    if kind is int:
        return 1 + (value.bit_length() >> 6)
    if kind not in _CONTAINERS:
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
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise EvaluationError(f"the number would have {value.bit_length():,} bits; the limit is {MAX_INT_BITS:,}")
    return value


def _sized(value: Any) -> int:
    kind = type(value)
    return len(value) if kind in _CONTAINERS or kind is str else 0


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
    if type(a) is int and type(b) is int:
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
    if type(a) is int and type(b) is int and abs(a) > 1 and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
        raise EvaluationError(f"{a} ** {b} would exceed {MAX_INT_BITS:,} bits")
    return a**b


def op_mod(budget: Budget, a: Any, b: Any) -> Any:
    if type(a) is str:
        raise EvaluationError("'%' formatting of strings is not available; use an f-string")
    return a % b


def op_lshift(budget: Budget, a: Any, b: Any) -> Any:
    if type(b) is int and type(a) is int and a.bit_length() + b > MAX_INT_BITS:
        raise EvaluationError(f"the shift would exceed {MAX_INT_BITS:,} bits")
    return a << b


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
    if kind in (list, tuple, range):
        deep(budget, item, container)
        return item in container
    raise EvaluationError(f"cannot test membership in a {type(container).__name__}")


# --- text ---------------------------------------------------------------------------------------------


def to_str(budget: Budget, value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) not in _SCALARS:
        if type(value) not in _CONTAINERS and not isinstance(value, Event):
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
    if kind in _CONTAINERS or kind is str:
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


# --- functions available by name ------------------------------------------------------------------------
# Each takes the scope and the budget first; the compiler passes them.

Function = Callable[..., Any]


def _len(scope: Scope, budget: Budget, value: Any) -> int:
    if type(value) in _CONTAINERS or type(value) in (str, range):
        return len(value)
    raise EvaluationError(f"len() of a {type(value).__name__} is not defined")


def _numbers(budget: Budget, value: Any, what: str) -> list[Any]:
    items = materialize(budget, value)
    for item in items:
        if type(item) not in (int, float, bool):
            raise EvaluationError(f"{what}() only works on numbers, got a {type(item).__name__}")
    return items


def _sum(scope: Scope, budget: Budget, value: Any, start: Any = 0) -> Any:
    if type(start) not in (int, float, bool):
        raise EvaluationError("sum() only adds numbers; join strings with ''.join(...)")
    return sum(_numbers(budget, value, "sum"), start)


def _extreme(pick: Callable[..., Any]) -> Function:
    def fn(scope: Scope, budget: Budget, *args: Any, **kwargs: Any) -> Any:
        if set(kwargs) - {"default"}:
            raise EvaluationError(f"{pick.__name__}() accepts only 'default' as a keyword")
        items = materialize(budget, args[0]) if len(args) == 1 else list(args)
        charge_tree(budget, items)
        return pick(items, **kwargs)

    fn.__name__ = pick.__name__
    return fn


def _sorted(scope: Scope, budget: Budget, value: Any, *, reverse: bool = False) -> list[Any]:
    items = materialize(budget, value)
    charge_tree(budget, items)
    budget.charge(len(items) * max(1, len(items).bit_length()))
    return sorted(items, reverse=bool(reverse))


def _any(scope: Scope, budget: Budget, value: Any) -> bool:
    return any(materialize(budget, value))


def _all(scope: Scope, budget: Budget, value: Any) -> bool:
    return all(materialize(budget, value))


def _round(scope: Scope, budget: Budget, value: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > 100):
        raise EvaluationError("round() takes a number of digits between -100 and 100")
    return round(value, ndigits)


def _int(scope: Scope, budget: Budget, value: Any, base: int = 10) -> int:
    if type(value) is str:
        check_length(len(value) * 4, "number")
        return check_int(int(value, base))  # type: ignore[no-any-return]
    if type(value) not in (int, float, bool):
        raise EvaluationError(f"int() of a {type(value).__name__} is not defined")
    return int(value)


def _float(scope: Scope, budget: Budget, value: Any) -> float:
    if type(value) not in (int, float, bool, str):
        raise EvaluationError(f"float() of a {type(value).__name__} is not defined")
    return float(value)


def _range(scope: Scope, budget: Budget, *args: Any) -> range:
    if not all(type(a) is int for a in args):
        raise EvaluationError("range() takes whole numbers")
    return range(*args)


FUNCTIONS: dict[str, Function] = {
    "len": _len,
    "min": _extreme(min),
    "max": _extreme(max),
    "abs": lambda scope, budget, value: abs(value),
    "round": _round,
    "int": _int,
    "float": _float,
    "str": lambda scope, budget, value="": to_str(budget, value),
    "bool": lambda scope, budget, value=False: bool(value),
    "sum": _sum,
    "any": _any,
    "all": _all,
    "sorted": _sorted,
    "list": lambda scope, budget, value=(): materialize(budget, value),
    "range": _range,
    "now": lambda scope, budget: scope.now,
}


# --- methods: a short list per type, none of which can mutate a value or grow one without a check ----


def _join(budget: Budget, sep: str, items: Any) -> str:
    parts = materialize(budget, items)
    if not all(type(p) is str for p in parts):
        raise EvaluationError("join() takes a list of strings; convert items with str() first")
    check_length(sum(map(len, parts)) + len(sep) * len(parts), "joined text")
    return sep.join(parts)


def _replace(budget: Budget, text: str, old: str, new: str, count: int = -1) -> str:
    if type(old) is not str or type(new) is not str:
        raise EvaluationError("replace() takes strings")
    hits = text.count(old) if count < 0 else min(count, text.count(old))
    check_length(len(text) + hits * (len(new) - len(old)), "replaced text")
    return text.replace(old, new, count)


def _split(budget: Budget, text: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    parts = text.split(sep, maxsplit)
    budget.charge(len(parts))
    return parts


def _zfill(budget: Budget, text: str, width: int) -> str:
    check_length(width, "padded text")
    return text.zfill(width)


def _pure(name: str) -> Function:
    """A str method that returns something no larger than its input."""
    def fn(budget: Budget, value: Any, *args: Any) -> Any:
        budget.charge(len(value) >> 3)
        return getattr(value, name)(*args)

    return fn


_STR_METHODS: dict[str, Function] = {
    name: _pure(name)
    for name in ("lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "find",
                 "count", "title", "capitalize", "isdigit", "isalpha", "isalnum", "isspace",
                 "removeprefix", "removesuffix")
}
_STR_METHODS.update(join=_join, replace=_replace, split=_split, zfill=_zfill)


def _dict_get(budget: Budget, mapping: dict[Any, Any], key: Any, default: Any = None) -> Any:
    return mapping.get(hashable(key), default)


def _seq_index(budget: Budget, seq: Any, item: Any) -> int:
    deep(budget, item, seq)
    return seq.index(item)  # type: ignore[no-any-return]


def _seq_count(budget: Budget, seq: Any, item: Any) -> int:
    deep(budget, item, seq)
    return seq.count(item)  # type: ignore[no-any-return]


METHODS: dict[type, dict[str, Function]] = {
    str: _STR_METHODS,
    dict: {
        "get": _dict_get,
        "keys": lambda budget, m: materialize(budget, m),
        "values": lambda budget, m: materialize(budget, list(m.values())),
        "items": lambda budget, m: materialize(budget, list(m.items())),
    },
    list: {"index": _seq_index, "count": _seq_count},
    tuple: {"index": _seq_index, "count": _seq_count},
}


def call_method(budget: Budget, value: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``value.name(*args)``: a whitelisted method; a mapping key of that name is data, never called."""
    if type(value) is dict and name in value:
        raise EvaluationError(f"{name!r} is a key holding a {type(value[name]).__name__}, not a function")
    table = METHODS.get(type(value))
    method = table.get(name) if table else None
    if method is None:
        available = ", ".join(sorted(table)) if table else "none"
        raise EvaluationError(f"{type(value).__name__} has no method {name!r} here (available: {available})")
    return method(budget, value, *args, **kwargs)
