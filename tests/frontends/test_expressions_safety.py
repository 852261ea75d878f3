"""The expression language refuses escapes and unbounded work, with a clear error, at load or run time.

Documents come from people we do not fully trust: nothing here may reach Python internals, import, open
files, or run long enough to stall a worker.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from interlock.core.datamodel import Scope
from interlock.core.events import Event
from interlock.frontends.expressions import (
    MAX_SOURCE_LENGTH,
    EvaluationError,
    ExpressionError,
    compile_expression,
)


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
    ("[x for x in range(10**9)]", "comprehension result would have"),
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


def test_an_expression_gets_a_fresh_budget_each_time() -> None:
    expr = compile_expression("len([x for x in big for y in items])")
    scope = Scope({"items": [1, 2, 3], "big": list(range(1000))}, set(), {}, "", "", 0.0)
    assert [expr(scope) for _ in range(50)] == [3000] * 50
