"""The safe expression language of machine documents: Python syntax, no way out, bounded work.

Documents are uploaded by people we do not fully trust, so their guards, assignments and delays are
compiled here, at load time, into closures over a whitelist::

    >>> expr = compile_expression("context.total + event.data.amount")
    >>> expr.source
    'context.total + event.data.amount'

What an expression can see: the context (``context.x`` or bare ``x``), ``event`` (``event.name``,
``event.data.amount``; ``event.amount`` is short for ``event.data.amount``), ``In('state')`` and the
functions in :data:`~interlock.frontends.expressions_FUNCTIONS`. There are no imports, no lambdas,
no attribute access beyond mapping keys, event fields and a short list of string/list/dict methods,
and no name or attribute starting with ``_``. Every operation whose cost grows with its input is charged
to a per-evaluation budget (see :mod:`~interlock.frontends.expressions_ops`).

Why not ``simpleeval``: measured with simpleeval 1.0.8 at its strictest (``allowed_attrs``), ``str()`` of
``[[1]*100000]*1000`` ran 20 s and built 300 MB, ``sum([[1]*100000]*300, [])`` ran 44 s, and
``'a'.ljust(10**7)`` passed its string cap; its evaluator also keeps per-call state on the instance
(not reentrant) and walks every intermediate result. Plugging those holes meant replacing most of it.
Compiling the checked AST into closures also makes a guard like ``context.n < 3`` about 10x faster.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable, Collection
from typing import Any, NoReturn

from interlock.core.datamodel import Expr, Scope
from interlock.frontends import expressions_ops as ops
from interlock.frontends.expressions_builtins import FUNCTIONS, call_method
from interlock.frontends.expressions_comp import compile_comprehension
from interlock.frontends.expressions_literals import LiteralCompiler
from interlock.frontends.expressions_ops import Budget, EvaluationError

__all__ = ["EvaluationError", "ExpressionError", "compile_expression", "constant"]

MAX_SOURCE_LENGTH = 2_000
MAX_NODES = 400
MAX_DEPTH = 40

Node = Callable[[Scope, Budget], Any]
_SCALARS = (int, float, str, bool, type(None))
_CONTAINERS = (list, tuple, dict, set, frozenset)
_RUNTIME_ERRORS = (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError,
                   AttributeError, RecursionError)
_FORBIDDEN = {
    "Lambda": ("lambda functions are not allowed", "name a guard or action implemented in Python instead"),
    "NamedExpr": ("assignment expressions (:=) are not allowed", "use an assign action"),
    "Await": ("await is not allowed", ""),
    "Yield": ("yield is not allowed", ""),
    "YieldFrom": ("yield is not allowed", ""),
    "Starred": ("*unpacking is only allowed inside list, tuple and set literals", ""),
}


class ExpressionError(ValueError):
    """An expression was refused at load time: bad syntax or something the language does not allow."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def compile_expression(source: str, *, states: Collection[str] | None = None) -> Expr:
    """Parse and check ``source`` and compile it into an :class:`Expr`; raises :class:`ExpressionError`.

    With ``states`` (the chart's state ids), ``In('x')`` naming no state is refused too.
    """
    tree = _parse(source)
    compiler = _Compiler(states)
    root = compiler.compile(tree.body, 0)
    return Expr(source, _evaluator(source, root, compiler.amplifies))


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


def _evaluator(source: str, root: Node, amplifies: bool) -> Callable[[Scope], Any]:
    def evaluate(scope: Scope) -> Any:
        budget = Budget()
        try:
            value = root(scope, budget)
            if amplifies and type(value) in _CONTAINERS:
                # a comprehension or repetition may return one list referenced many times; the result
                # is stored and serialized as a tree, so its whole size must fit the budget
                ops.charge_tree(budget, value)
            return value
        except EvaluationError as exc:
            raise EvaluationError(f"{source!r}: {exc}") from None
        except _RUNTIME_ERRORS as exc:
            raise EvaluationError(f"{source!r}: {type(exc).__name__}: {exc}") from None

    return evaluate


def _parse(source: str) -> ast.Expression:
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
    return tree


_BINOPS: dict[type, tuple[Callable[..., Any], bool]] = {
    # operator -> (function, takes the budget first)
    ast.Add: (ops.op_add, True), ast.Mult: (ops.op_mul, True), ast.Pow: (ops.op_pow, True),
    ast.Mod: (ops.op_mod, True), ast.LShift: (ops.op_lshift, True), ast.BitOr: (ops.op_bitor, True),
    ast.Sub: (operator.sub, False), ast.Div: (operator.truediv, False),
    ast.FloorDiv: (operator.floordiv, False), ast.RShift: (operator.rshift, False),
    ast.BitAnd: (operator.and_, False), ast.BitXor: (operator.xor, False),
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
}


def _context(scope: Scope, budget: Budget) -> Any:
    return scope.context


def _event(scope: Scope, budget: Budget) -> Any:
    return scope.event


_SPECIAL_NAMES: dict[str, Node] = {
    "context": _context, "event": _event, "_event": _event,
    "_sessionid": lambda scope, budget: scope.sessionid, "_name": lambda scope, budget: scope.name,
}


class _Compiler(LiteralCompiler):
    """Turns a checked AST into nested closures ``fn(scope, budget)``."""

    def __init__(self, states: Collection[str] | None = None) -> None:
        self.bound: list[str] = []  # names bound by enclosing comprehensions, innermost last
        self.amplifies = False
        self.states = states

    def fail(self, node: ast.AST, message: str, hint: str = "") -> NoReturn:
        col = getattr(node, "col_offset", None)
        raise ExpressionError(f"{message} (at column {col + 1})" if col is not None else message, hint)

    def compile(self, node: ast.AST, depth: int) -> Node:
        if depth > MAX_DEPTH:
            self.fail(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        kind = type(node).__name__
        method = getattr(self, f"_{kind}", None)
        if method is None:
            message, hint = _FORBIDDEN.get(kind, (f"{_describe(kind)} is not allowed in expressions", ""))
            self.fail(node, message, hint)
        result: Node = method(node, depth + 1)
        return result

    def many(self, nodes: list[ast.expr], depth: int) -> list[Node]:
        return [self.compile(n, depth) for n in nodes]

    # --- leaves ---

    def _Constant(self, node: ast.Constant, depth: int) -> Node:
        value = node.value
        if type(value) not in _SCALARS:
            self.fail(node, f"{type(value).__name__} literals are not allowed")
        if type(value) is str:
            ops.check_length(len(value), "string literal")
        ops.check_int(value)
        return lambda scope, budget: value

    def _Name(self, node: ast.Name, depth: int) -> Node:
        name = node.id
        if name in self.bound:
            return lambda scope, budget: budget.locals[name]
        if name in _SPECIAL_NAMES:
            return _SPECIAL_NAMES[name]
        if name in FUNCTIONS or name == "In":
            self.fail(node, f"{name} is a function; call it, as in {name}(...)")
        if name.startswith("_"):
            self.fail(node, f"names starting with '_' are not available ({name!r})",
                      "read context values by name, as in context.total")

        def lookup(scope: Scope, budget: Budget) -> Any:
            try:
                return scope.context[name]
            except KeyError:
                raise EvaluationError(f"{name!r} is not defined: there is no such context variable") from None

        return lookup

    # --- access ---

    def _Attribute(self, node: ast.Attribute, depth: int) -> Node:
        attr = node.attr
        if attr.startswith("_"):
            self.fail(node, f"attributes starting with '_' cannot be read ({attr!r})")
        if isinstance(node.value, ast.Name) and node.value.id == "context" and "context" not in self.bound:
            def context_key(scope: Scope, budget: Budget) -> Any:
                try:
                    return scope.context[attr]
                except KeyError:
                    raise EvaluationError(f"the context has no key {attr!r}") from None

            return context_key
        value = self.compile(node.value, depth)
        get_attr = ops.get_attr
        return lambda scope, budget: get_attr(value(scope, budget), attr)

    def _Subscript(self, node: ast.Subscript, depth: int) -> Node:
        value, key = self.compile(node.value, depth), self.compile(node.slice, depth)
        return lambda scope, budget: ops.get_item(budget, value(scope, budget), key(scope, budget))

    def _Slice(self, node: ast.Slice, depth: int) -> Node:
        parts = [self.compile(p, depth) if p is not None else None for p in (node.lower, node.upper, node.step)]
        return lambda scope, budget: slice(*(p(scope, budget) if p else None for p in parts))

    # --- operators ---

    def _BinOp(self, node: ast.BinOp, depth: int) -> Node:
        entry = _BINOPS.get(type(node.op))
        if entry is None:
            self.fail(node, f"the operator {type(node.op).__name__} is not available")
        fn, budgeted = entry
        self.amplifies |= isinstance(node.op, ast.Mult)
        left, right = self.compile(node.left, depth), self.compile(node.right, depth)
        if budgeted:
            return lambda scope, budget: fn(budget, left(scope, budget), right(scope, budget))
        return lambda scope, budget: fn(left(scope, budget), right(scope, budget))

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> Node:
        fn, operand = _UNARY[type(node.op)], self.compile(node.operand, depth)
        return lambda scope, budget: fn(operand(scope, budget))

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> Node:
        parts = self.many(node.values, depth)
        is_and = isinstance(node.op, ast.And)

        def boolop(scope: Scope, budget: Budget) -> Any:
            value: Any = is_and
            for part in parts:
                value = part(scope, budget)
                if bool(value) is not is_and:
                    return value
            return value

        return boolop

    def _Compare(self, node: ast.Compare, depth: int) -> Node:
        left = self.compile(node.left, depth)
        pairs = [(self._comparison(op), self.compile(c, depth)) for op, c in zip(node.ops, node.comparators, strict=True)]
        if len(pairs) == 1:
            test, right = pairs[0]
            return lambda scope, budget: test(budget, left(scope, budget), right(scope, budget))

        def chain(scope: Scope, budget: Budget) -> bool:
            a = left(scope, budget)
            for test, right in pairs:
                b = right(scope, budget)
                if not test(budget, a, b):
                    return False
                a = b
            return True

        return chain

    def _comparison(self, op: ast.cmpop) -> Callable[[Budget, Any, Any], Any]:
        if isinstance(op, ast.In):
            return lambda budget, a, b: ops.op_contains(budget, a, b)
        if isinstance(op, ast.NotIn):
            return lambda budget, a, b: not ops.op_contains(budget, a, b)
        fn = _COMPARE[type(op)]

        def compare(budget: Budget, a: Any, b: Any) -> Any:
            if type(a) not in _SCALARS or type(b) not in _SCALARS:
                ops.deep(budget, a, b)
            return fn(a, b)

        return compare

    def _IfExp(self, node: ast.IfExp, depth: int) -> Node:
        test, body, orelse = (self.compile(n, depth) for n in (node.test, node.body, node.orelse))
        return lambda scope, budget: body(scope, budget) if test(scope, budget) else orelse(scope, budget)

    # --- calls ---

    def _Call(self, node: ast.Call, depth: int) -> Node:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            self.fail(node, "*args and **kwargs are not allowed in calls")
        args = self.many(node.args, depth)
        kwargs = {k.arg: self.compile(k.value, depth) for k in node.keywords if k.arg is not None}
        func = node.func
        if isinstance(func, ast.Name) and func.id == "In":
            return self._In(node, args)
        if isinstance(func, ast.Name) and func.id not in self.bound:
            fn = FUNCTIONS.get(func.id)
            if fn is None:
                self.fail(node, f"unknown function {func.id!r}",
                          "available: In, " + ", ".join(sorted(FUNCTIONS)))
            if len(args) == 1 and not kwargs:
                (arg,) = args
                return lambda scope, budget: fn(scope, budget, arg(scope, budget))
            return lambda scope, budget: fn(scope, budget, *[a(scope, budget) for a in args],
                                            **{k: v(scope, budget) for k, v in kwargs.items()})
        if isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                self.fail(func, f"attributes starting with '_' cannot be read ({func.attr!r})")
            target, name = self.compile(func.value, depth), func.attr
            return lambda scope, budget: call_method(
                budget, target(scope, budget), name, tuple(a(scope, budget) for a in args),
                {k: v(scope, budget) for k, v in kwargs.items()})
        self.compile(func, depth)  # its own error first (a lambda, say), if it has one
        self.fail(node, "only named functions and methods can be called")

    def _In(self, node: ast.Call, args: list[Node]) -> Node:
        if len(args) != 1 or node.keywords:
            self.fail(node, "In() takes one state id, as in In('order.paid')")
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            state = arg.value.removeprefix("#")
            if self.states is not None and state not in self.states:
                close = difflib.get_close_matches(state, list(self.states), n=3)
                self.fail(node, f"In({arg.value!r}) names no state",
                          "did you mean " + " or ".join(repr(c) for c in close) + "?" if close
                          else "In() takes a state id, such as 'machine.state.child'")
            return lambda scope, budget: scope.In(state)
        (compiled,) = args
        return lambda scope, budget: scope.In(str(compiled(scope, budget)).removeprefix("#"))

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       depth: int) -> Node:
        self.amplifies = True
        return compile_comprehension(self, node, depth)

    _ListComp = _SetComp = _GeneratorExp = _DictComp = _comprehension


def _describe(kind: str) -> str:
    return {"Lambda": "lambda", "ListComp": "a list comprehension"}.get(kind, f"the {kind} construct")
