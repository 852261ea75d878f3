"""The expression language refuses escapes and unbounded work, with a clear error, at load or run time.

Documents come from people we do not fully trust: nothing here may reach Python internals, import, open
files, or run long enough to stall a worker.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from interlock.core.datamodel import Scope
from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.expressions import (
    MAX_SOURCE_LENGTH,
    EvaluationError,
    ExpressionError,
    compile_expression,
)
from interlock.frontends.loader import load_machine


def evaluate(source: str) -> Any:
    scope = Scope({"items": [1, 2, 3], "name": "ada", "big": list(range(1000))}, set(), {}, "", "", 0.0)
    scope.event = Event("E", {"x": 1})
    return compile_expression(source)(scope)


@pytest.mark.parametrize(("source", "message"), [
    ("().__class__.__bases__", "attributes starting with '_'"),
    ("[].__class__.__base__.__subclasses__()", "attributes starting with '_'"),
    ("event.__class__", "attributes starting with '_'"),
    ("event._asdict()", "attributes starting with '_'"),
    ("__import__('os')", "unknown function '__import__'"),
    ("__builtins__", "names starting with '_'"),
    ("open('/etc/passwd')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("getattr(event, 'data')", "unknown function 'getattr'"),
    ("type(event)", "unknown function 'type'"),
    ("(lambda: 0)()", "lambda"),
    ("[x for x in items for __y in items]", "names starting with '_'"),
    ("f'{name!r:>99999}'", "format spec"),
    ("-" * 60 + "1", "nested more than"),
    ("1 + " * 500 + "1", "the limit is"),
    ("'" + "a" * (MAX_SOURCE_LENGTH + 1) + "'", "characters long"),
])
def test_escapes_are_refused_when_the_document_loads(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(source)


@pytest.mark.parametrize(("source", "message"), [
    ("'a' * 10**9", "repeated sequence would have 1,000,000,000 elements"),
    ("[0] * 10**9", "repeated sequence"),
    ("10 ** 10 ** 10", "would exceed"),
    ("2 ** 100000", "would exceed"),
    ("(10**2000) * (10**2000) * (10**2000)", "product would exceed"),
    ("1 << 10**6", "shift would exceed"),
    ("[x for x in range(10**9)]", "too much work"),
    ("[0 for x in range(10**9) if x < 0]", "too much work"),
    ("len([(a, b) for a in range(10**5) for b in range(10**5)])", "too much work|comprehension result"),
    ("str([[1] * 100000] * 1000)", "too much work"),
    ("f'{[[0] * 100000] * 1000}'", "too much work"),
    ("[[0] * 100000] * 1000 == [[0] * 100000] * 1000", "too much work"),
    ("sum([[1] * 100000] * 300, [])", "only adds numbers"),
    ("sum([[1] * 1000] * 300)", "only works on numbers"),
    ("'-'.join(['a' * 100000] * 100)", "joined text would have"),
    ("('a' * 100000).replace('a', 'aa')", "replaced text would have"),
    ("'x'.zfill(10**8)", "padded text"),
    ("'a'.ljust(10**7)", "no method 'ljust'"),
    ("'%s' % name", "'%' formatting"),
    ("list(range(10**9))", "range would have"),
    ("sorted(range(10**9))", "range would have"),
    ("[[L for j in range(3000)] for L in [[0 for i in range(1000)]]]", "too much work"),
    ("int('9' * 100000)", "number would have"),
    ("{(1, 2): 3}", "mapping keys and set items must be strings or numbers"),
    ("len(event)", "len\\(\\) of a Event"),
    ("[x for x in event]", "cannot iterate over a Event"),
])
def test_unbounded_work_is_refused_when_it_runs(source: str, message: str) -> None:
    compile_expression(source)  # allowed syntax: the limit applies to the values it builds
    with pytest.raises(EvaluationError, match=message):
        evaluate(source)


def test_the_evaluations_of_one_scope_share_its_budget_and_a_new_scope_starts_afresh() -> None:
    expr = compile_expression("len([x for x in big for y in items])")
    scope = Scope({"items": [1, 2, 3], "big": list(range(1000))}, set(), {}, "", "", 0.0)
    assert expr(scope) == 3000
    with pytest.raises(EvaluationError, match="too much work"):
        for _ in range(200):  # one scope is one step: 200 evaluations exceed its budget together
            expr(scope)
    fresh = Scope({"items": [1, 2, 3], "big": list(range(1000))}, set(), {}, "", "", 0.0)
    assert expr(fresh) == 3000


# --- review findings 4, 5, 6: range membership, bool operands, shared structure -------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("0.5 in range(10**8)", r"'in range\(...\)' needs an integer on the left, not float"),
    ("'x' in range(10**8)", r"'in range\(...\)' needs an integer on the left, not str"),
    ("[1] not in range(10**8)", r"'in range\(...\)' needs an integer on the left, not list"),
    ("True << 10**9", "the shift would exceed 8,192 bits"),
    ("(1 == 1) << 4 * 10**9", "the shift would exceed 8,192 bits"),
    ("True * 2 ** 9000", "bits"),
    ("(2 + True) ** 10**6", "would exceed 8,192 bits"),
    ("str(event)", "too much work"),
    ("f'{event}'", "too much work"),
    ("event == event", "too much work"),
])
def test_cheap_looking_operations_on_big_values_are_refused(source: str, message: str) -> None:
    scope = Scope({}, set(), {}, "", "", 0.0)
    shared: list[Any] = [1]
    for _ in range(24):  # 24 distinct lists, 16 million elements written out
        shared = [shared, shared]
    scope.event = Event("E", shared)
    with pytest.raises(EvaluationError, match=message):
        compile_expression(source)(scope)


def test_int_membership_in_a_huge_range_still_works() -> None:
    assert evaluate("5 in range(10**100)") is True
    assert evaluate("True in range(2)") is True


def _stored_errors(actions: str) -> tuple[dict[str, Any], list[str]]:
    """Run a document whose GO event runs ``actions``; its context and the error.execution messages."""
    doc = f"""
id: m
initial: a
context: {{x: [1], n: 0, errors: []}}
states:
  a:
    on:
      GO: {{actions: {actions}}}
      error.execution: {{actions: {{assign: {{errors: "errors + [event.data.message]"}}}}}}
"""
    chart = load_machine(doc, format="yaml")
    result = start(chart)
    for _ in range(30):
        result = step(chart, result.snapshot, "GO")
    context = dict(result.snapshot.context)
    return context, context.pop("errors")


def test_a_stored_value_that_doubles_each_time_is_refused_before_it_is_too_big_to_store() -> None:
    context, errors = _stored_errors('{assign: {x: "[x, x]", n: "n + 1"}}')
    assert context["n"] == 18  # 2**19 leaves and their lists, written out, are over the limit
    assert len(errors) == 12
    assert "over 1,000,000 elements written out" in errors[0]
    json.dumps(context)  # what was stored can still be serialized


@pytest.mark.parametrize("actions", [
    '[{assign: {n: "1"}}, {assign: {me: "context"}}]',
    '{assign: {me: "context", n: "1"}}',
    '{assign: {me: "[1, {\'a\': context}]"}}',
    '{assign: "{\'me\': context}"}',
])
def test_the_context_cannot_be_stored_inside_itself(actions: str) -> None:
    context, errors = _stored_errors(actions)
    assert "me" not in context
    assert errors and "contains the context itself" in errors[0]
    json.dumps(context)


@pytest.mark.parametrize(("value", "hint"), [
    ("event", "store its fields"),
    ("[1, {'last': event}]", "store its fields"),
    ("{1, 2}", "store sorted(...) or list(...)"),
    ("[range(3)]", "store list(range(...))"),
    ("x + [event]", "store its fields"),  # a short append, built inline, still checked
])
def test_a_value_that_is_not_json_is_refused_where_it_is_assigned(value: str, hint: str) -> None:
    """A snapshot is plain JSON: the assignment fails (error.execution) in every runner, rather than the
    value living on in memory and the durable runtime refusing the whole step when it writes it."""
    for actions in (f'{{assign: {{y: "{value}", n: "n + 1"}}}}', f'[{{assign: {{y: "{value}"}}}}]'):
        context, errors = _stored_errors(actions)
        assert "y" not in context and context["n"] == 0
        assert len(errors) == 30 and "which is not JSON" in errors[0] and hint in errors[0]
        json.dumps(context)


def test_merging_the_context_into_itself_and_sharing_parts_stay_allowed() -> None:
    context, errors = _stored_errors('[{assign: "context"}, {assign: {y: "[x, x]", x: "[2]"}}]')
    assert errors == []
    assert context["y"] == [[2], [2]] and context["x"] == [2]


_APPEND = """
id: m
initial: a
context: {items: [], n: 0}
states:
  a:
    on:
      ADD: {actions: {assign: {items: "items + [event.sku]", n: "n + 1"}}}
      ADD2: {actions: {assign: {items: "items + [event.sku, 'x']"}}}
      ADD3: {guard: "n >= 0", actions: {assign: {items: "items + [event.sku]", n: "n + 1"}}}  # one function
"""


@pytest.mark.parametrize(("change", "stored"), [
    (lambda items: items.__setitem__(0, {1, 2}), False),  # an item replaced by one that is not JSON
    (lambda items: items.append(range(3)), False),  # one appended that is not JSON
    (lambda items: items.__setitem__(slice(None), [{"a": 2**9000}, "b"]), False),  # same length, too wide an int
    (lambda items: items.__setitem__(0, "".join(["a"])), True),  # a plain item, another object: still plain
    (lambda items: items.reverse(), True),  # the same plain items
])
def test_an_append_tests_a_list_changed_in_place_since_it_was_stored(change: Any, stored: bool) -> None:
    """Python code must not change the context in place, but if it does (an action, or the program between
    steps), a later ``items + [y]`` still tests every item it stores, not only ``y`` (the compiled code
    remembers the list it found plain last time, with a private copy of its items)."""
    chart = load_machine(_APPEND, format="yaml")
    for event in ("ADD", "ADD2", "ADD3"):
        snapshot = start(chart).snapshot
        for sku in ("a", "b"):
            snapshot = step(chart, snapshot, Event(event, {"sku": sku})).snapshot
        change(snapshot.context["items"])
        result = step(chart, snapshot, Event(event, {"sku": "c"}))
        if stored:
            assert result.errors == () and "c" in result.snapshot.context["items"][-2:]
            json.dumps(result.snapshot.context)
        else:
            assert result.snapshot.context["items"] is snapshot.context["items"]  # nothing stored
            assert [e["event"] for e in result.errors] == ["error.execution"]
            assert re.search(r"not JSON|bits", result.errors[0]["message"])


def test_an_append_of_plain_items_and_then_of_one_that_is_not() -> None:
    chart = load_machine(_APPEND, format="yaml")
    snapshot = start(chart).snapshot
    for sku in ("a", 1.5, None, True, "e"):
        snapshot = step(chart, snapshot, Event("ADD", {"sku": sku})).snapshot
    assert snapshot.context == {"items": ["a", 1.5, None, True, "e"], "n": 5}
    for sku, message in ((2**9000, "bits"), ({1}, "not JSON"), (Event("X"), "store its fields")):
        result = step(chart, snapshot, Event("ADD", {"sku": sku}))
        assert result.snapshot.context == snapshot.context and message in result.errors[0]["message"]
    result = step(chart, snapshot, Event("ADD", {"sku": 7}))  # a small int: stored (by the full check)
    assert result.errors == () and result.snapshot.context["items"][-1] == 7
