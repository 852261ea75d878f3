"""The functions and methods the safe expression language offers, each bounded by the evaluation budget.

Functions take the scope and the budget first (the compiler passes them); methods take the budget and the
value. None can mutate a value: the context an expression reads belongs to the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interlock.core.datamodel import Budget, Scope
from interlock.frontends.expressions_ops import (
    CONTAINERS,
    EvaluationError,
    charge_sum,
    charge_tree,
    check_int,
    check_length,
    deep,
    hashable,
    materialize,
    search_cost,
    state_id,
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
    rounds = max(1, len(items).bit_length())  # each item is compared about log2(n) times
    if all(type(item) in (int, float, bool) for item in items):
        budget.charge(len(items) * rounds)
    else:  # strings and lists compare element by element: each comparison may touch a whole item
        before = budget.left
        charge_tree(budget, items)
        budget.charge((before - budget.left) * (rounds - 1))
    return sorted(items, reverse=bool(reverse))


def _any(scope: Scope, budget: Budget, value: Any) -> bool:
    return any(materialize(budget, value))


def _all(scope: Scope, budget: Budget, value: Any) -> bool:
    return all(materialize(budget, value))


def _number(value: Any, what: str) -> Any:
    if type(value) not in (int, float, bool):
        raise EvaluationError(f"{what}() takes a number, not a {type(value).__name__}")
    return value


def _abs(scope: Scope, budget: Budget, value: Any) -> Any:
    charge_sum(budget, _number(value, "abs"), 0)  # abs(-big) is a new number as large
    return abs(value)


def _round(scope: Scope, budget: Budget, value: Any, ndigits: int | None = None) -> Any:
    if ndigits is not None and (type(ndigits) is not int or abs(ndigits) > 100):
        raise EvaluationError("round() takes a number of digits between -100 and 100")
    if ndigits is not None and type(value) is float:
        budget.charge(abs(ndigits))  # a float is rounded through its decimal digits: round(1e300, -100) is 10 us
    return round(_number(value, "round"), ndigits)


def _int(scope: Scope, budget: Budget, value: Any, base: int = 10) -> int:
    if type(value) is str:
        check_length(len(value) * 4, "number")
        budget.charge((len(value) >> 4) ** 2)  # decimal text -> int is quadratic in its length
        return check_int(int(value, base))  # type: ignore[no-any-return]
    if type(value) not in (int, float, bool):
        raise EvaluationError(f"int() of a {type(value).__name__} is not defined")
    return int(value)


def _float(scope: Scope, budget: Budget, value: Any) -> float:
    if type(value) not in (int, float, bool, str):
        raise EvaluationError(f"float() of a {type(value).__name__} is not defined")
    if type(value) is str:
        budget.charge(len(value) >> 3)
    return float(value)


def _range(scope: Scope, budget: Budget, *args: Any) -> range:
    if not all(type(a) is int for a in args):
        raise EvaluationError("range() takes whole numbers")
    return range(*args)


FUNCTIONS: dict[str, Function] = {
    "len": _len,
    "min": _extreme(min),
    "max": _extreme(max),
    "abs": _abs,
    "round": _round,
    "int": _int,
    "float": _float,
    "str": lambda scope, budget, value="": to_str(budget, value),
    "bool": lambda scope, budget, value=False: bool(value),  # truth of every allowed value is O(1)
    "sum": _sum,
    "any": _any,
    "all": _all,
    "sorted": _sorted,
    "list": lambda scope, budget, value=(): materialize(budget, value),
    "range": _range,
    "now": lambda scope, budget: scope.now,
}


def computed_in(scope: Scope, budget: Budget, value: Any) -> bool:
    """``In(<expression>)``: only a string of bounded length is looked up; nothing is turned into text."""
    return scope.In(state_id(budget, value))


# --- methods: a short list per type; each charges a bound on its real work before doing it -----------


def _text(value: Any, what: str) -> str:
    if type(value) is not str:
        raise EvaluationError(f"{what} takes a string, not a {type(value).__name__}")
    return value


def _join(budget: Budget, sep: str, items: Any) -> str:
    parts = materialize(budget, items)
    if not all(type(p) is str for p in parts):
        raise EvaluationError("join() takes a list of strings; convert items with str() first")
    n = sum(map(len, parts)) + len(sep) * len(parts)
    check_length(n, "joined text")
    budget.charge(n >> 3)
    return sep.join(parts)


def _replace(budget: Budget, text: str, old: str, new: str, count: int = -1) -> str:
    _text(old, "replace()"), _text(new, "replace()")
    if type(count) is not int:
        raise EvaluationError("replace() takes a whole number as its count")
    budget.charge(search_cost(text, old))
    hits = text.count(old) if count < 0 else min(count, text.count(old))
    n = len(text) + hits * (len(new) - len(old)) if old else len(text) + (len(text) + 1) * len(new)
    check_length(n, "replaced text")
    budget.charge(n >> 3)
    return text.replace(old, new, count)


def _split(budget: Budget, text: str, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    if sep is not None:
        budget.charge(search_cost(text, _text(sep, "split()")))
    if type(maxsplit) is not int:
        raise EvaluationError("split() takes a whole number as maxsplit")
    budget.charge(len(text) >> 3)
    parts = text.split(sep, maxsplit)
    budget.charge(len(parts))
    return parts


def _zfill(budget: Budget, text: str, width: int) -> str:
    if type(width) is not int:
        raise EvaluationError("zfill() takes a whole number")
    check_length(width, "padded text")
    budget.charge(max(width, len(text)) >> 3)
    return text.zfill(width)


def _scan(name: str) -> Function:
    """A str method that reads the string once and returns something no larger (a test, a case change
    that cannot grow: see _case)."""
    def fn(budget: Budget, value: str) -> Any:
        budget.charge(1 + (len(value) >> 3))
        return getattr(value, name)()

    return fn


def _case(name: str) -> Function:
    """upper(), lower(), title()...: one character may become three ('ß'.upper() is 'SS', 'ﬃ' is 'FFI'),
    so the worst-case size is checked before the result is built."""
    def fn(budget: Budget, value: str) -> Any:
        if not value.isascii():  # isascii() is O(1) in CPython; ASCII text keeps its length
            check_length(len(value) * 3, f"result of {name}()")
        budget.charge(1 + len(value))
        return getattr(value, name)()

    return fn


def _strip(name: str) -> Function:
    """strip(chars) tests every stripped character against every char: len(s) x len(chars)."""
    def fn(budget: Budget, value: str, chars: str | None = None) -> Any:
        width = 1 if chars is None else len(_text(chars, f"{name}()")) + 1
        budget.charge(1 + ((len(value) * width) >> 3))
        return getattr(value, name)(chars)

    return fn


def _affix(name: str) -> Function:
    """startswith/endswith (a string or a tuple of strings), removeprefix/removesuffix."""
    def fn(budget: Budget, value: str, affix: Any, *bounds: Any) -> Any:
        if bounds and (name.startswith("remove") or not all(type(b) is int or b is None for b in bounds)):
            raise EvaluationError(f"{name}() takes start and end positions as whole numbers")
        options = affix if type(affix) is tuple else (affix,)
        budget.charge(1 + len(options))
        for option in options:
            budget.charge(1 + (min(len(_text(option, f"{name}()")), len(value)) >> 3))
        return getattr(value, name)(affix, *bounds)

    return fn


def _search(name: str) -> Function:
    """find/count/index: a substring search, charged by :func:`search_cost`."""
    def fn(budget: Budget, value: str, needle: Any, *bounds: Any) -> Any:
        if not all(type(b) is int or b is None for b in bounds):
            raise EvaluationError(f"{name}() takes start and end positions as whole numbers")
        budget.charge(search_cost(value, _text(needle, f"{name}()")))
        return getattr(value, name)(needle, *bounds)

    return fn


_STR_METHODS: dict[str, Function] = {
    **{name: _scan(name) for name in ("isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower")},
    **{name: _case(name) for name in ("lower", "upper", "title", "capitalize", "swapcase", "casefold")},
    **{name: _strip(name) for name in ("strip", "lstrip", "rstrip")},
    **{name: _affix(name) for name in ("startswith", "endswith", "removeprefix", "removesuffix")},
    **{name: _search(name) for name in ("find", "rfind", "count")},
    "join": _join, "replace": _replace, "split": _split, "zfill": _zfill,
}


def _view(budget: Budget, mapping: dict[Any, Any], view: Callable[[], Any]) -> list[Any]:
    """``values()`` / ``items()`` as a list, checked and charged before it is built."""
    check_length(len(mapping), "list")
    budget.charge(len(mapping))
    return list(view())


def _dict_get(budget: Budget, mapping: dict[Any, Any], key: Any, default: Any = None) -> Any:
    if type(key) is str:
        budget.charge(len(key) >> 3)
    return mapping.get(hashable(key), default)


def _seq_index(budget: Budget, seq: Any, item: Any) -> int:
    deep(budget, item, seq)
    if type(item) is str:
        budget.charge(len(seq) * (1 + (len(item) >> 3)))
    return seq.index(item)  # type: ignore[no-any-return]


def _seq_count(budget: Budget, seq: Any, item: Any) -> int:
    deep(budget, item, seq)
    if type(item) is str:
        budget.charge(len(seq) * (1 + (len(item) >> 3)))
    return seq.count(item)  # type: ignore[no-any-return]


METHODS: dict[type, dict[str, Function]] = {
    str: _STR_METHODS,
    dict: {
        "get": _dict_get,
        "keys": lambda budget, m: materialize(budget, m),
        "values": lambda budget, m: _view(budget, m, m.values),
        "items": lambda budget, m: _view(budget, m, m.items),
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
