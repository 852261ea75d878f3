"""The safe expression language: what it evaluates, through compile_expression and a real Scope."""

from __future__ import annotations

import re
from typing import Any

import pytest

from interlock.core.datamodel import Scope
from interlock.core.events import Event
from interlock.frontends.expressions import (
    EvaluationError,
    ExpressionError,
    compile_expression,
    constant,
)

ORDER = {"total": 30, "items": [{"sku": "a", "qty": 2, "price": 5}, {"sku": "b", "qty": 1, "price": 20}],
         "customer": {"name": "Ada", "tier": "gold"}, "tags": ["new", "vip"]}


def evaluate(source: str, context: dict[str, Any] | None = None, event: Event | None = None) -> Any:
    scope = Scope(dict(ORDER) if context is None else context, set(), {}, "s-1", "order", 12.5)
    scope.event = event
    return compile_expression(source)(scope)


@pytest.mark.parametrize(("source", "expected"), [
    ("total + 1", 31),
    ("context.total * 2", 60),
    ("total > 10 and customer.tier == 'gold'", True),
    ("context.customer.name.upper()", "ADA"),
    ("sum(i.qty * i.price for i in items)", 30),
    ("[i.sku for i in items if i.price > 10]", ["b"]),
    ("{i.sku: i.qty for i in items}", {"a": 2, "b": 1}),
    ("len(items) == 2 and 'vip' in tags", True),
    ("max(i.price for i in items)", 20),
    ("min(3, 1, 2)", 1),
    ("sorted([3, 1, 2], reverse=True)", [3, 2, 1]),
    ("round(10 / 3, 2)", 3.33),
    ("abs(-4) + int('5') + float('0.5')", 9.5),
    ("str(total) + '!'", "30!"),
    ("any(t == 'vip' for t in tags) and not all(t == 'vip' for t in tags)", True),
    ("f'{customer.name} owes {total:.2f}'", "Ada owes 30.00"),
    ("{**customer, 'tier': 'silver'}", {"name": "Ada", "tier": "silver"}),
    ("[*tags, 'late']", ["new", "vip", "late"]),
    ("context.get('missing', 0)", 0),
    ("customer.get('tier')", "gold"),
    ("'-'.join(t.upper() for t in tags)", "NEW-VIP"),
    ("tags[-1] + tags[0][1:]", "vipew"),
    ("total if total < 100 else 100", 30),
    ("1 < total <= 30", True),
    ("total // 7, total % 7, 2 ** 10", (4, 2, 1024)),
    ("list(range(3))", [0, 1, 2]),
    ("[(k, v) for k, v in [('a', 1), ('b', 2)] if v > 1]", [("b", 2)]),
    ("now()", 12.5),
    ("_sessionid + '/' + _name", "s-1/order"),
    ("None is None and total is not None", True),
])
def test_evaluates_python_expressions_over_the_context(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


def test_event_fields_data_and_the_data_shorthand() -> None:
    event = Event("PAY", {"amount": 12, "card": {"last4": "4242"}})
    assert evaluate("event.name", event=event) == "PAY"
    assert evaluate("event.data.amount + event.amount", event=event) == 24
    assert evaluate("event.data.card.last4", event=event) == "4242"
    assert evaluate("_event.type", event=event) == "external"


def test_a_context_key_named_like_a_method_is_data() -> None:
    context = {"items": [1, 2], "order": {"items": [3], "get": 5}}
    assert evaluate("context.items", context) == [1, 2]
    assert evaluate("order.items", context) == [3]
    assert evaluate("order.get * 2", context) == 10


def test_comprehension_names_shadow_context_names_and_do_not_leak() -> None:
    context = {"x": "outer", "xs": [1, 2]}
    assert evaluate("[x * 10 for x in xs] + [x]", context) == [10, 20, "outer"]
    assert evaluate("[[x + y for y in xs] for x in xs]", context) == [[2, 3], [3, 4]]


def test_literal_values_are_copied_for_each_use() -> None:
    expr = constant({"lines": []})
    scope = Scope({}, set(), {}, "", "", 0.0)
    first = expr(scope)
    first["lines"].append(1)
    assert expr(scope) == {"lines": []}


def test_runtime_errors_name_the_expression_and_the_cause() -> None:
    with pytest.raises(EvaluationError, match=r"'missing \+ 1'.*'missing' is not defined"):
        evaluate("missing + 1")
    with pytest.raises(EvaluationError, match="no key 'zip'"):
        evaluate("customer.zip")
    with pytest.raises(EvaluationError, match="ZeroDivisionError"):
        evaluate("total / 0")
    with pytest.raises(EvaluationError, match="has no field or data key 'nope'"):
        evaluate("event.nope", event=Event("X", {}))
    with pytest.raises(EvaluationError, match="cannot read 'data' of None"):
        evaluate("event.data")


def test_expressions_cannot_mutate_the_context() -> None:
    context = {"items": [1], "customer": {"a": 1}}
    with pytest.raises(EvaluationError, match="no method 'append'"):
        evaluate("items.append(2)", context)
    with pytest.raises(EvaluationError, match="no method 'update'"):
        evaluate("customer.update({'a': 2})", context)
    assert context == {"items": [1], "customer": {"a": 1}}


@pytest.mark.parametrize(("source", "message"), [
    ("total +", "invalid syntax"),
    ("", "empty"),
    ("x = 1", "invalid syntax"),
    ("lambda: 1", "lambda functions are not allowed"),
    ("(y := 1)", "assignment expressions"),
    ("len", "is a function; call it"),
    ("frobnicate(1)", "unknown function 'frobnicate'"),
    ("b'bytes'", "bytes literals are not allowed"),
    ("[1] @ [2]", "MatMult is not available"),
    ("f'{total:{width}}'", "format specs must be written out"),
    ("items[0](1)", "only named functions and methods can be called"),
    ("len(*items)", "*args and **kwargs"),
    ("In('a', 'b')", "In() takes one state id"),
])
def test_load_time_errors_are_specific(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(source)
