"""Values that leave a step: copied when they are taken, as SCXML evaluates them (6.2.4: a send's data
is evaluated when the send executes), so a later action of the same step cannot change them.
"""

from __future__ import annotations

import copy
from typing import Any

# as deep as the store will keep (orjson's limit); a value that contains itself is infinitely deep
MAX_DEPTH = 254
_SCALARS = (str, int, float, bool, type(None))


def detached(value: Any) -> Any:
    """A deep copy of ``value``: dicts and lists copied level by level, scalars shared, anything else
    through :func:`copy.deepcopy`. ``ValueError`` for a value nested more than :data:`MAX_DEPTH`
    levels or that contains itself."""
    return _copy(value, 0)


def _copy(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth >= MAX_DEPTH:
        raise ValueError(f"the value is nested more than {MAX_DEPTH} levels deep, or contains itself (a "
                         "list or dict inside itself): events and outputs must be JSON data")
    if kind is dict:
        return {k: _copy(v, depth + 1) for k, v in value.items()}
    if kind is list:
        return [_copy(v, depth + 1) for v in value]
    if kind is tuple:
        return tuple(_copy(v, depth + 1) for v in value)
    return copy.deepcopy(value)
