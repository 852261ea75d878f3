"""The bounded operations behind the safe expression language: every cost is charged to the step's budget.

Compiled expressions (see :mod:`~interlock.frontends.expressions_compiler`) do cheap things inline (compare or
add two numbers, read a context key) and call these helpers for everything whose cost can grow with its
operands. Each helper charges the :class:`~interlock.core.datamodel.Budget` of the step *before* it does the
work, by a bound on that work's time and memory, and checks sizes before a result is built. Operand types
are matched exactly (``type(x) is list``), never with ``isinstance``: a subclass (an ``Event`` is a tuple)
is refused unless a rule names it.

One work unit is about one element touched by Python code, or eight characters handled by C code. Sizes
are counted as *trees*: ``[L] * 1000`` costs 1,000 to build, but turning it into text costs 1,000 times
``L``, because a value can reference the same list many times.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from typing import Any

from interlock.core.datamodel import Budget
from interlock.core.events import Event

MAX_LENGTH = 100_000  # longest string, list or mapping an expression may build
MAX_INT_BITS = 8_192  # largest integer an expression may build (about 2,500 digits)
MAX_KEY_INT = 2**61 - 2  # number keys of sets and mappings: below this, distinct numbers hash apart
MAX_STATE_ID = 1_000  # longest computed state id In() accepts
# what a container costs beyond its elements, measured or touched: about a microsecond of Python per container
# (a memo lookup, a test of its items' types), where a unit is some 60 ns. Counted as one unit, a list of
# 100,000 empty lists compared nine times ran 1 s of CPU on one budget
CONTAINER_COST = 16

EVENT_FIELDS = frozenset(Event._fields)
NUMBERS = frozenset({int, float, bool})
SCALARS = frozenset({int, float, str, bool, type(None)})
CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
SEQUENCES = frozenset({list, tuple, str})
_FLAT = frozenset({float, bool, type(None)})
_INTS = frozenset({int, bool})
_STRS = {str}


class EvaluationError(Exception):
    """An expression failed while it ran (a missing key, a wrong type, a limit). Becomes error.execution."""


def charge_tree(budget: Budget, value: Any) -> None:
    """Charge the full size of ``value``: containers by every element, recursively; strings by length.

    The size is of the value written out as a tree, computed over the shared structure with a memo, so
    ``[L] * 1000`` is measured in time proportional to ``1000 + len(L)`` but charged ``1000 * len(L)``.
    A container counts :data:`CONTAINER_COST` besides its elements: measuring it costs that much.
    """
    kind = type(value)
    if kind in CONTAINERS or kind is str or kind is Event:
        budget.charge(_tree_size(value, {}, budget.left + 1))


def _tree_size(value: Any, memo: dict[int, int], limit: float) -> int:
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
    total = CONTAINER_COST
    for items in ((value,) if kind is not dict else (value.keys(), value.values())):
        flat = _flat_size(items)
        if flat is not None:  # the common case, measured at C speed: measuring must cost less than it charges
            total += flat
            continue
        for item in items:
            total += 1 if type(item) in _FLAT else _tree_size(item, memo, limit)
            if total > limit:
                break  # already over: the caller's charge fails, no need to measure the rest
    memo[id(value)] = total
    return total


def _flat_size(items: Any) -> int | None:
    """The size of a collection of scalars of one kind (numbers, or strings), or None for anything else."""
    types = set(map(type, items))
    if types <= _FLAT:
        return len(items)
    if types <= _INTS:
        return len(items) + (sum(map(int.bit_length, items)) >> 6)
    if types == _STRS:
        return len(items) + (sum(map(len, items)) >> 3)
    return None


def charge_text(budget: Budget, value: Any) -> bool:
    """Charge the text of a plain value an assignment stores without measuring it (a string, or a short list
    of plain items): a unit per 8 characters, as building it would. What a step stores is bounded by its
    budget this way: the snapshot is written out as JSON after the step, and 1,000 keys assigned one
    100,000-character string each made 100 MB of it (a document may assign tens of thousands of keys).
    Returns True: it stands in the plain tests of compiled assignments."""
    if type(value) is str:
        n = len(value)
    else:
        try:
            n = sum(map(len, value))  # strings only, the usual list: at C speed
        except TypeError:  # numbers, booleans or None among them
            n = sum(len(item) for item in value if type(item) is str)
    if n >= 8:
        budget.charge(n >> 3)
    return True


def check_length(n: int, what: str = "value") -> None:
    if n > MAX_LENGTH:
        raise EvaluationError(f"the {what} would have {n:,} elements; the limit is {MAX_LENGTH:,}")


def check_int(value: Any) -> Any:
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise EvaluationError(f"the number would have {value.bit_length():,} bits; the limit is {MAX_INT_BITS:,}")
    return value


PLAIN = frozenset({str, float, bool, type(None)})  # a flat list of these is storable as it is
def _kind(value: Any) -> str:
    return type(value).__name__


# --- names, attributes and items ----------------------------------------------------------------------


def undefined(name: str) -> Any:
    raise EvaluationError(f"{name!r} is not defined: there is no such context variable")


def no_context_key(name: str) -> Any:
    raise EvaluationError(f"the context has no key {name!r}")


def get_attr(value: Any, name: str) -> Any:
    """``value.name``: a key of a mapping, or a field of the event (with ``event.x`` meaning ``event.data.x``)."""
    if type(value) is dict:
        try:
            return value[name]
        except KeyError:
            raise EvaluationError(f"no key {name!r} (keys: {_keys(value)})") from None
    if type(value) is Event:
        if name in EVENT_FIELDS:
            return getattr(value, name)
        if type(value.data) is dict and name in value.data:
            return value.data[name]
        raise EvaluationError(f"the event {value.name!r} has no field or data key {name!r}")
    if value is None:
        raise EvaluationError(f"cannot read {name!r} of None")
    raise EvaluationError(f"cannot read attribute {name!r} of a {_kind(value)}: "
                          "only mapping keys and event fields can be read")


def _keys(mapping: dict[Any, Any]) -> str:
    keys = [k for k, _ in zip(mapping, range(8), strict=False)]
    return ", ".join(_short(k) for k in keys) + (", ..." if len(mapping) > 8 else "") or "none"


def _short(value: Any) -> str:
    """A repr for a message, never long: a key or value in an error is data the caller sent."""
    kind = type(value)
    if kind is str and len(value) > 40:
        return repr(value[:40]) + "..."
    if kind is int and value.bit_length() > 128:
        return f"<a {value.bit_length()}-bit number>"
    return repr(value) if kind in SCALARS else f"<{kind.__name__}>"


def get_item(budget: Budget, value: Any, key: Any) -> Any:
    kind = type(value)
    if kind is dict:
        try:
            return value[hashable(key)]
        except KeyError:
            raise EvaluationError(f"no key {_short(key)} (keys: {_keys(value)})") from None
    if kind in SEQUENCES:
        if type(key) is slice:
            for part in (key.start, key.stop, key.step):
                if part is not None and type(part) is not int:
                    raise EvaluationError(f"slice bounds must be whole numbers, not {_kind(part)}")
            budget.charge(len(range(*key.indices(len(value)))))
            return value[key]
        if type(key) is not int and type(key) is not bool:
            raise EvaluationError(f"a {kind.__name__} index must be a whole number, not {_kind(key)}")
        return value[key]
    if kind is Event and type(key) is str and key in EVENT_FIELDS:
        return getattr(value, key)
    raise EvaluationError(f"cannot index a {kind.__name__}")


# --- operators ----------------------------------------------------------------------------------------


def charge_ints(budget: Budget, a: Any, b: Any) -> None:
    """Arithmetic on big integers costs up to the product of their sizes in machine words."""
    if type(a) is int and type(b) is int:
        wa, wb = a.bit_length() >> 6, b.bit_length() >> 6
        if wa or wb:
            budget.charge((wa + 1) * (wb + 1))


def charge_sum(budget: Budget, a: Any, b: Any) -> None:
    """Adding, subtracting or negating big integers is linear in the larger one's size in machine words, and
    builds a number as large: charged like the text of that many words (a comprehension keeps each one)."""
    words = max(a.bit_length() if type(a) in _INTS else 0, b.bit_length() if type(b) in _INTS else 0) >> 6
    if words:
        budget.charge(words)


def op_add(budget: Budget, a: Any, b: Any) -> Any:
    ka = type(a)
    if ka is type(b) and ka in SEQUENCES:  # numbers were added inline; this is the common case here
        n = len(a) + len(b)
        if n > MAX_LENGTH:
            check_length(n, "result of +")
        budget.left -= n >> 3 if ka is str else n
        if budget.left < 0:
            budget.charge(0)
        return a + b
    kb = type(b)
    if ka in NUMBERS and kb in NUMBERS:
        charge_sum(budget, a, b)
        return check_int(a + b)
    raise EvaluationError(f"cannot add a {ka.__name__} and a {kb.__name__}")


def op_mul(budget: Budget, a: Any, b: Any) -> Any:
    ka, kb = type(a), type(b)
    if ka in NUMBERS and kb in NUMBERS:
        if ka is not float and kb is not float and int(a).bit_length() + int(b).bit_length() > MAX_INT_BITS:
            raise EvaluationError(f"the product would exceed {MAX_INT_BITS:,} bits")
        charge_ints(budget, a, b)
        return a * b
    if kb in SEQUENCES:
        a, b, ka, kb = b, a, kb, ka
    if ka in SEQUENCES and (kb is int or kb is bool):
        n = len(a) * max(b, 0)
        check_length(n, "repeated sequence")
        budget.charge(n >> 3 if ka is str else n)
        return a * b
    raise EvaluationError(f"cannot multiply a {ka.__name__} and a {kb.__name__}")


def op_pow(budget: Budget, a: Any, b: Any) -> Any:
    ka, kb = type(a), type(b)
    if ka not in NUMBERS or kb not in NUMBERS:
        raise EvaluationError(f"cannot raise a {ka.__name__} to a {kb.__name__}")
    if ka is not float and kb is not float:
        if abs(a) > 1 and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
            raise EvaluationError(f"{a} ** {b} would exceed {MAX_INT_BITS:,} bits")
        charge_power(budget, a, b)
    result = a**b
    if type(result) is complex:
        raise EvaluationError(f"{a} ** {b} is not a real number")
    return check_int(result)


def charge_power(budget: Budget, a: int, b: int) -> None:
    """``a ** b`` on integers squares about ``log2(b)`` times: one step per bit of the exponent (``(-1) ** n``
    with an 8,000-bit ``n`` ran 70 us uncharged), then products up to the result's size, whose last squaring
    costs about the square of half that size in words (``3 ** 5000`` ran 16 us for one unit)."""
    if b <= 0:
        return  # 1, or a float: int ** -n is computed as floats
    words = 0 if abs(a) <= 1 else (abs(a).bit_length() * b) >> 6
    budget.charge((b.bit_length() >> 3) + words * words)


def op_lshift(budget: Budget, a: Any, b: Any) -> Any:
    # a bool is an int (True << n is 1 << n), and must meet the same size checks
    if type(a) in (int, bool) and type(b) in (int, bool) and int(a).bit_length() + b > MAX_INT_BITS:
        raise EvaluationError(f"the shift would exceed {MAX_INT_BITS:,} bits")
    return op_arith(budget, "<<", a, b)


def op_mod(budget: Budget, a: Any, b: Any) -> Any:
    if type(a) is str:
        raise EvaluationError("'%' formatting of strings is not available; use an f-string")
    return op_arith(budget, "%", a, b)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "-": operator.sub, "/": operator.truediv, "//": operator.floordiv, "%": operator.mod,
    "<<": operator.lshift, ">>": operator.rshift, "&": operator.and_, "^": operator.xor, "|": operator.or_,
}
_SET_OPS = frozenset({"-", "&", "^", "|"})
_SETS = frozenset({set, frozenset})


def op_arith(budget: Budget, symbol: str, a: Any, b: Any) -> Any:
    """``a <symbol> b`` for numbers, sets (``- & ^ |``) and mappings (``|``), charged by their size."""
    ka, kb = type(a), type(b)
    fn = _ARITH[symbol]
    if ka in NUMBERS and kb in NUMBERS:
        charge_ints(budget, a, b)
        return fn(a, b)
    if symbol in _SET_OPS and ((ka in _SETS and kb in _SETS) or (symbol == "|" and ka is dict and kb is dict)):
        n = len(a) + len(b)
        check_length(n, f"result of {symbol}")
        budget.charge(n)
        return fn(a, b)
    raise EvaluationError(f"cannot apply {symbol} to a {ka.__name__} and a {kb.__name__}")


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def compare(budget: Budget, symbol: str, a: Any, b: Any) -> Any:
    """``a <symbol> b`` where either side is not a number: charged by what comparing them may touch."""
    ka, kb = type(a), type(b)
    if ka is str or kb is str:
        budget.charge(1 + ((len(a) if ka is str else 0) >> 3))
    if ka not in SCALARS or kb not in SCALARS:
        deep(budget, a, b)
    return _COMPARE[symbol](a, b)


def deep(budget: Budget, a: Any, b: Any) -> None:
    """Charge what comparing ``a`` with ``b`` may cost when either is a container."""
    if type(a) not in SCALARS:
        charge_tree(budget, a)
    if type(b) not in SCALARS:
        charge_tree(budget, b)


def op_contains(budget: Budget, item: Any, container: Any) -> bool:
    kind = type(container)
    if kind is str:
        if type(item) is not str:
            raise EvaluationError(f"'in <string>' needs a string on the left, not {_kind(item)}")
        budget.charge(search_cost(container, item))
        return item in container
    if kind is dict or kind is set or kind is frozenset:
        if type(item) not in SCALARS:
            raise EvaluationError("only strings and numbers can be looked up in a mapping or set")
        if type(item) is str:
            budget.charge(len(item) >> 3)  # hashing it (the hash is cached on the string afterwards)
        return item in container
    if kind is range:
        # CPython answers 'int in range' in constant time but scans the whole range for anything else
        if type(item) is not int and type(item) is not bool:
            raise EvaluationError(f"'in range(...)' needs an integer on the left, not {_kind(item)}")
        return item in container
    if kind is list or kind is tuple:
        deep(budget, item, container)
        if type(item) is str:
            budget.charge(len(container) * (1 + (len(item) >> 3)))
        return item in container
    raise EvaluationError(f"cannot test membership in a {kind.__name__}")


def search_cost(text: str, needle: str) -> int:
    """A bound on searching ``needle`` in ``text``: CPython's search is linear for long needles (two-way)
    and at worst ``len(text) * len(needle)`` for short ones (under 100 characters)."""
    return 1 + ((len(text) + len(needle)) * min(len(needle) + 1, 100) >> 3)


# --- text ---------------------------------------------------------------------------------------------


def to_str(budget: Budget, value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        budget.charge((value.bit_length() >> 6) ** 2)  # int -> decimal text is quadratic in its size
    elif kind not in SCALARS:
        if kind not in CONTAINERS and kind is not Event:
            raise EvaluationError(f"cannot turn a {kind.__name__} into text")
        charge_tree(budget, value)
    text = str(value)
    check_length(len(text), "text")
    if kind in CONTAINERS:  # the text of its numbers too: a float's costs some 200 ns, charged a unit above
        budget.charge(len(text) >> 3)
    return text


def to_repr(budget: Budget, value: Any) -> str:
    to_str(budget, value)  # same checks and charges
    return repr(value)


def join_text(budget: Budget, pieces: tuple[str, ...]) -> str:
    n = sum(map(len, pieces))
    check_length(n, "text")
    budget.charge(n >> 3)
    return "".join(pieces)


def formatted(budget: Budget, value: Any, spec: str) -> str:
    if type(value) not in SCALARS:
        raise EvaluationError(f"a format spec needs a number or string, not a {_kind(value)}")
    if type(value) is int:
        budget.charge((value.bit_length() >> 6) ** 2)
    elif type(value) is float:
        budget.charge(_precision(spec))
    text = format(value, spec)
    check_length(len(text), "text")
    return text


@functools.lru_cache(maxsize=1024)  # specs are written out in documents: any number of them over time
def _precision(spec: str) -> int:
    """A float written to ``p`` digits is expanded digit by digit as a big number: a unit per digit asked
    (``f'{x:.999e}'`` of 5e-324 is 44 us, where the text it makes was charged 125 units). The precision
    follows the last '.' of the spec (a first '.' may be the fill character)."""
    dot = spec.rfind(".")
    if dot < 0:
        return 0
    end = dot + 1
    while end < len(spec) and spec[end] in "0123456789":
        end += 1
    return int(spec[dot + 1:end] or 0)


# --- iteration and building ---------------------------------------------------------------------------


def iterate(budget: Budget, value: Any, cost: int) -> Iterable[Any]:
    """The items of a value that may be iterated (list, tuple, set, mapping keys, string, range), with
    every iteration's ``cost`` charged up front: a loop that would run out of budget never starts."""
    kind = type(value)
    if kind in CONTAINERS or kind is str or kind is range:
        budget.charge(len(value) * cost)
        return value  # type: ignore[no-any-return]
    raise EvaluationError(f"cannot iterate over a {kind.__name__}")


def materialize(budget: Budget, value: Any) -> list[Any]:
    """``list(value)``, its size checked and charged before it is built."""
    kind = type(value)
    if kind in CONTAINERS or kind is str or kind is range:
        check_length(len(value), "range" if kind is range else "list")
    return list(iterate(budget, value, 1))


def extend(budget: Budget, out: list[Any], value: Any) -> None:
    """``[*value]`` inside a literal."""
    out.extend(materialize(budget, value))
    check_length(len(out), "list")


def hashable(value: Any) -> Any:
    """A key of a set or mapping: a string, ``None``, a bool, or a whole number of at most 61 bits.

    Distinct keys of these kinds have distinct hashes, so no one can build a set or mapping whose keys all
    collide (which makes building it quadratic). Fractions would allow that, so they are refused.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -MAX_KEY_INT <= value <= MAX_KEY_INT:
            return value
    elif kind is float:
        if value.is_integer() and -MAX_KEY_INT <= value <= MAX_KEY_INT:
            return value
    else:
        raise EvaluationError(f"mapping keys and set items must be strings or numbers, not {kind.__name__}")
    raise EvaluationError(f"mapping keys and set items that are numbers must be whole numbers of at most "
                          f"61 bits, not {value!r}")


def build_set(budget: Budget, items: list[Any]) -> set[Any]:
    check_length(len(items), "set")
    budget.charge(len(items))
    return {hashable(v) for v in items}


def merge(budget: Budget, out: dict[Any, Any], other: Any) -> None:
    """``{**other}`` inside a mapping literal."""
    if type(other) is not dict:
        raise EvaluationError(f"** needs a mapping, not a {_kind(other)}")
    budget.charge(len(other))
    for key in other:
        hashable(key)
    out.update(other)
    check_length(len(out), "mapping")


def checked_mapping(out: dict[Any, Any]) -> dict[Any, Any]:
    check_length(len(out), "mapping")
    return out


def state_id(budget: Budget, value: Any) -> str:
    """The argument of a computed ``In(...)``: a string of bounded length (never turned into text here)."""
    if type(value) is not str:
        raise EvaluationError(f"In() takes a state id string, not a {_kind(value)}")
    if len(value) > MAX_STATE_ID:
        raise EvaluationError(f"In() got a state id of {len(value):,} characters; the limit is {MAX_STATE_ID:,}")
    budget.charge(len(value) >> 3)
    return value.removeprefix("#")
