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
        cause = exc.__cause__
        raise NotStorable(str(cause or exc)) from exc


def sorted_text(value: Any) -> str:
    """JSON text with keys sorted at every level: equal for equal data, whatever the key order."""
    try:
        return _orjson_dumps(value, default=_refuse, option=_OPTIONS | orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        raise NotStorable(str(exc.__cause__ or exc)) from exc


def check_exact(value: Any) -> bool:
    """Whether ``value`` reads back unchanged once stored (only dicts with string keys, lists, strings,
    finite floats, ints, booleans and None); :class:`NotStorable` for NaN or an infinity anywhere in it.
    Tuples, other keys and other types are for :func:`dumps` to convert or refuse."""
    exact = True
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is float:
            if not math.isfinite(item):
                raise NotStorable(f"{item!r} is not a JSON number (JSON has no NaN or infinity); use None "
                                 "or a string")
        elif kind is dict:
            if exact and not all(type(k) is str for k in item):
                exact = False
            extend(item.values())
        elif kind is list:
            extend(item)
        else:
            exact = False
            if isinstance(item, (tuple, list)):
                extend(item)
            elif isinstance(item, dict):
                extend(item.values())
            elif isinstance(item, float):
                push(float(item))
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
