"""Expressions compile to Python code: the result keeps Python's semantics (checked against ``eval``).

Short-circuits, chained comparisons evaluated once per operand, comprehension scoping, unpacking and
the inline fast paths for numbers must give what Python gives on the same data.
"""

from __future__ import annotations

import ast
from typing import Any

import pytest

from interlock.core.datamodel import STEP_WORK_LIMIT, Scope
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.document import load_document
from interlock.frontends.document_stored import merged_check
from interlock.frontends.expressions import EvaluationError, compile_expression, compile_record
from interlock.frontends.expressions_compiler import SHORT_LIST

CONTEXT = {"xs": [1, 2, 3, 4], "a": 2, "b": 5, "s": "hello", "d": {"k": 1, "j": 2}, "f": 1.5, "big": 2**5000}
PYTHON = {"sum": sum, "len": len, "max": max, "min": min, "abs": abs, "round": round, "range": range}


@pytest.mark.parametrize("source", [
    "[y for x in [a + b for a in xs] for y in range(x) if 1 < y < 4]",
    "[x for x in [v for v in xs if 1 < v <= 3]]",
    "1 < a < b < 10", "1 < a > b", "a < b == 5 != 4", "[1 < x < 3 for x in xs]",
    "{k: v * 2 for k, v in d.items() if v > 1}", "{x % 2 for x in xs}",
    "sum(x * x for x in xs if x > a)", "[(x, y) for x in xs if x > 2 for y in xs if y < x - 2]",
    "a * f + b - xs[0] / 2", "-a ** 2", "(-a) ** 2", "-2 ** 2", "- -a", "not a < b", "-1.5 * a",
    "s[1:3] + s[-1]", "xs[::-1]", "f'{a}-{b!r}-{s:>8}-{f:.2f}'",
    "[*xs, *[a, b]]", "(*xs, a)", "{**d, 'z': a}", "{1, 2, *xs}",
    "a if a > b else b if b > 3 else 0", "[x for x in xs if x > 1 and x < 4 or x == 1]",
    "[[x + y for y in xs if y > x] for x in xs if x < 3]", "[a for a in xs] + [a]",
    "max(xs) + min(a, b) + abs(-3) + round(2.567, 1)", "'x' in s or 'l' in s", "a in xs and 7 not in xs",
    "a - b - 1", "a // b", "b % a", "b / a", "-b // a", "-b % a", "a << 3", "b >> 1", "a & b | 1 ^ 3",
    "2.0 * 3", "a * 2.5", "True + 1", "a * True", "big * 3 - big * 2 == big", "big // 3 % 1000",
    "big * 2 > big", "2.5 // 1", "(a > 1) + (b > 1)",
    "60 * 1000", "2 * 3 + 1", "a + 2 * 3", "a * 2 * 3 + 1", "2 * 3 - a * 4", "1 + 2 - 3",
])
def test_compiled_expressions_give_what_python_gives(source: str) -> None:
    scope = Scope(dict(CONTEXT), set(), {}, "", "", 0.0)
    expected = eval(source, {**PYTHON, **CONTEXT})
    got = compile_expression(source)(scope)
    assert (got, type(got)) == (expected, type(expected))
    assert compile_record([("v", source)])(Scope(dict(CONTEXT), set(), {}, "", "", 0.0)) == {"v": expected}


def test_a_wide_literal_in_a_product_is_checked_like_a_name() -> None:
    """A literal may be as wide as the expression's length allows; a product with it is refused past the
    integer limit, whether it stands alone or inside a sum (where names are tested once, inline)."""
    wide = "0x" + "f" * 1900  # 7,600 bits
    scope = Scope({"x": 2**4000}, set(), {}, "", "", 0.0)
    for source in (f"x * {wide}", f"x * {wide} + 0", f"{wide} * x - 1", f"1 + x * {wide}"):
        with pytest.raises(EvaluationError, match="8,192 bits"):
            compile_expression(source)(scope)
        with pytest.raises(EvaluationError, match="8,192 bits"):
            compile_record([("v", source)])(scope)


def test_a_record_reads_every_value_from_the_same_context() -> None:
    record = compile_record([("a", "b"), ("b", "a"), ("n", "a * 10 + b")])
    assert record(Scope(dict(CONTEXT), set(), {}, "", "", 0.0)) == {"a": 5, "b": 2, "n": 25}


def test_an_error_in_a_record_names_its_own_expression() -> None:
    record = compile_record([("a", "a + 1"), ("b", "missing * 2")])
    scope = Scope(dict(CONTEXT), set(), {}, "", "", 0.0)
    with pytest.raises(Exception, match=r"^'missing \* 2': 'missing' is not defined"):
        record(scope)




@pytest.mark.parametrize(("context", "data", "expected"), [
    ({"a": 2, "b": 5}, {"n": 3}, 2 + 3 * 5),  # every key there: the values read up front
    ({"b": 5}, {"n": 3}, "'a' is not defined"),  # a context key missing
    ({"a": 2, "b": 5}, {}, "has no field or data key 'n'"),  # an event data key missing
    ({"a": 2, "b": 5}, [3], "has no field or data key 'n'"),  # data that is not a mapping
    ({"a": 2, "b": 5}, None, "has no field or data key 'n'"),  # an event without data
])
def test_keys_read_up_front_fall_back_to_the_same_result_or_error(
        context: dict[str, Any], data: Any, expected: Any) -> None:
    expr = compile_expression("a + event.n * context.b")
    scope = Scope(context, set(), {}, "", "", 0.0)
    scope.event = Event("E", data)
    if isinstance(expected, int):
        assert expr(scope) == expected
    else:
        with pytest.raises(EvaluationError, match=expected):
            expr(scope)


def test_no_event_falls_back_to_the_unhoisted_code() -> None:
    scope = Scope({"a": 1}, set(), {}, "", "", 0.0)  # as when the datamodel is initialized: no event
    with pytest.raises(EvaluationError, match="cannot read 'n' of None"):
        compile_expression("a + event.n")(scope)
    assert compile_expression("a or event.n")(scope) == 1  # never reaches the event: no error


def test_a_fallback_charges_the_budget_once() -> None:
    fast, slow = (Scope({"a": 1, "b": 2}, set(), {}, "", "", 0.0) for _ in range(2))
    slow.context = {"a": 1, "b": 2, "c": 0}
    expr = compile_expression("a + (b if a else c)")
    del slow.context["c"]  # c is never evaluated: the fallback gives the same value
    assert expr(fast) == expr(slow) == 3
    assert fast.left == slow.left


@pytest.mark.parametrize(("items", "source", "expected"), [
    ([1, 2], "items + [a]", [1, 2, 2]),
    ([1, 2], "[a] + items", [2, 1, 2]),
    ([], "items + []", []),
    (list(range(70)), "items + [a]", [*range(70), 2]),  # past the inline bound: the charging helper
    ((1, 2), "items + [a]", "cannot add a tuple and a list"),
    ("ab", "[a] + items", "cannot add a list and a str"),
])
def test_a_list_display_concatenates_like_the_charging_helper(items: Any, source: str, expected: Any) -> None:
    scope = Scope({"items": items, "a": 2}, set(), {}, "", "", 0.0)
    if isinstance(expected, list):
        assert compile_expression(source)(scope) == expected
    else:
        with pytest.raises(EvaluationError, match=expected):
            compile_expression(source)(scope)


def test_an_inline_list_concatenation_is_charged_its_bound_up_front() -> None:
    short, long = (Scope({"items": items, "a": 2}, set(), {}, "", "", 0.0) for items in ([1], list(range(1000))))
    expr = compile_expression("items + [a]")
    expr(short)
    expr(long)
    nodes = sum(1 for _ in ast.walk(ast.parse("items + [a]", mode="eval")))  # charged to every evaluation
    assert STEP_WORK_LIMIT - short.left == nodes + SHORT_LIST + 1  # a bound on the inline work, up front
    assert STEP_WORK_LIMIT - long.left == nodes + SHORT_LIST + 1 + 1001  # and the helper's real length


def test_list_concatenation_in_a_comprehension_is_charged_per_item() -> None:
    scope = Scope({"xs": list(range(20000)), "row": list(range(60))}, set(), {}, "", "", 0.0)
    with pytest.raises(EvaluationError, match="too much work"):
        compile_expression("[row + [x] for x in xs]")(scope)  # 20,000 x 61 elements: over the step's budget


@pytest.mark.parametrize(("a", "b", "expected"), [
    (2, 5, None),  # numbers of one digit: tested once, the sum's size compared inline
    (2**40, 3, None),  # wider: the 8,192-bit bounds
    (1.5, True, None),
    (True, 2.5, None),
    (float("nan"), 1, None),  # the full check stores any float, as before
    (1, 2**4096, None),  # the product past the inline bound: the charging helper
    (2**8192 - 1, 1, "the number to store has 8,193 bits"),  # the sum too wide: refused after every value
    ("s", 1, "cannot add a str and a int"),  # not numbers: the charging helpers, as before
    (2, "s", "cannot add a int and a str"),
])
def test_an_assignments_arithmetic_stores_what_the_checked_path_stores(a: Any, b: Any, expected: Any) -> None:
    source = "{n: a + b * 2, m: a - 1, items: items + [a]}"
    record = compile_record([("n", "a + b * 2"), ("m", "a - 1"), ("items", "items + [a]")],
                            check=merged_check(source))
    scope = Scope({"a": a, "b": b, "items": ["q"]}, set(), {}, "", "", 0.0)
    if expected is None:
        python = {"n": a + b * 2, "m": a - 1, "items": ["q", a]}
        got = record(scope)
        assert repr(got) == repr(python) and [type(v) for v in got.values()] == [type(v) for v in python.values()]
    else:
        with pytest.raises(EvaluationError, match=expected):
            record(scope)


@pytest.mark.parametrize("source", [
    "x > 0 and y < z", "x > 0.5 or not (y >= z)", "x == y != z", "0 <= x < z", "not x != y", "x < y or y < z",
    "1 == 1", "0 > 1", "1 < 2 or 2 < 3", "not (1 == 2)", "0.5 == 0.5 != 1", "x > 0 and 1 == 1",
])
@pytest.mark.parametrize(("x", "y", "z"), [
    (1, 2, 3), (0, -2**40, 2**5000), (True, 1, 1.5), (2.5, 2, 2), (1, "s", 2), (None, 1, 2), (1, [1], 2),
])
def test_a_guard_of_comparisons_gives_what_python_gives_on_any_operands(source: str, x: Any, y: Any, z: Any) -> None:
    """A guard comparing names runs as plain branches when every name is an int: the same value (True or False)
    as Python's, and the same errors and charges as the checked code for anything else."""
    scope = Scope({"x": x, "y": y, "z": z}, set(), {}, "", "", 0.0)
    try:
        expected: Any = eval(source, {"x": x, "y": y, "z": z})
    except TypeError:
        expected = TypeError
    if expected is TypeError:
        with pytest.raises(EvaluationError, match="TypeError"):
            compile_expression(source)(scope)
    else:
        got = compile_expression(source)(scope)
        assert (got, type(got)) == (expected, type(expected))
    if all(type(v) is int for v in (x, y, z)):  # the branches charge what the checked code charges for ints
        assert STEP_WORK_LIMIT - scope.left == sum(1 for _ in ast.walk(ast.parse(source, mode="eval")))


def test_a_compiled_expression_takes_its_scope_and_nothing_else() -> None:
    """The helpers of its inline type tests are variables of a closure around the compiled function, not
    arguments: no argument can stand in for one (an int subclass, which the inline path must send to the
    checked operation, is refused either way)."""

    class Big(int):
        pass

    expression = compile_expression("a * b")
    with pytest.raises(EvaluationError, match="cannot multiply a Big and a Big"):
        expression.fn(Scope({"a": Big(3), "b": Big(3)}, set(), {}, "", "", 0.0))
    with pytest.raises(TypeError, match="positional argument"):
        expression.fn(Scope({"a": Big(3), "b": Big(3)}, set(), {}, "", "", 0.0), lambda value: int)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        expression.fn(Scope({"a": Big(3), "b": Big(3)}, set(), {}, "", "", 0.0), type=lambda value: int)
    # one positional parameter and no defaults: a call CPython 3.11 specializes (it does not with
    # keyword-only parameters, ~850 instructions an event on the order benchmark)
    code = expression.fn.__code__
    assert (code.co_argcount, code.co_kwonlyargcount, expression.fn.__defaults__, expression.fn.__kwdefaults__) \
        == (1, 0, None, None)


def test_the_same_source_compiled_twice_keeps_its_own_state() -> None:
    """Expressions that generate the same code share its compiled form (a document that repeats one in many
    states compiles it once), and each keeps its own memo of the list it appended to last: two machines,
    each with the same append in two states, taken in turns, each see their own lists."""
    add = {"actions": [{"assign": {"items": "items + [event.sku]"}}]}
    doc = {"id": "m", "initial": "a", "context": {"items": []},
           "states": {"a": {"on": {"ADD": {**add, "target": "b"}}}, "b": {"on": {"ADD": {**add, "target": "a"}}}}}
    one, two = load_document(doc), load_document({**doc, "context": {"items": ["z"]}})
    first, second = start(one).snapshot, start(two).snapshot
    for n in range(4):
        first = step(one, first, Event("ADD", {"sku": f"a{n}"})).snapshot
        second = step(two, second, Event("ADD", {"sku": f"b{n}"})).snapshot
    assert first.context["items"] == ["a0", "a1", "a2", "a3"]
    assert second.context["items"] == ["z", "b0", "b1", "b2", "b3"]
