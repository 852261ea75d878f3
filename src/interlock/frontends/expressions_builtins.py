"""The functions and methods the safe expression language offers, each bounded by the evaluation budget.

Functions take the scope and the budget first (the compiler passes them); methods take the budget and the
value. None can mutate a value: the context an expression reads belongs to the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interlock.core.datamodel import Scope
from interlock.frontends.expressions_ops import (
    CONTAINERS,
    Budget,
    EvaluationError,
    charge_tree,
    check_int,
    check_length,
    deep,
    hashable,
    materialize,
    to_str,
)

Function = Callable[..., Any]


def _len(scope: Scope, budget: Budget, value: Any) -> int:
    if type(value) in CONTAINERS or type(value) in (str, range):
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
