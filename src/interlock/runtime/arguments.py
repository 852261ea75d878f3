"""Checks of the arguments of the embedded API, made before anything reaches the store: a bad argument
gets a ``ValueError`` or ``TypeError`` that names it and says what it must be, never a raw database or
codec error from deep inside (a lone surrogate cannot be stored as UTF-8; SQLite integers are 64-bit).
"""

from __future__ import annotations

import re
from typing import Any

MAX_ID_LENGTH = 256
MAX_STEP = 2**63 - 1  # SQLite's largest integer
MAX_LIMIT = 10_000
_CONTROL = re.compile(r"[\x00-\x1f]")  # what an instance id may not hold (one scan in C, not a generator)


def unencodable(text: str) -> int | None:
    """The index of the first character UTF-8 cannot encode (a lone surrogate), or None."""
    if text.isascii():
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_text(what: str, value: Any, *, empty: bool = False) -> str:
    """``value`` if it is a string the store can keep (UTF-8, not empty unless ``empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__} ({value!r})")
    if not value and not empty:
        raise ValueError(f"{what} must not be empty")
    bad = unencodable(value)
    if bad is not None:
        raise ValueError(f"{what} {value!r} has a lone surrogate ({value[bad]!r} at index {bad}), which "
                         "is not text UTF-8 can store; decode the input with errors='replace' (or fix "
                         "its source)")
    return value


def check_id(what: str, value: Any, *, printable: bool = True) -> str:
    """An instance id (printable) or an idempotency key: text of at most :data:`MAX_ID_LENGTH`."""
    check_text(what, value)
    if len(value) > MAX_ID_LENGTH or (printable and _CONTROL.search(value) is not None):
        kind = " printable" if printable else ""
        raise ValueError(f"{what} must be a non-empty string of at most {MAX_ID_LENGTH}{kind} "
                         f"characters, not {value!r}")
    if "\x00" in value:  # an idempotency key too: PostgreSQL text cannot hold it (a storage failure there)
        raise ValueError(f"{what} must not hold the NUL character, not {value!r}")
    return str(value)


def check_step(what: str, value: Any) -> int:
    """A step number to page from: an int from -1 (before step 0) to SQLite's largest."""
    if type(value) is not int:
        raise TypeError(f"{what} must be an int (a step number; -1 for the start), not "
                        f"{type(value).__name__} ({value!r})")
    if not -1 <= value <= MAX_STEP:
        raise ValueError(f"{what} must be a step number from -1 to {MAX_STEP}, not {value}")
    return value


def check_limit(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(f"limit must be an int, not {type(value).__name__} ({value!r})")
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {value}")
    return value


def check_timeout(value: Any) -> float | None:
    """Seconds to wait: None (no limit) or a finite number >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(value).__name__} ({value!r})")
    if not 0 <= value < float("inf"):
        raise ValueError(f"timeout must be a finite number of seconds >= 0 (or None: no limit), not {value}")
    return float(value)
