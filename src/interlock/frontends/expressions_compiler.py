"""Compiles a checked expression AST into one Python function, with the safety checks woven into its code.

Each allowed node becomes a piece of Python *source*; the result is compiled once with :func:`compile`
over a namespace that holds only the helpers of :mod:`~interlock.frontends.expressions_ops` and
:mod:`~interlock.frontends.expressions_builtins` (no builtins: ``__builtins__`` is empty). Cheap operations
are inlined with a type test that sends anything but plain numbers to a charging helper::

    count < limit   ->   (_t1 < _t2 if (type(_t1 := <count>) is _int or type(_t1) in _NUM) & (...)
                          else _compare(S, '<', _t1, _t2))

Every evaluation charges the step's budget (the scope ``S`` itself) its node count up front; loops charge
their body's node count per item before they start (:func:`~interlock.frontends.expressions_ops.iterate`);
every operation whose cost grows with its operands goes through a helper that charges a bound on that cost
first. Python's own semantics (short-circuits, comprehension scoping, chained comparisons) carry over unchanged, because
the generated code *is* Python; only names are renamed (``x`` bound by a comprehension becomes ``v_x``).

With ``hoisted``, context and event-data keys read outside comprehensions become locals (``_h0``) that the
caller reads up front; :func:`~interlock.frontends.expressions.compile_expression` falls back to code
compiled without them when a key is missing.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Collection
from typing import Any, NoReturn

from interlock.frontends import expressions_ops as ops
from interlock.frontends.expressions_builtins import FUNCTIONS

MAX_DEPTH = 40
# ``x + [y]`` concatenates inline while the result has at most this many elements; each such operation
# outside comprehensions runs at most once per evaluation, so the evaluation's up-front charge includes
# this bound for it (longer operands take the charging helper, which charges their real length)
SHORT_LIST = 64
LONG_TEXT = 256  # a string appended inline (x + [y]) this long or longer is charged its text
COMPACT = 2**30 - 1  # the largest int CPython keeps in one digit: it compares two of them inline
_SCALARS = (int, float, str, bool, type(None))
_FAST_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_ARITH = {ast.RShift: ">>", ast.BitAnd: "&", ast.BitXor: "^", ast.BitOr: "|"}
_SMALL_INLINE = {ast.Mod: "%", ast.FloorDiv: "//", ast.Div: "/"}  # cheap for numbers of one machine word
_HELPER_OF = {ast.Mod: "_mod", ast.FloorDiv: "_floordiv", ast.Div: "_truediv"}
_HELPERS = {ast.Pow: "_pow", ast.LShift: "_lshift"}
_UNARY = {ast.Not: "not ", ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}
_FORBIDDEN = {
    "Lambda": ("lambda functions are not allowed", "name a guard or action implemented in Python instead"),
    "NamedExpr": ("assignment expressions (:=) are not allowed", "use an assign action"),
    "Await": ("await is not allowed", ""),
    "Yield": ("yield is not allowed", ""),
    "YieldFrom": ("yield is not allowed", ""),
    "Starred": ("*unpacking is only allowed inside list, tuple and set literals", ""),
}
# a list display of hoisted locals, numbers and plain strings: its items can be written twice
_SIMPLE_DISPLAY = re.compile(r"\[(?:_h\d+|\d+|'[^'\\]*')(?:, (?:_h\d+|\d+|'[^'\\]*'))*\]")
_DISPLAY_ITEM = re.compile(r"_h\d+|\d+|'[^'\\]*'")
_FORMAT_SPEC = re.compile(r"(.?[<>^=])?[+\- ]?z?#?0?\d{0,3}[,_]?(\.\d{1,3})?[bcdeEfFgGnosxX%]?")
_SPECIAL_NAMES = {"context": "C", "event": "E", "_event": "E", "_sessionid": "S.sessionid", "_name": "S.name"}


class ExpressionError(ValueError):
    """An expression was refused at load time: bad syntax or something the language does not allow."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def nodes(node: ast.AST) -> int:
    return sum(1 for _ in ast.walk(node))


class Compiler:
    """Turns a checked AST into Python source over the helper namespace; see the module docstring."""

    def __init__(self, states: Collection[str] | None = None, constants: dict[str, Any] | None = None,
                 hoisted: dict[tuple[str, str], str] | None = None, names: Collection[str] = ()) -> None:
        self.states = states
        self.names = names  # extra names read from the scope's ``values`` (authorize rules: claims, ...)
        self.bound: list[str] = []  # names bound by enclosing comprehensions, innermost last
        self.amplifies = False  # may the result share one list many times (repetition, comprehension)?
        self.uses_data = False  # does it read event.<key>? then the function binds D = the event's data
        self.no_walrus = 0  # inside a comprehension's iterable, where Python forbids ':='
        self.constants: dict[str, Any] = {} if constants is None else constants  # shared by a record's values
        self.temps = 0
        self.numbers: set[str] = set()  # sources that are number literals: no type test needed
        # with a mapping, context and event data keys read outside comprehensions become locals read
        # up front ({("C", key): local}); the caller runs the unhoisted code when one is missing
        self.hoisted = hoisted
        self.extra_cost = 0  # work units charged up front besides the node count (short_concat)
        # the code of +, - and * on names and number literals -> (the operation inline, the tests under which
        # the code gives its value): see arithmetic()
        self.pure: dict[str, tuple[str, tuple[str, ...]]] = {}
        # the code of ``x + [y]`` on a name and a display of names and literals -> (the list built inline, the
        # tests under which the code builds it, the name ``x`` and the display's items when they are appended
        # (else "")): see short_concat()
        self.listed: dict[str, tuple[str, tuple[str, ...], str, tuple[str, ...]]] = {}

    def fail(self, node: ast.AST, message: str, hint: str = "") -> NoReturn:
        col = getattr(node, "col_offset", None)
        raise ExpressionError(f"{message} (at column {col + 1})" if col is not None else message, hint)

    def compile(self, node: ast.AST, depth: int) -> str:
        if depth > MAX_DEPTH:
            self.fail(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
        kind = type(node).__name__
        method = getattr(self, f"_{kind}", None)
        if method is None:
            message, hint = _FORBIDDEN.get(kind, (f"{_describe(kind)} is not allowed in expressions", ""))
            self.fail(node, message, hint)
        source: str = method(node, depth + 1)
        return source

    def many(self, items: list[ast.expr], depth: int) -> list[str]:
        return [self.compile(n, depth) for n in items]

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self, source: str) -> tuple[str, str]:
        """``(first use, later uses)`` of a value needed twice: a walrus where Python allows one."""
        if source.isidentifier() or source in self.numbers or self.no_walrus:
            return source, source
        self.temps += 1
        name = f"_t{self.temps}"
        return f"({name} := {source})", name

    # --- leaves ---

    def _Constant(self, node: ast.Constant, depth: int) -> str:
        value = node.value
        if type(value) not in _SCALARS:
            self.fail(node, f"{type(value).__name__} literals are not allowed")
        if type(value) is str:
            ops.check_length(len(value), "string literal")
        ops.check_int(value)
        if type(value) is float and not math.isfinite(value):
            return self.constant(value)  # inf has no literal
        source = repr(value)
        if type(value) in ops.NUMBERS:
            self.numbers.add(source)
        return source

    def _Name(self, node: ast.Name, depth: int) -> str:
        name = node.id
        if name in self.bound:
            return f"v_{name}"
        if name in _SPECIAL_NAMES:
            return _SPECIAL_NAMES[name]
        if name in self.names:
            return f"S.values[{name!r}]"
        if name in FUNCTIONS or name == "In":
            self.fail(node, f"{name} is a function; call it, as in {name}(...)")
        if name.startswith("_"):
            self.fail(node, f"names starting with '_' are not available ({name!r})",
                      "read context values by name, as in context.total")
        return self.hoist("C", name) or f"(C[{name!r}] if {name!r} in C else _undefined({name!r}))"

    def hoist(self, mapping: str, key: str) -> str:
        """The local holding ``mapping[key]`` read up front, or "" where reads are not hoisted."""
        if self.hoisted is None or self.bound or self.no_walrus:  # comprehensions: their own scope
            return ""
        local = self.hoisted.get((mapping, key))
        if local is None:
            local = self.hoisted[(mapping, key)] = f"_h{len(self.hoisted)}"
        return local

    # --- access ---

    def _Attribute(self, node: ast.Attribute, depth: int) -> str:
        attr = node.attr
        if attr.startswith("_"):
            self.fail(node, f"attributes starting with '_' cannot be read ({attr!r})")
        base = node.value
        if isinstance(base, ast.Name) and base.id not in self.bound:
            if base.id == "context":
                return self.hoist("C", attr) or f"(C[{attr!r}] if {attr!r} in C else _no_context_key({attr!r}))"
            if base.id in ("event", "_event"):
                if attr in ops.EVENT_FIELDS:
                    return f"(E.{attr} if E is not None else _attr(E, {attr!r}))"
                self.uses_data = True
                return self.hoist("D", attr) or f"(D[{attr!r}] if {attr!r} in D else _attr(E, {attr!r}))"
        return f"_attr({self.compile(base, depth)}, {attr!r})"

    def _Subscript(self, node: ast.Subscript, depth: int) -> str:
        value = self.compile(node.value, depth)
        return f"_item(S, {value}, {self.compile(node.slice, depth)})"

    def _Slice(self, node: ast.Slice, depth: int) -> str:
        parts = [self.compile(p, depth) if p is not None else "None" for p in (node.lower, node.upper, node.step)]
        return f"_slice({', '.join(parts)})"

    # --- operators ---

    def _BinOp(self, node: ast.BinOp, depth: int) -> str:
        left, right = self.compile(node.left, depth), self.compile(node.right, depth)
        op = type(node.op)
        if op is ast.Add:
            literal = node.right if isinstance(node.right, ast.List) else node.left
            if (isinstance(literal, ast.List) and not self.bound and not self.no_walrus
                    and not any(isinstance(e, ast.Starred) for e in literal.elts)):
                return self.short_concat(left, right, len(literal.elts), literal_left=literal is node.left)
            return self.additive(left, right, "+", "_add(S, {a}, {b})")
        if op is ast.Sub:
            return self.additive(left, right, "-", "_arith(S, '-', {a}, {b})")
        if op in _SMALL_INLINE:
            return self.bounded(left, right, _SMALL_INLINE[op], f"{_HELPER_OF[op]}(S, {{a}}, {{b}})", "_WORD")
        if op in _ARITH:
            return f"_arith(S, {_ARITH[op]!r}, {left}, {right})"
        if op is ast.Mult:
            self.amplifies = True
            # numbers within a machine word multiply inline; wider ones take _mul, which charges the product of
            # their sizes (inline up to 4,096 bits, a loop of them ran 1.2 s of CPU on one step's budget)
            return self.bounded(left, right, "*", "_mul(S, {a}, {b})", "_WORD")
        if op in _HELPERS:
            return f"{_HELPERS[op]}(S, {left}, {right})"
        self.fail(node, f"the operator {op.__name__} is not available")

    def additive(self, left: str, right: str, symbol: str, slow: str) -> str:
        """``left + right`` or ``left - right``: inline for plain numbers (:meth:`fast`), but in a comprehension's
        body only within a machine word. Each item a comprehension builds may keep the new number, and one past
        a word (up to 8,192 bits, 1 KB) is charged by its size in the helper: inline, ``[(big + x, ...) for x in
        ...]`` built some 200 MB on one step's budget before the result's size was charged."""
        if self.bound:
            return self.bounded(left, right, symbol, slow, "_WORD")
        return self.fast(left, right, symbol, slow)

    def fast(self, left: str, right: str, symbol: str, slow: str) -> str:
        """``left <symbol> right`` inline when both are plain numbers, else the charging helper ``slow``."""
        if self.no_walrus:  # no temporaries here: pasting the operands again would grow the code 3x a level
            return slow.format(a=left, b=right)
        first_a, a = self.temp(left)
        first_b, b = self.temp(right)
        tests = [number_test(first, later) for first, later, source in ((first_a, a, left), (first_b, b, right))
                 if source not in self.numbers]
        if not tests:
            return f"{slow.format(a=a, b=b)}"  # two literals: rare, let the helper check them
        # '&' evaluates both tests, so both temporaries are bound; without temporaries 'and' may stop early
        joiner = " and " if first_a == a and first_b == b else " & "
        code = f"({a} {symbol} {b} if {joiner.join(tests)} else {slow.format(a=a, b=b)})"
        return self.arithmetic(code, left, right, symbol) if symbol in "+-" else code

    def arithmetic(self, code: str, left: str, right: str, symbol: str, bound: str = "") -> str:
        """``code`` of ``left <symbol> right``, and of the same operation on names and number literals (or on
        such operations) at once: one test of every name, then the whole operation inline (the value ``code``
        gives when every test holds), else ``code`` itself. ``total + price * qty`` tests three names, where
        ``code`` tests the product's operands and then the product. Remembered for an enclosing operation;
        with ``bound`` (a product) only names and literals, each within ``±bound`` (tested when it runs)."""
        operands = [self.pure.get(x) or ((x, ()) if x in self.numbers else (x, (number_test(x, x),))
                                         if x.isidentifier() else None) for x in (left, right)]
        if None in operands or (bound and (left in self.pure or right in self.pure)):
            return code
        (a, tests_a), (b, tests_b) = operands  # type: ignore[misc]  # None was excluded above
        tests = list(dict.fromkeys((*tests_a, *tests_b)))  # a name read twice is tested once
        if bound:  # literals too: a literal may be as wide as a document allows (0xfff...: 7,600 bits)
            tests.extend(_within(x, bound) for x in (left, right))
        if not tests:  # nothing to test (no name): leave it to code, which checks what it computes
            return code
        inline = f"({a} {symbol} {b})"
        if left not in self.pure and right not in self.pure:
            self.pure[code] = (inline, tuple(tests))  # two names: code is already this test and inline
            return code
        combined = f"({inline} if {' and '.join(tests)} else {code})"
        self.pure[combined] = (inline, tuple(tests))
        return combined

    def on_ints(self, node: ast.expr) -> tuple[str, tuple[str, ...]] | None:
        """``node`` (compiled already, with hoisting) as plain Python when it is comparisons of hoisted names and
        number literals joined by ``and``, ``or`` and ``not``, and the locals it reads; else None. When every
        such local is an ``int`` the plain code gives the same value as the compiled one (True or False: ints
        compare without error or charge) and needs no other test."""
        if self.hoisted is None:
            return None
        if isinstance(node, ast.BoolOp):
            parts = [self.on_ints(v) for v in node.values]
            if any(p is None for p in parts):
                return None
            joiner = " and " if isinstance(node.op, ast.And) else " or "
            codes = [p[0] for p in parts if p is not None]
            return "(" + joiner.join(codes) + ")", tuple(dict.fromkeys(n for p in parts if p is not None for n in p[1]))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.on_ints(node.operand)
            return None if inner is None else (f"(not {inner[0]})", inner[1])
        if not isinstance(node, ast.Compare) or not all(type(op) in _FAST_COMPARE for op in node.ops):
            return None
        operands: list[str] = []
        for operand in (node.left, *node.comparators):
            if isinstance(operand, ast.Constant) and type(operand.value) in (int, float) \
                    and repr(operand.value) in self.numbers:
                operands.append(repr(operand.value))
            elif isinstance(operand, ast.Name | ast.Attribute):
                local = self.compile(operand, 0)  # the hoisted local it was compiled to (no new code)
                if not re.fullmatch(r"_h\d+", local):
                    return None
                operands.append(local)
            else:
                return None
        code = operands[0] + "".join(f" {_FAST_COMPARE[type(op)]} {b}" for op, b in zip(node.ops, operands[1:], strict=True))
        return f"({code})", tuple(dict.fromkeys(o for o in operands if o.startswith("_h")))

    def short_concat(self, left: str, right: str, literal: int, *, literal_left: bool = False) -> str:
        """``left + right`` where one side is a list display: inline for two lists of at most
        :data:`SHORT_LIST` elements together, charged up front (``extra_cost``); else ``_add``, which charges
        the real length. Only outside comprehensions, where it runs at most once per evaluation.

        A non-empty display is a list, and a true one: it is bound first (``(_t1 := [y]) and``) and only the
        other side is tested, when that keeps the order of evaluation: the display is the left operand, or
        the left operand is a name or a number literal (reading it cannot fail or have effects)."""
        self.extra_cost += SHORT_LIST + literal
        display, operand = (left, right) if literal_left else (right, left)
        # a display of names and literals (its items read nothing) is written twice, unpacked into one new
        # list inline: when it comes first (as Python evaluates it), or the other side is a name too
        if literal and _SIMPLE_DISPLAY.fullmatch(display) and (literal_left or self.temp(left)[0] == left):
            first, later = self.temp(operand)
            items = display[1:-1]
            joined, slow = (f"{items}, *{later}", f"{display}, {later}") if literal_left else \
                (f"*{later}, {items}", f"{later}, {display}")
            tests = (f"type({first}) is _list", f"_len({later}) <= {SHORT_LIST - literal}")
            code = f"([{joined}] if {' and '.join(tests)} else _add(S, {slow}))"
            if first == later:  # a name: the tests can run on their own, before the value is built
                appended = () if literal_left else tuple(_DISPLAY_ITEM.findall(items))
                self.listed[code] = (f"[{joined}]", tests, later, appended)
            return code
        first_a, a = self.temp(left)
        first_b, b = self.temp(right)
        if literal and (literal_left or first_a == a):
            display, other = (first_a, first_b) if literal_left else (first_b, first_a)
            operand = b if literal_left else a
            return (f"({a} + {b} if {display} and type({other}) is _list and _len({operand}) <= {SHORT_LIST - literal} "
                    f"else _add(S, {a}, {b}))")
        # '&' evaluates both tests, so both temporaries are bound for the helper
        return (f"({a} + {b} if (type({first_a}) is _list) & (type({first_b}) is _list) "
                f"and _len({a}) + _len({b}) <= {SHORT_LIST} else _add(S, {a}, {b}))")

    def bounded(self, left: str, right: str, symbol: str, slow: str, bound: str) -> str:
        """``left <symbol> right`` inline for numbers within ``±bound``, else the charging helper ``slow``."""
        if self.no_walrus:  # as in fast(): each operand appears once
            return slow.format(a=left, b=right)
        first_a, a = self.temp(left)
        first_b, b = self.temp(right)
        joiner = " and " if first_a == a and first_b == b else " & "  # as in fast()
        code = (f"({a} {symbol} {b} if {number_test(first_a, a)}{joiner}{number_test(first_b, b)} "
                f"and {_within(a, bound)} and {_within(b, bound)} else {slow.format(a=a, b=b)})")
        return self.arithmetic(code, left, right, symbol, bound) if symbol == "*" else code

    def _UnaryOp(self, node: ast.UnaryOp, depth: int) -> str:
        operand = self.compile(node.operand, depth)
        literal = node.operand.value if isinstance(node.operand, ast.Constant) else None
        if isinstance(node.op, ast.USub) and operand in self.numbers and type(literal) in (int, float):
            negative = repr(-literal)  # type: ignore[operator]  # a negative literal, folded
            self.numbers.add(negative)
            return negative
        if isinstance(node.op, ast.Not):
            return f"(not {operand})"  # truth of every value an expression can hold is O(1)
        return f"_unary(S, {_UNARY[type(node.op)]!r}, {operand})"

    def _BoolOp(self, node: ast.BoolOp, depth: int) -> str:
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return "(" + joiner.join(self.many(node.values, depth)) + ")"

    def _Compare(self, node: ast.Compare, depth: int) -> str:
        if self.no_walrus and not all(isinstance(m, ast.Name | ast.Constant) for m in node.comparators[:-1]):
            # without a temporary a middle operand is pasted twice: a nested one would double at every level
            self.fail(node, "a chained comparison (a < f(b) < c) whose middle is not a name or a literal cannot "
                            "stand in the iterable of a comprehension; write the links joined by 'and'")
        operands = [self.compile(node.left, depth), *self.many(node.comparators, depth)]
        # a < b < c: each middle operand evaluated once (a temp), the chain stops at the first false link
        links, previous, last = [], operands[0], len(node.ops) - 1
        for i, (op, right) in enumerate(zip(node.ops, operands[1:], strict=True)):
            first, later = self.temp(right) if i < last else (right, right)
            links.append(self.comparison(op, previous, first))
            previous = later
        return links[0] if len(links) == 1 else "(" + " and ".join(links) + ")"

    def comparison(self, op: ast.cmpop, left: str, right: str) -> str:
        kind = type(op)
        if kind is ast.Is:
            return f"({left} is {right})"
        if kind is ast.IsNot:
            return f"({left} is not {right})"
        if kind is ast.In:
            return f"_contains(S, {left}, {right})"
        if kind is ast.NotIn:
            return f"(not _contains(S, {left}, {right}))"
        symbol = _FAST_COMPARE[kind]
        if self.no_walrus:
            return f"_compare(S, {symbol!r}, {left}, {right})"
        return self.fast(left, right, symbol, f"_compare(S, {symbol!r}, {{a}}, {{b}})")

    def _IfExp(self, node: ast.IfExp, depth: int) -> str:
        test, body, orelse = (self.compile(n, depth) for n in (node.test, node.body, node.orelse))
        return f"({body} if {test} else {orelse})"

    # --- calls ---

    def _Call(self, node: ast.Call, depth: int) -> str:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            self.fail(node, "*args and **kwargs are not allowed in calls")
        func = node.func
        if isinstance(func, ast.Name) and func.id == "In":
            return self._In(node, depth)
        args = self.many(node.args, depth)
        for k in node.keywords:
            if str(k.arg).startswith("_"):
                self.fail(k, f"names starting with '_' are not available ({k.arg!r})")
        kwargs = [(str(k.arg), self.compile(k.value, depth)) for k in node.keywords]
        if isinstance(func, ast.Name) and func.id not in self.bound:
            if func.id not in FUNCTIONS:
                self.fail(node, f"unknown function {func.id!r}", "available: In, " + ", ".join(sorted(FUNCTIONS)))
            # keyword names are identifiers (the parser says so); unknown ones fail as a TypeError
            return f"_f_{func.id}(S, S, {', '.join([*args, *(f'{k}={v}' for k, v in kwargs)])})"
        if isinstance(func, ast.Attribute):
            if func.attr.startswith("_"):
                self.fail(func, f"attributes starting with '_' cannot be read ({func.attr!r})")
            target = self.compile(func.value, depth)
            keywords = "{" + ", ".join(f"{k!r}: {v}" for k, v in kwargs) + "}"
            return f"_method(S, {target}, {func.attr!r}, ({''.join(a + ', ' for a in args)}), {keywords})"
        self.compile(func, depth)  # its own error first (a lambda, say), if it has one
        self.fail(node, "only named functions and methods can be called")

    def _In(self, node: ast.Call, depth: int) -> str:
        if len(node.args) != 1 or node.keywords:
            self.fail(node, "In() takes one state id, as in In('order.paid')")
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            state = arg.value.removeprefix("#")
            if self.states is not None and state not in self.states:
                close = difflib.get_close_matches(state, list(self.states), n=3)
                self.fail(node, f"In({arg.value!r}) names no state",
                          "did you mean " + " or ".join(repr(c) for c in close) + "?" if close
                          else "In() takes a state id, such as 'machine.state.child'")
            return f"S.In({state!r})"
        return f"_computed_in(S, S, {self.compile(arg, depth)})"

    # --- literals ---

    def sequence(self, elts: list[ast.expr], depth: int) -> str:
        """A list literal; with ``*x`` parts it is built by a helper that checks and charges each part."""
        if not any(isinstance(e, ast.Starred) for e in elts):
            return "[" + ", ".join(self.many(elts, depth)) + "]"
        parts = [f"({isinstance(e, ast.Starred)}, {self.compile(e.value if isinstance(e, ast.Starred) else e, depth)})"
                 for e in elts]
        return f"_starred(S, ({''.join(p + ', ' for p in parts)}))"

    def _List(self, node: ast.List, depth: int) -> str:
        return self.sequence(node.elts, depth)

    def _Tuple(self, node: ast.Tuple, depth: int) -> str:
        if not any(isinstance(e, ast.Starred) for e in node.elts):
            return "(" + "".join(e + ", " for e in self.many(node.elts, depth)) + ")"
        return f"_tuple({self.sequence(node.elts, depth)})"

    def _Set(self, node: ast.Set, depth: int) -> str:
        return f"_set(S, {self.sequence(node.elts, depth)})"

    def _Dict(self, node: ast.Dict, depth: int) -> str:
        if all(k is not None for k in node.keys):
            pairs = [f"_key({self.compile(k, depth)}): {self.compile(v, depth)}"
                     for k, v in zip(node.keys, node.values, strict=True) if k is not None]
            return "{" + ", ".join(pairs) + "}"
        parts = [f"({self.compile(k, depth) if k is not None else '_MERGE'}, {self.compile(v, depth)})"
                 for k, v in zip(node.keys, node.values, strict=True)]
        return f"_mapping(S, ({''.join(p + ', ' for p in parts)}))"

    def _JoinedStr(self, node: ast.JoinedStr, depth: int) -> str:
        return f"_join_text(S, ({''.join(p + ', ' for p in self.many(node.values, depth))}))"

    def _FormattedValue(self, node: ast.FormattedValue, depth: int) -> str:
        value = self.compile(node.value, depth)
        spec = self.format_spec(node)
        if spec:
            return f"_formatted(S, {value}, {spec!r})"
        return f"_to_repr(S, {value})" if node.conversion in (ord("r"), ord("a")) else f"_to_str(S, {value})"

    def format_spec(self, node: ast.FormattedValue) -> str:
        """f-string format specs must be written out and stay small (widths and precisions up to 999)."""
        if node.format_spec is None:
            return ""
        values = getattr(node.format_spec, "values", [])
        if not all(isinstance(v, ast.Constant) for v in values):
            self.fail(node, "format specs must be written out, not computed")
        spec = "".join(str(v.value) for v in values if isinstance(v, ast.Constant))
        if not _FORMAT_SPEC.fullmatch(spec):  # the spec is short, from the document, and the regex linear
            self.fail(node, f"the format spec {spec!r} is not allowed", "widths and precisions up to 999")
        return spec

    # --- comprehensions ---

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                       depth: int) -> str:
        self.amplifies = True
        cost = nodes(node)  # per item of each loop: a bound on the code one iteration runs
        clauses: list[str] = []
        names: list[str] = []
        try:
            for gen in node.generators:
                if gen.is_async:
                    self.fail(node, "async comprehensions are not allowed")
                self.no_walrus += 1
                try:
                    source = self.compile(gen.iter, depth)  # with the names bound so far, as in Python
                finally:
                    self.no_walrus -= 1
                bound = _target_names(self, gen.target)
                target = _target(gen.target)
                names.extend(bound)
                self.bound.extend(bound)
                clauses.append(f"for {target} in _iterate(S, {source}, {cost})")
                clauses.extend(f"if {c}" for c in self.many(gen.ifs, depth))
            if isinstance(node, ast.DictComp):
                element = f"_key({self.compile(node.key, depth)}): {self.compile(node.value, depth)}"
            else:
                element = self.compile(node.elt, depth)
        finally:
            del self.bound[len(self.bound) - len(names):]
        loops = " ".join(clauses)
        if isinstance(node, ast.DictComp):
            return f"_checked_mapping({{{element} {loops}}})"
        if isinstance(node, ast.SetComp):
            return f"_set(S, [{element} {loops}])"
        return f"[{element} {loops}]"

    _ListComp = _SetComp = _GeneratorExp = _DictComp = _comprehension


def number_test(first: str, later: str) -> str:
    """Is the operand a plain number? ``first`` evaluates it (binding a temporary), ``later`` reads it again.
    ``int``, the usual case, is tested by identity first: cheaper than the set lookup."""
    return f"(type({first}) is _int or type({later}) in _NUM)"


def _within(value: str, bound: str) -> str:
    """``-bound < value < bound`` for a number; an int of one CPython digit is tested against literal bounds
    first, which CPython compares inline (the wide bounds take the generic comparison)."""
    return f"({compact(value)} or _N{bound} < {value} < {bound})"


def compact(value: str) -> str:
    """``value`` (a name or a literal) is a number within ``±COMPACT``, as two comparisons joined by ``and``:
    each is a load and one compare-and-jump, where the chain ``a <= x <= b`` also copies and swaps ``x``."""
    return f"{-COMPACT} <= {value} and {value} <= {COMPACT}"


def _target_names(compiler: Compiler, target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        if target.id.startswith("_") and target.id != "_":
            compiler.fail(target, f"names starting with '_' are not available ({target.id!r})")
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(compiler, elt)]
    compiler.fail(target, "a comprehension can only bind names, as in 'for key, value in pairs'")


def _target(target: ast.expr) -> str:
    if isinstance(target, ast.Name):
        return f"v_{target.id}"
    assert isinstance(target, (ast.Tuple, ast.List))  # _target_names refused anything else
    return "(" + "".join(_target(e) + ", " for e in target.elts) + ")"


def _describe(kind: str) -> str:
    return {"Lambda": "lambda", "ListComp": "a list comprehension"}.get(kind, f"the {kind} construct")
