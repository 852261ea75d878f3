"""JSON as the stores write it: compact UTF-8 text, encoded with orjson (about 8x faster than the
standard library on snapshots, which the writer encodes once per step).

Only values that come back exactly as they went in are stored. Integers beyond 64 bits raise
``ValueError`` (send them as strings). NaN and the infinities, which JSON has no numbers for, are
refused by :func:`encode_exact` and :func:`check_exact`, which every value from outside (event data, inputs,
task results) and every value a step produces (context changes, output, effects) passes through;
orjson alone would write them as ``null`` and silently change the data. Non-string keys are turned
into strings, as ``json`` does; anything else that is not JSON raises ``TypeError``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_orjson_dumps = orjson.dumps
loads = orjson.loads


class NotStorable(TypeError, ValueError):
    """A value the store cannot keep exactly: not JSON, NaN, an infinity, an integer beyond 64 bits."""


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Compact JSON text; :class:`NotStorable` for values that are not JSON."""
    try:
        return _orjson_dumps(value, default=_refuse, option=_OPTIONS).decode()
    except orjson.JSONEncodeError as exc:
        if "64-bit" in str(exc):
            raise NotStorable("an integer does not fit in 64 bits; store it as a string") from exc
        raise NotStorable(_reason(exc)) from exc


def sorted_text(value: Any) -> str:
    """JSON text with keys sorted at every level: equal for equal data, whatever the key order."""
    try:
        return _orjson_dumps(value, default=_refuse, option=_OPTIONS | orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        raise NotStorable(_reason(exc)) from exc


def _reason(exc: orjson.JSONEncodeError) -> str:
    if "Recursion limit" in str(exc):
        return (f"the value is nested more than {MAX_DEPTH} levels deep, or contains itself (a list or "
                "dict inside itself); store a flat copy")
    return str(exc.__cause__ or exc)


# orjson refuses values nested deeper than this; a value that contains itself is infinitely deep
MAX_DEPTH = 254
# after this many items, :func:`check_exact` walks again counting depth and size: a value that contains
# itself or shares one list a million ways (a DAG whose expansion is huge) must be refused, not hang
_FAST_ITEMS = 100_000
MAX_ITEMS = 4_000_000


def check_exact(value: Any) -> bool:
    """Whether ``value`` reads back unchanged once stored (only dicts with string keys, lists, strings,
    finite floats, ints, booleans and None); :class:`NotStorable` for NaN or an infinity anywhere in it,
    a value that contains itself, one nested more than :data:`MAX_DEPTH` levels or with more than
    :data:`MAX_ITEMS` items. Tuples, other keys and other types are for :func:`dumps` to convert or refuse."""
    exact = True
    stack = [value]
    pop, extend = stack.pop, stack.extend
    budget = _FAST_ITEMS
    while stack:
        budget -= 1
        if not budget:  # large, or cyclic: walk again with the depth and size counted
            return _check_bounded(value)
        item = pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            _check_float(item)
        elif kind is dict:
            if exact and not all(type(k) is str for k in item):
                exact = False
            extend(item.values())
        elif kind is list:
            extend(item)
        else:
            exact = False
            extend(_children(item))
    return exact


def _check_float(item: float) -> None:
    if not math.isfinite(item):
        raise NotStorable(f"{item!r} is not a JSON number (JSON has no NaN or infinity); use None "
                          "or a string")


def _children(item: Any) -> Any:
    """What :func:`dumps` will write inside ``item`` (a subclass or a tuple); () for a leaf."""
    if isinstance(item, (tuple, list)):
        return item
    if isinstance(item, dict):
        return item.values()
    if isinstance(item, float):
        _check_float(float(item))
    return ()


def _check_bounded(value: Any) -> bool:
    """:func:`check_exact` for large values: the same answer, with cycles, depth and size refused."""
    exact = True
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    items = 0
    while stack:
        item, depth = pop()
        items += 1
        if items > MAX_ITEMS:
            raise NotStorable(f"the value has more than {MAX_ITEMS:,} items (or shares one list or dict "
                              "very many times); store large data outside the instance")
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            _check_float(item)
            continue
        if depth >= MAX_DEPTH:
            raise NotStorable(f"the value is nested more than {MAX_DEPTH} levels deep, or contains "
                              "itself (a list or dict inside itself); store a flat copy")
        if kind is dict:
            exact = exact and all(type(k) is str for k in item)
            children: Any = item.values()
        elif kind is list:
            children = item
        else:
            exact = False
            children = _children(item)
        for child in children:
            push((child, depth + 1))
    return exact


def encode_exact(value: Any) -> tuple[Any, str]:
    """``(value as the store will give it back, its JSON text)``; :class:`NotStorable` if it cannot be
    stored exactly (not JSON, NaN, infinities, integers beyond 64 bits)."""
    exact = check_exact(value)
    text = dumps(value)  # refuses what is not JSON at all
    return (value if exact else loads(text)), text


def canonical(value: Any) -> Any:
    """``value`` as it will be read back from the store (see :func:`encode_exact`)."""
    return encode_exact(value)[0]
