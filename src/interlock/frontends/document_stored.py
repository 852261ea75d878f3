"""What one assignment may store in the context (no cycle, a bounded size written out), and what a value
that leaves the step costs.

Expressions may return values that share structure: ``[x, x]`` costs two units to build, but written out
as JSON (as every durable snapshot is) it holds ``x`` twice, so an ``always`` loop doubling it wedges the
store within one step. ``context`` itself is a value too, so ``{me: "context"}`` would put a cycle in the
context, which cannot be serialized at all. So before an ``assign`` stores a value it is measured as a tree
(in time proportional to its distinct parts, so refusing ``[x, x]`` is cheap) and refused, as
``error.execution``, when it contains the context, is larger than :data:`MAX_STORED_SIZE` elements written
out, is nested deeper than :data:`MAX_STORED_DEPTH` levels, or holds something that is not JSON (the
event, a set, a range): the store would refuse the whole step when it writes the snapshot, and the
in-memory runner would keep a value no restart could read back. Sharing itself is harmless: context values
are never changed in place (a dotted assignment copies the path it writes), so nothing else can create a
cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interlock.core.datamodel import Budget, Expr, Scope, WorkLimitError
from interlock.frontends.expressions_ops import (
    CONTAINER_COST,
    MAX_INT_BITS,
    EvaluationError,
    charge_text,
    charge_tree,
)

MAX_STORED_SIZE = 1_000_000  # elements in one stored value, counted as a tree, text by 8 characters (some MB of JSON)
MAX_STORED_DEPTH = 200  # nesting of one stored value; JSON encoders and decoders recurse on it

_ATOMS = frozenset({int, float, str, bool, type(None)})
_NESTED = frozenset({dict, list, tuple})


def check_stored(value: Any, context: Any, budget: Budget | None = None) -> None:
    """Raise :class:`EvaluationError` if ``value`` contains ``context``, a cycle, or is too large or deep.

    With ``budget`` (the step's), the measuring is charged to it: re-storing a big value in a loop of
    eventless transitions must run out of budget like any other expression work. Each container is charged
    as it is measured (:data:`~interlock.frontends.expressions_ops.CONTAINER_COST`: a microsecond of
    Python each), so a value of many small containers stops the walk on the budget; charged a quarter
    unit, ``[big]`` with 300,000 empty lists in ``big`` re-stored in a loop ran 5 s of CPU on one budget.
    """
    if type(value) in _ATOMS:
        if type(value) is int and value.bit_length() > MAX_INT_BITS:
            # n + n in an always loop grows a bit per step; stored, it would slow every later step
            raise EvaluationError(f"the number to store has {value.bit_length():,} bits; the limit is "
                                  f"{MAX_INT_BITS:,}")
        return
    size = _measure(value, {}, {id(context)}, budget)
    if size > MAX_STORED_SIZE:
        raise EvaluationError(f"the value to store would have over {MAX_STORED_SIZE:,} elements written out "
                              "(a part that appears several times counts each time); store less")
    if budget is not None:
        budget.charge(size >> 2)


def _measure(value: Any, memo: dict[int, int], path: set[int], budget: Budget | None) -> int:
    """The size of ``value`` written out as a tree; stops counting once over the limit. Each container
    measured is charged to ``budget`` first."""
    if type(value) not in _NESTED:
        if type(value) in _ATOMS:
            return 1
        raise EvaluationError(_not_json(value))
    key = id(value)
    known = memo.get(key)
    if known is not None:
        return known
    if key in path:
        raise EvaluationError("the value to store contains the context itself (or contains itself); "
                              "assign the parts you need instead, as in {saved_total: 'total'}")
    if len(path) > MAX_STORED_DEPTH:
        raise EvaluationError(f"the value to store is nested more than {MAX_STORED_DEPTH} levels deep")
    if budget is not None:
        budget.charge(CONTAINER_COST)
    path.add(key)
    items = value.values() if type(value) is dict else value
    kinds = set(map(type, items))
    if int in kinds:  # a big integer inside a container would make the snapshot unstorable as JSON too
        _check_ints(items)
    # text counts by its length: a list of 65,536 references to one 100,000-character string counted 65,537
    # and was stored, and writing the snapshot out as JSON then built 6.5 GB
    keys = _text(value.keys()) if type(value) is dict else 0
    if _ATOMS.issuperset(kinds):
        # flat (the common case, items + [x]): counted at C speed, no Python loop
        total = 1 + len(value) + keys + (_text(items) if str in kinds else 0)
    else:
        total = 1 + keys
        for item in items:
            kind = type(item)
            total += 1 + (len(item) >> 3) if kind is str else 1 if kind in _ATOMS else \
                _measure(item, memo, path, budget)
            if total > MAX_STORED_SIZE:
                break
    path.discard(key)
    memo[key] = total
    return total


def _text(items: Any) -> int:
    """The elements the strings among ``items`` count besides one each: one per 8 characters, as
    :func:`~interlock.frontends.expressions_ops.charge_tree` counts them."""
    if set(map(type, items)) == {str}:
        return sum(map(len, items)) >> 3
    return sum(len(item) for item in items if type(item) is str) >> 3


def _not_json(value: Any) -> str:
    """Why ``value`` (neither a JSON scalar nor a dict, list or tuple) cannot be stored, and what to store."""
    kind = type(value)
    if isinstance(value, tuple):  # the event: a tuple subclass (event.data, event.amount are plain)
        return (f"the value to store holds an event ({kind.__name__}), which is not JSON; store its fields, "
                "as in {amount: 'event.amount'} or {last: 'event.data'}")
    hint: dict[type, str] = {set: "sorted(...) or list(...)", frozenset: "sorted(...) or list(...)", range: "list(range(...))"}
    return (f"the value to store holds a {kind.__name__}, which is not JSON (a snapshot is plain JSON); "
            f"store {hint.get(kind, 'a list, a mapping, a string or a number')} instead")


def _check_ints(items: Any) -> None:
    for item in items:
        if type(item) is int and item.bit_length() > MAX_INT_BITS:
            raise EvaluationError(f"the value to store holds an integer of {item.bit_length():,} bits; the "
                                  f"limit is {MAX_INT_BITS:,}")


def _check_merged(update: dict[str, Any], context: Any, budget: Budget) -> None:
    """:func:`check_stored` of the values of a mapping merged into the context, measured together. A value
    that is the very object the context already holds under its key was checked when it was stored."""
    memo: dict[int, int] = {}
    path = {id(context)}
    total = 0
    for key, value in update.items():
        if type(value) in _ATOMS:
            check_stored(value, context)
            total += 1
        elif type(context) is not dict or value is not context.get(key):
            total += _measure(value, memo, path, budget)
    budget.charge(total >> 2)
    if total > MAX_STORED_SIZE:
        raise EvaluationError(f"the values to store would have over {MAX_STORED_SIZE:,} elements written out "
                              "(a part that appears several times counts each time); store less")


def merged_check(source: str) -> Callable[[dict[str, Any], Scope], dict[str, Any]]:
    """The check of :func:`storing` (``merged``) for a compiled record that tests plain values itself."""
    def check(update: dict[str, Any], scope: Scope) -> dict[str, Any]:
        try:
            _check_merged(update, scope.context, scope)
        except EvaluationError as exc:
            raise EvaluationError(f"{source!r}: {exc}") from None
        return update

    return check


def _small_ints(values: Any) -> bool:
    return all(type(v) is not int or v.bit_length() <= MAX_INT_BITS for v in values)


def storing(expr: Expr, *, merged: bool = False) -> Expr:
    """``expr`` whose result is checked by :func:`check_stored` before an assignment keeps it.

    With ``merged`` the result is a mapping merged into the context: its values are what is stored (so
    ``assign: "context"``, merging the context into itself, stays allowed), and their total is bounded.
    """
    fn = expr.fn

    def evaluate(scope: Scope) -> Any:
        value = fn(scope)
        kind = type(value)
        if kind in _ATOMS and (kind is not int or value.bit_length() <= MAX_INT_BITS):
            if kind is str:
                charge_text(scope, value)
            return value
        if merged and kind is dict:  # the common case, {count: .., n: ..} of scalars: checked at C speed
            types = set(map(type, value.values()))
            if types <= _ATOMS and (int not in types or _small_ints(value.values())):
                if str in types:
                    charge_text(scope, value.values())
                return value
        try:
            if merged and type(value) is dict:
                _check_merged(value, scope.context, scope)
            else:
                check_stored(value, scope.context, scope)
        except EvaluationError as exc:
            raise EvaluationError(f"{expr.source!r}: {exc}") from None
        return value

    return Expr(expr.source, evaluate)


def charged_leaving(expr: Expr) -> Expr:
    """``expr`` for a value that leaves the step (sent event data, invoke input, output, a log): the
    runtime writes it out as JSON, so its size as a tree is charged to the step's budget (a three-node
    expression like ``{'b': big}`` must not send a million elements a thousand times for free), and a
    string its text (uncharged, an eventless loop sent one 90,000-character string 50,000 times: 4.5 GB
    written out)."""
    fn = expr.fn

    def evaluate(scope: Scope) -> Any:
        value = fn(scope)
        if type(value) is str:
            try:
                charge_text(scope, value)
            except WorkLimitError as exc:
                raise EvaluationError(f"{expr.source!r}: {exc}") from None
        elif type(value) not in _ATOMS:
            try:
                charge_tree(scope, value)
            except WorkLimitError as exc:
                raise EvaluationError(f"{expr.source!r}: {exc}") from None
        return value

    return Expr(expr.source, evaluate)
