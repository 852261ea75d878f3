"""The safe expression language of machine documents: Python syntax, no way out, bounded work.

Documents are uploaded by people we do not fully trust, so their guards, assignments and delays are
checked here, at load time, and compiled into Python functions over a whitelist of helpers::

    >>> expr = compile_expression("context.total + event.data.amount")
    >>> expr.source
    'context.total + event.data.amount'

What an expression can see: the context (``context.x`` or bare ``x``), ``event`` (``event.name``,
``event.data.amount``; ``event.amount`` is short for ``event.data.amount``), ``In('state')`` and the
functions in :data:`~interlock.frontends.expressions_builtins.FUNCTIONS`. There are no imports, no lambdas,
no attribute access beyond mapping keys, event fields and a short list of string/list/dict methods,
and no name or attribute starting with ``_``. All the expressions of one step share one work budget
(the step's scope is its :class:`~interlock.core.datamodel.Budget`); every operation whose cost grows
with its input charges it first (see :mod:`~interlock.frontends.expressions_ops`). docs/limits.md lists
every limit.

Why not ``simpleeval``: measured with simpleeval 1.0.8 at its strictest (``allowed_attrs``), ``str()`` of
``[[1]*100000]*1000`` ran 20 s and built 300 MB, ``sum([[1]*100000]*300, [])`` ran 44 s, and
``'a'.ljust(10**7)`` passed its string cap; its evaluator also keeps per-call state on the instance
(not reentrant) and walks every intermediate result. Compiling the checked AST into Python code (see
:mod:`~interlock.frontends.expressions_compiler`) also makes a guard like ``count < limit`` run at close to
the speed of the same Python lambda.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import re
import types
from collections.abc import Callable, Collection, Iterator
from contextvars import ContextVar
from typing import Any

from interlock.core.datamodel import Expr, Scope, WorkLimitError
from interlock.errors import DefinitionError, Problem
from interlock.frontends import expressions_builtins as builtins
from interlock.frontends import expressions_ops as ops
from interlock.frontends.expressions_compiler import (
    LONG_TEXT,
    MAX_DEPTH,
    SHORT_LIST,
    Compiler,
    ExpressionError,
    compact,
    number_test,
)
from interlock.frontends.expressions_ops import EvaluationError

__all__ = ["MAX_DEPTH", "EvaluationError", "ExpressionError", "compile_expression", "compile_fused", "compile_record",
           "constant"]

MAX_SOURCE_LENGTH = 2_000
MAX_NODES = 400
MAX_MESSAGE = 500  # characters of a runtime error's detail kept in its message (and error.execution)
ERROR_COST = 100  # work units a failing evaluation costs: an eventless guard failing in a loop stops sooner

_RUNTIME_ERRORS = (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError,
                   AttributeError, RecursionError, MemoryError)
_MERGE = object()


def _unary(budget: Any, symbol: str, value: Any) -> Any:
    if type(value) not in ops.NUMBERS:
        raise EvaluationError(f"cannot apply unary {symbol} to a {type(value).__name__}")
    if type(value) is int:
        ops.charge_sum(budget, value, 0)  # -big and ~big are new numbers as large
    return -value if symbol == "-" else +value if symbol == "+" else ~value


def _starred(budget: Any, parts: tuple[tuple[bool, Any], ...]) -> list[Any]:
    out: list[Any] = []
    for starred, value in parts:
        if starred:
            ops.extend(budget, out, value)
        else:
            out.append(value)
    return out


def _mapping(budget: Any, pairs: tuple[tuple[Any, Any], ...]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if key is _MERGE:
            ops.merge(budget, out, value)
        else:
            out[ops.hashable(key)] = value
    return ops.checked_mapping(out)


def _fail(source: str, exc: Exception) -> EvaluationError:
    detail = str(exc)
    if len(detail) > MAX_MESSAGE:  # a KeyError of a long key, say: the message becomes event data
        detail = detail[:MAX_MESSAGE] + "..."
    if isinstance(exc, (EvaluationError, WorkLimitError)):
        return EvaluationError(f"{source!r}: {detail}")
    return EvaluationError(f"{source!r}: {type(exc).__name__}: {detail}")


_NAMESPACE: dict[str, Any] = {
    "__builtins__": {},
    "type": type, "_NUM": ops.NUMBERS, "_RUNTIME": (EvaluationError, WorkLimitError, *_RUNTIME_ERRORS),
    "_fail": _fail, "_KeyError": KeyError, "_NO_EVENT": (KeyError, TypeError), "_CONTAINERS": ops.CONTAINERS, "_charge_tree": ops.charge_tree, "_ERROR_COST": ERROR_COST,
    "_NO_DATA": {}, "_dict": dict, "_str": str, "_list": list, "_int": int, "_map": map, "_len": len,
    "_PLAIN": ops.PLAIN, "_SHORT_LIST": SHORT_LIST, "_charge_text": ops.charge_text, "_LONG_TEXT": LONG_TEXT,
    # bounds of the inline fast paths, negatives precomputed (negating a big int allocates it anew)
    "_BIG": 2**ops.MAX_INT_BITS, "_HALF": 2**(ops.MAX_INT_BITS // 2), "_WORD": 2**64,
    "_N_BIG": -(2**ops.MAX_INT_BITS), "_N_HALF": -(2**(ops.MAX_INT_BITS // 2)), "_N_WORD": -(2**64),
    "_floordiv": lambda budget, a, b: ops.op_arith(budget, "//", a, b),
    "_truediv": lambda budget, a, b: ops.op_arith(budget, "/", a, b), "_MERGE": _MERGE,
    "_undefined": ops.undefined, "_no_context_key": ops.no_context_key, "_attr": ops.get_attr,
    "_item": ops.get_item, "_slice": slice, "_add": ops.op_add, "_arith": ops.op_arith, "_mul": ops.op_mul,
    "_pow": ops.op_pow, "_mod": ops.op_mod, "_lshift": ops.op_lshift, "_unary": _unary,
    "_compare": ops.compare, "_contains": ops.op_contains, "_method": builtins.call_method,
    "_computed_in": builtins.computed_in, "_starred": _starred, "_tuple": tuple, "_set": ops.build_set,
    "_key": ops.hashable, "_mapping": _mapping, "_checked_mapping": ops.checked_mapping,
    "_join_text": ops.join_text, "_formatted": ops.formatted, "_to_str": ops.to_str, "_to_repr": ops.to_repr,
    "_iterate": ops.iterate,
    **{f"_f_{name}": fn for name, fn in builtins.FUNCTIONS.items()},
}

_PREAMBLE = """\
def evaluate(S):
    S.left = _l = S.left - {cost}.0
    if _l < 0.0:
        try:
            S.charge(0)
        except _RUNTIME as exc:
            raise _fail(SOURCE, exc) from None
"""
_SLOW = """\
def _slow(S):
    C = S.context
    E = S.event
"""
_DATA = """\
    D = E[1] if E is not None else _NO_DATA
    if type(D) is not _dict:
        D = _NO_DATA
"""
# a comprehension or repetition may return one list referenced many times; the result is stored and
# serialized as a tree, so its whole size must fit the budget
_AMPLIFIED = """\
    if type({target}) in _CONTAINERS:
        try:
            _charge_tree(S, {target})
        except _RUNTIME as exc:
            raise _fail({source}, exc) from None
"""
# the statement on the try's own line: CPython then starts the body without a NOP for the try's line
_VALUE = """\
    try: {target} {code}
    except _RUNTIME as exc:
        S.left -= _ERROR_COST
        raise _fail({source}, exc) from None
"""


# the items test of ``x + [y]`` built inline in an assignment, when ``x`` is the list this code built and
# found plain last time (``<memo>l``, held with a private copy of its items, ``<memo>c``: two variables of the
# closure around ``evaluate``, see _bound) and still holds those
# very items (``==`` on two lists passes each pair of identical items at C speed, and fails on any other length
# or any item changed since, say by Python code): only ``y`` is left to test. Otherwise every item is tested and
# a plain result remembered. Two steps running this code at once can only make the memo miss (its copy then
# differs from the list), never pass a list whose items were not tested. What ``==`` cannot see: Python code
# (trusted) that replaces an item of that very list in place by an equal value of another type
# (Decimal("1.5") for 1.5, a str subclass): a document cannot make such a value, the durable runtime refuses
# it at commit as it refuses what a Python action stores, and Python code must not change the context in
# place. The memo holds the last list and its copy (at most SHORT_LIST items) for as
# long as the chart is loaded: one list per compiled ``x + [y]``, of whichever instance ran it last.
# A string ``y`` of LONG_TEXT characters or more is charged its text (charge_text) as it is appended: the
# list is not measured again, and 14,000 appends of one 100,000-character string to lists that a loop of
# eventless transitions kept appending to made a 1.4 GB snapshot within one budget.
_APPENDED = """\
    if {plain} and {operand} is {memo}l and {operand} == {memo}c:
        {memo}c.{extend}
        {memo}l = {value}
    elif _PLAIN.issuperset(_map(type, {value})) and _charge_text(S, {value}):
        {memo}c = [*{value}]
        {memo}l = {value}
    else:
        _p = False
"""


def compile_expression(source: str, *, states: Collection[str] | None = None,
                       names: Collection[str] = ()) -> Expr:
    """Parse and check ``source`` and compile it into an :class:`Expr`; raises :class:`ExpressionError`.

    With ``states`` (the chart's state ids), ``In('x')`` naming no state is refused too. ``names`` are
    more names the expression may read, from its scope's ``values`` mapping (authorize rules).
    """
    return _function([("", source)], source, states, record=False, names=names)


def compile_record(items: list[tuple[str, str]], *, states: Collection[str] | None = None,
                   check: Callable[[dict[str, Any], Scope], dict[str, Any]] | None = None) -> Expr:
    """``{name: expression, ...}`` as one function returning the mapping (an assignment's values, all read
    from the same context): one call and one budget charge instead of one per value. Errors name the
    value's own expression.

    ``check(mapping, scope)`` runs on the result unless every value is a literal, a string, a number of at
    most :data:`~interlock.frontends.expressions_ops.MAX_INT_BITS` bits or a short list of plain scalars
    (tested inline, the common case; see ``_APPENDED`` for ``x + [y]``).
    """
    source = "{" + ", ".join(f"{name}: {expr}" for name, expr in items) + "}"
    return _function(items, source, states, record=True, check=check)


# compile_fused: the guard and the assignment of one transition, as compile_expression and compile_record make
# each (``_GUARD``, ``_UPDATE``), for when a key is missing or the data is not a mapping (then the guard's own
# function also reads it; the assignment's, after the guard held)
_APART = """\
def _apart(S):
    _g = _GUARD(S)
    if _g and S.light:
        try:
            S.ready = _UPDATE(S)
        except _Exception as exc:
            S.ready = exc.with_traceback(None)
    return _g
def _later(S, _g):
    try:
        S.ready = _UPDATE(S)
    except _Exception as exc:
        S.ready = exc.with_traceback(None)
    return _g
"""
# the guard held ({value}): on a light run the assignment is computed now, charged as _UPDATE charges
_FUSED = """\
    if not S.light:
        return {value}
{reads}    try:
{update}    except _Exception as exc:
        S.ready = exc.with_traceback(None)
    return {value}
"""


# Guards and assignments larger than this together (in parts, as the expression limits count them) are
# not fused: fusing compiles the assignment twice more, which doubled the load time of a document of
# large ones (the uploads' worst case), for a gain that matters on small ones only.
FUSE_MAX_PARTS = 64


def compile_fused(guard: Expr, update: Expr, items: list[tuple[str, str]], *,
                  states: Collection[str] | None = None,
                  check: Callable[[dict[str, Any], Scope], dict[str, Any]] | None = None) -> Expr | None:
    """The guard of a transition whose content is one assignment, compiled with that assignment into one
    function that reads and tests each context and event-data key once; None for a guard that may return
    a shared container (a comprehension, a repetition: left to its own function).

    ``guard`` is ``compile_expression(source)`` and ``update`` is ``compile_record(items, check=check)`` (the
    same ``states``); the function returned gives what ``guard`` gives, charges and raises what it does.
    When the guard holds on a light run (``S.light``: the step's light path, where a targetless transition's
    content runs right after its selection with nothing in between; see :mod:`interlock.core.step`), it also
    computes what ``update`` would give then, charging what ``update`` charges, and keeps it in ``S.ready``
    (the value, or the exception ``update`` would raise) for the step to take instead of calling ``update``
    (:class:`~interlock.core.content.Update` ``ready``). Elsewhere the assignment is left to ``update``.
    """
    source = guard.source
    record = "{" + ", ".join(f"{name}: {expr}" for name, expr in items) + "}"
    namespace: dict[str, Any] = {**_NAMESPACE, "GSOURCE": source, "GSOURCE0": source, "SOURCE": record,
                                 "_check": check, "_GUARD": guard.fn, "_UPDATE": update.fn,
                                 "_Exception": Exception}
    for i, (_, text) in enumerate(items):
        namespace[f"SOURCE{i}"] = text
    generated = _generated(("fused", check is not None), [("", source), *items], states,
                           lambda trees: _fused_code(trees[0][0], trees[0][1], items, trees[1:], states, check))
    if generated is None:
        return None
    code, constants = generated
    namespace.update(constants)
    try:
        exec(_compiled(code, f"<fused {source[:40]!r}>"), namespace)
    except (SyntaxError, RecursionError, MemoryError) as exc:  # as in _function (each part compiled there)
        raise ExpressionError(f"the expression is nested too deeply to compile ({exc})",
                              "split it into several assignments") from None
    fn: Callable[[Scope], Any] = namespace["evaluate"]
    return Expr(source, fn)


def _fused_code(gtree: ast.Expression, count: int, items: list[tuple[str, str]],
                trees: list[tuple[ast.Expression, int]], states: Collection[str] | None,
                check: Callable[[dict[str, Any], Scope], dict[str, Any]] | None) -> tuple[str, dict[str, Any]] | None:
    """The code of :func:`compile_fused` and its constants, or None for a guard left to its own function."""
    if count + sum(n for _, n in trees) > FUSE_MAX_PARTS:
        return None  # compiling both again costs about what the two functions cost: worth it only when small
    constants: dict[str, Any] = {}
    hoisted: dict[tuple[str, str], str] = {}
    compiler = Compiler(states, constants, hoisted)
    gbody = compiler.compile(gtree.body, 0)
    if compiler.amplifies:
        return None
    gdata, gcost = compiler.uses_data, count + compiler.extra_cost
    read_first = dict(hoisted)  # the guard's keys: read before it; the assignment's after it held

    def then(value: str, known: Collection[str]) -> str:
        code, udata, extra = _body(items, trees, states, constants, hoisted, record=True, check=check,
                                   finish="S.ready =", known=known)
        later = {key: local for key, local in hoisted.items() if key not in read_first}
        reads = _hoisted(later, udata, f"_later(S, {value})", data_bound=gdata)
        ucost = sum(n for _, n in trees) + extra
        update = _indent(_PREAMBLE.format(cost=ucost).replace("def evaluate(S):\n", "") + code)
        return _FUSED.format(value=value, reads=reads, update=update)

    checked = (_VALUE.format(target="_g =", code=gbody, source="GSOURCE0")
               + "    if not _g:\n        return _g\n" + then("_g", ()))
    ints = compiler.on_ints(gtree.body)
    if ints is not None and ints[1]:  # as in _body: one test of each name, then the comparisons as branches
        plain, locals_ = ints
        typed = " and ".join(f"type({name}) is _int" for name in locals_)
        guarded = (f"    if {typed}:\n        if not {plain}:\n            return False\n"
                   f"{_indent(then('True', locals_))}    else:\n{_indent(checked)}")
    else:
        guarded = checked
    reads = _hoisted(read_first, gdata, "_apart(S)")
    body = _reads(reads + _PREAMBLE.format(cost=gcost).replace("def evaluate(S):\n", "").replace("SOURCE", "GSOURCE")
                  + guarded)
    code = _bound(_APART + "def evaluate(S):\n" + body)
    return code, constants


def _compiled(code: str, filename: str) -> types.CodeType:
    """Compile generated source; a short one (most expressions: a simple guard is about 2 KB) through
    :func:`_shared`, so a repeated expression compiles once. A long one is compiled each time: kept, 1,024
    of them (40-item assignments) held some 210 MB of code objects after their documents were gone."""
    budget = _LOADING.get()
    if budget is not None:
        return budget.compiled(code, filename)
    return _shared(code, filename) if len(code) <= SHARED_CODE_CHARS else compile(code, filename, "exec")


class _CodeBudget:
    """The Python a document's expressions generate while it loads, counted as it is generated, generated
    once per distinct expression (its syntax trees, not its text) and compiled once per distinct code: what
    generating and compiling it costs (about 0.4 us a character).

    Counted once per distinct code, it was generated and compiled again at every place the document
    repeated an expression: a long code (over SHARED_CODE_CHARS, which _shared does not keep) compiled
    every time, and a short one written with other spaces (the same code under another file name: another
    entry of _shared) too. A 267 KB document repeating one guard of 60 KB of code 1,000 times took 22 s of
    CPU to load, counted 60 KB. An expression seen is now neither generated nor compiled again: its text
    is looked up (then its tree, for other spaces), and its code's top level run (some microseconds); a
    document of 14,000 transitions with the same guard and assignment (950 KB) loads in 1.4 s, 12 s before."""

    __slots__ = ("by_text", "code", "generated", "limit", "source", "states", "total")

    def __init__(self, limit: int, source: str) -> None:
        self.limit, self.source = limit, source
        self.generated: dict[tuple[Any, ...], Any] = {}  # key of the trees -> (code, constants) or None
        self.by_text: dict[tuple[Any, ...], Any] = {}  # the same by the expressions' text (no parse)
        self.code: dict[str, types.CodeType | Exception] = {}  # the load's distinct code, compiled (or why not)
        self.states: dict[int, Collection[str]] = {}  # the states named in keys by their id
        self.total = 0

    def compiled(self, code: str, filename: str) -> types.CodeType:
        """``code`` compiled, once per load (the first ``filename`` names it)."""
        known = self.code.get(code)
        if known is None:
            try:
                known = _shared(code, filename) if len(code) <= SHARED_CODE_CHARS else compile(code, filename, "exec")
            except (SyntaxError, RecursionError, MemoryError) as exc:
                known = exc
            self.code[code] = known
        if isinstance(known, Exception):
            raise known
        return known

    def charge(self, code: str) -> None:
        self.total += len(code)
        if self.total > self.limit:
            raise DefinitionError([Problem(
                "", f"the document's expressions compile to more than {self.limit:,} characters of Python "
                f"(refused at the {len(self.generated):,}th distinct piece; a simple guard is about 1,600 characters): "
                "loading it would take seconds of CPU",
                "split the machine into smaller machines that invoke each other")], self.source)


_LOADING: ContextVar[_CodeBudget | None] = ContextVar("interlock_expressions_loading", default=None)


@contextlib.contextmanager
def code_budget(limit: int, source: str = "") -> Iterator[None]:
    """Within it, the expressions compiled may generate at most ``limit`` characters of distinct Python
    in all, else :class:`DefinitionError` (a document load: frontends/document.py)."""
    token = _LOADING.set(_CodeBudget(limit, source))
    try:
        yield
    finally:
        _LOADING.reset(token)


def _generated(kind: tuple[Any, ...], items: list[tuple[str, str]], states: Collection[str] | None,
               generate: Callable[[list[tuple[ast.Expression, int]]], Any]) -> Any:
    """What ``generate`` gives for the parsed ``items`` (``(name, source)``: the code of an expression and its
    constants), once per load for one ``kind`` and the same items: looked up by their text first (no parse),
    then by their syntax trees (the same expression written with other spaces), and charged to the load's
    code budget as it is generated."""
    budget = _LOADING.get()
    if budget is None:
        return generate([_parse(text) for _, text in items])
    if states is not None:  # kept alive, so their id in the keys names them for the whole load
        budget.states[id(states)] = states
    head = (*kind, None if states is None else id(states))
    by_text = (*head, *items)
    if by_text in budget.by_text:
        return budget.by_text[by_text]
    trees = [_parse(text) for _, text in items]
    key = (*head, *((name, ast.dump(tree)) for (name, _), (tree, _) in zip(items, trees, strict=True)))
    if key in budget.generated:
        generated = budget.generated[key]
    else:
        generated = budget.generated[key] = generate(trees)
        if generated is not None:
            budget.charge(generated[0])
    budget.by_text[by_text] = generated
    return generated


SHARED_CODE_CHARS = 16_384


@functools.lru_cache(maxsize=512)
def _shared(code: str, filename: str) -> types.CodeType:
    """The code object of generated source, kept for the next expression that generates the same: a
    document that repeats a guard or an assignment in many states (a 1,000-state machine with one guard
    and one assignment loaded in 5.2 s, 3.1 s of it in ``compile``: its 4,000 expressions generated 8.5 MB
    of Python) compiles it once. A code object is immutable: each expression runs it in a namespace of
    its own (its constants, sources and memo), so sharing one changes nothing of what it does."""
    return compile(code, filename, "exec")


def _function(items: list[tuple[str, str]], source: str, states: Collection[str] | None, *, record: bool,
              check: Callable[[dict[str, Any], Scope], dict[str, Any]] | None = None,
              names: Collection[str] = ()) -> Expr:
    namespace: dict[str, Any] = {**_NAMESPACE, "SOURCE": source, "_check": check}
    for i, (_, text) in enumerate(items):
        namespace[f"SOURCE{i}"] = text
    code, constants = _generated(("function", record, check is not None, tuple(names)), items, states,
                                 lambda trees: _function_code(items, trees, states, record=record, check=check,
                                                              names=names))
    namespace.update(constants)
    try:
        exec(_compiled(code, f"<expression {source[:40]!r}>"), namespace)
    except (SyntaxError, RecursionError, MemoryError) as exc:  # Python's own nesting limits
        raise ExpressionError(f"the expression is nested too deeply to compile ({exc})",
                              "split it into several assignments") from None
    fn: Callable[[Scope], Any] = namespace["evaluate"]
    return Expr(source, fn)


def _function_code(items: list[tuple[str, str]], trees: list[tuple[ast.Expression, int]],
                   states: Collection[str] | None, *, record: bool,
                   check: Callable[[dict[str, Any], Scope], dict[str, Any]] | None,
                   names: Collection[str]) -> tuple[str, dict[str, Any]]:
    """The code of :func:`_function` (defining ``evaluate``) and its constants."""
    constants: dict[str, Any] = {}
    hoisted: dict[tuple[str, str], str] = {}
    fast, fast_data, extra = _body(items, trees, states, constants, hoisted, record=record, check=check, names=names)
    cost = sum(count for _, count in trees) + extra
    if hoisted:
        # every context and event-data key the expression reads, read up front: a missing one (or event data
        # that is not a mapping) runs the same expression without hoisting (_slow), already charged
        slow, slow_data, _ = _body(items, trees, states, constants, None, record=record, check=check, names=names)
        body = _reads(_hoisted(hoisted, fast_data) + fast)
        code = _SLOW + (_DATA if slow_data else "") + slow + _PREAMBLE.format(cost=cost) + body
    else:
        body = _reads((_DATA if fast_data else "") + fast)
        code = _PREAMBLE.format(cost=cost) + body
    return _bound(code), constants


def _body(items: list[tuple[str, str]], trees: list[tuple[ast.Expression, int]], states: Collection[str] | None,
          constants: dict[str, Any], hoisted: dict[tuple[str, str], str] | None, *, record: bool,
          check: Callable[[dict[str, Any], Scope], dict[str, Any]] | None,
          names: Collection[str] = (), finish: str = "", known: Collection[str] = ()) -> tuple[str, bool, int]:
    """The statements computing the value (after the preamble), whether they read event data (``D``), and
    the work they charge up front besides the node count (the same with or without hoisting).

    For :func:`compile_fused`'s assignment: with ``finish`` (a statement's start, ``S.ready =``) the value is
    given to it instead of returned; ``known`` are hoisted locals the code runs under a test of as ``int``
    (their type tests are left out of the inline paths: they hold)."""
    uses_data, lines, extra = False, [], 0
    for i, (tree, _) in enumerate(trees):
        compiler = Compiler(states, constants, hoisted, names)
        body = compiler.compile(tree.body, 0)
        uses_data |= compiler.uses_data
        extra += compiler.extra_cost
        if not record and check is None and not compiler.amplifies:  # a guard, say: its value returned at once
            code = _VALUE.format(target="return", code=body, source="SOURCE0")
            ints = compiler.on_ints(tree.body)
            if ints is not None and ints[1]:  # literals alone (1 == 1) have no name to test: checked code
                # comparisons of ints: one test of each name, then the comparisons as branches (CPython compares
                # two ints inline only where a branch follows)
                plain, locals_ = ints
                typed = " and ".join(f"type({name}) is _int" for name in locals_)
                code = f"    if {typed}:\n        if {plain}:\n            return True\n        return False\n" + code
            return code, uses_data, extra
        value, source = f"_v{i}", f"SOURCE{i}"
        computed = _VALUE.format(target=f"{value} =", code=body, source=source)
        if compiler.amplifies:
            computed += _AMPLIFIED.format(target=value, source=source)
        if check is None:
            lines.append(computed)
            continue
        if _literal(tree.body):  # a literal is storable as it is (its size was checked when it was compiled)
            lines.append(computed)
            continue
        # each value's plain test clears _p; _check, which needs every value, runs after the last one
        computed += f"    _k = type({value})\n    if not ({_plain_test(value, listed=_appends(tree.body))}):\n" \
                    "        _p = False\n"
        listed = compiler.listed.get(body)
        if listed is not None:
            # x + [y] built inline (Compiler.short_concat) is a list of at most SHORT_LIST items: only its items
            # are left to test
            inline, tests, operand, appended = listed
            tests = _unknown(tests, known)
            fast = _VALUE.format(target=f"{value} =", code=inline, source=source)
            if appended:
                extend = f"append({appended[0]})" if len(appended) == 1 else f"extend(({', '.join(appended)}))"
                fast += _APPENDED.format(value=value, memo=f"_M{i}", operand=operand, extend=extend,
                                         plain=" and ".join(f"(type({item}) is _str and (_len({item}) < _LONG_TEXT "
                                                            f"or _charge_text(S, {item})) or type({item}) in _PLAIN)"
                                                            for item in appended))
            else:
                fast += (f"    if not (_PLAIN.issuperset(_map(type, {value})) and _charge_text(S, {value})):\n"
                         "        _p = False\n")
            lines.append(f"    if {' and '.join(tests)}:\n{_indent(fast)}    else:\n{_indent(computed)}" if tests else fast)
            continue
        pure = compiler.pure.get(body)
        if pure is None:
            lines.append(computed)
            continue
        # arithmetic on names and literals (Compiler.arithmetic): when its names are numbers its value is a
        # number, so only the number's size is left to test (and a number is no container to charge)
        inline, tests = pure
        tests = _unknown(tests, known)
        fast = (_VALUE.format(target=f"{value} =", code=inline, source=source)
                + f"    if not ({compact(value)} or _N_BIG < {value} < _BIG):\n        _p = False\n")
        lines.append(f"    if {' and '.join(tests)}:\n{_indent(fast)}    else:\n{_indent(computed)}" if tests else fast)
    result = "{" + ", ".join(f"{name!r}: _v{i}" for i, (name, _) in enumerate(items)) + "}" if record else "_v0"
    if check is not None and any("_p = False" in line for line in lines):  # else every value is a literal
        lines.insert(0, "    _p = True\n")
        if finish:
            lines.append(f"    if not _p:\n        {finish} _check({result}, S)\n    else:\n        {finish} {result}\n")
            return "".join(lines), uses_data, extra
        lines.append(f"    if not _p:\n        return _check({result}, S)\n")
    return "".join(lines) + f"    {finish or 'return'} {result}\n", uses_data, extra


def _unknown(tests: tuple[str, ...], known: Collection[str]) -> tuple[str, ...]:
    """``tests`` without the number tests of ``known`` locals (each known to be an ``int``: its test holds)."""
    return tuple(t for t in tests if not any(t == number_test(name, name) for name in known))


def _literal(node: ast.expr) -> bool:
    """A literal number, string, boolean or None, or an empty list or mapping: plain, nothing to test."""
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, str, bool, type(None))
    return isinstance(node, ast.List | ast.Dict) and not (node.elts if isinstance(node, ast.List) else node.keys)


def _indent(code: str) -> str:
    return "".join("    " + line + "\n" for line in code.splitlines())


def _plain_test(value: str, *, listed: bool) -> str:
    """Is ``value`` (of type ``_k``) storable as it is: a string, a number of at most MAX_INT_BITS bits, or a
    short list (SHORT_LIST items) of strings, floats, booleans and None? A longer list is measured (its text
    counts: 65,536 references to one long string passed as plain up to 100,000 items, and the snapshot's
    JSON was 6.5 GB). The likely kind is tested first (``listed``: a list,
    else a number). An int of one CPython digit is tested against literal bounds first: CPython compares
    two such ints inline, where the 8,192-bit bounds take the generic comparison."""
    number = (f"_k is _int and {compact(value)} "
              f"or (_k is _int or _k in _NUM) and _N_BIG < {value} < _BIG")
    listing = (f"_k is _list and _len({value}) <= _SHORT_LIST and _PLAIN.issuperset(_map(type, {value})) "
               f"and _charge_text(S, {value})")
    text = f"_k is _str and (_len({value}) < 8 or _charge_text(S, {value}))"
    return f"{listing} or {number} or {text}" if listed else f"{number} or {text} or {listing}"


def _appends(node: ast.expr) -> bool:
    """``x + [y]`` (or ``[y] + x``): its value is most likely a list."""
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
            and (isinstance(node.left, ast.List) or isinstance(node.right, ast.List)))


def _reads(body: str) -> str:
    """``body`` after the reads of the context (``C``) and the event (``E``) it uses (an expression of
    literals reads neither; one of context values only, no event)."""
    found = set(_SCOPE_READS.findall(body))  # a string literal holding the letter only adds a read
    return ("    C = S.context\n" if "C" in found else "") + ("    E = S.event\n" if "E" in found else "") + body


_SCOPE_READS = re.compile(r"\b[CE]\b")


# the helpers of the inline type and size tests, bound as variables of a closure around ``evaluate`` where its
# code uses them: a free variable is read with LOAD_DEREF (a load through the cell), where a global is
# LOAD_GLOBAL (a lookup through the dict's cache). Not default arguments: CPython 3.11 does not specialize a
# call to a function with keyword-only arguments (~850 instructions an event on order), and a positional
# default could be replaced by a second argument. ``evaluate`` takes its scope and nothing else.
_LOCAL_HELPERS = ("type", "_int", "_dict", "_str", "_list", "_len")
_HELPER_NAMES = re.compile(r"\b(?:" + "|".join(_LOCAL_HELPERS) + r")\b")
_MEMO_NAMES = re.compile(r"\b_M\d+[lc]\b")


def _bound(code: str) -> str:
    """``code`` (defining ``evaluate``) inside a closure over the helpers it names and the memos of ``x + [y]``
    it keeps (``_M0l``, ``_M0c``: ``_APPENDED``, None at first; a closure variable is read and written with one
    instruction, where an item of a memo list took three); ``evaluate`` is defined at the module level of the
    namespace all the same."""
    named = set(_HELPER_NAMES.findall(code))  # one pass over the code (one search a name took 1/10 of a load)
    used = [name for name in _LOCAL_HELPERS if name in named]
    memos = sorted(set(_MEMO_NAMES.findall(code)))
    if not used and not memos:
        return code
    if memos:
        code = (code.replace("def evaluate(S):\n", f"def evaluate(S):\n    nonlocal {', '.join(memos)}\n", 1)
                + "".join(f"{memo} = None\n" for memo in memos))
    names = ", ".join(used)
    # named as a function compiled at the top level is (a chart's fingerprint records the name: a stored
    # machine must compare equal to the same document loaded again by this version)
    return (f"def _bind({names}):\n{_indent(code)}    return evaluate\nevaluate = _bind({names})\n"
            "evaluate.__qualname__ = 'evaluate'\n")


def _hoisted(hoisted: dict[tuple[str, str], str], uses_data: bool, slow: str = "_slow(S)", *,
             data_bound: bool = False) -> str:
    """Reading the hoisted keys into their locals; ``return <slow>`` when one is missing. With ``data_bound``
    the code before has bound ``D`` already (to the event's data, tested a mapping, or to an empty one)."""
    data = any(mapping == "D" for mapping, _ in hoisted)
    lines = [] if data or not uses_data or data_bound else [_DATA]
    if not hoisted:
        return "".join(lines)
    lines.append("    try:\n")
    if data and not data_bound:  # data that is not a plain mapping (or no event: None[1] is a TypeError) takes the slow path,
        # which explains it (returned from inside the try: _slow raises no KeyError or TypeError, it turns
        # every error of the expression into an EvaluationError)
        lines.append(f"        if type(D := E[1]) is not _dict:\n            return {slow}\n")
    lines.extend(f"        {local} = {mapping}[{key!r}]\n" for (mapping, key), local in hoisted.items())
    lines.append(f"    except {'_NO_EVENT' if data else '_KeyError'}:\n        return {slow}\n")
    return "".join(lines)


def constant(value: Any) -> Expr:
    """An :class:`Expr` for a literal from a document; containers are copied so no two uses share one."""
    if isinstance(value, (dict, list)):
        return Expr(repr(value), lambda scope: _copy(value))
    return Expr(repr(value), lambda scope: value)


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def _parse(source: str) -> tuple[ast.Expression, int]:
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be a string, not {type(source).__name__}")
    if not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError(f"the expression is {len(source)} characters long; the limit is {MAX_SOURCE_LENGTH}",
                              "move long logic into a Python guard or action")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        detail = "" if exc.msg == "invalid syntax" else f": {exc.msg}"
        raise ExpressionError(f"invalid syntax{where}{detail}", "expressions use Python syntax") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot parse the expression: {exc}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExpressionError(f"the expression has {count} parts; the limit is {MAX_NODES}",
                              "move long logic into a Python guard or action")
    return tree, count
