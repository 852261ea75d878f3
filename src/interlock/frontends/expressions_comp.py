"""Comprehensions in the safe expression language: eager, bounded, with Python's scoping of loop names.

``[x * 2 for x in items if x > 0]``, ``{k: v for k, v in pairs}``, and generator expressions (built as
lists, so ``any(x > 1 for x in items)`` works). Each iteration is charged to the evaluation's budget and
the result may not grow past :data:`~interlock.frontends.expressions_ops.MAX_LENGTH`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interlock.core.datamodel import Scope
from interlock.frontends import expressions_ops as ops
from interlock.frontends.expressions_ops import Budget, EvaluationError

if TYPE_CHECKING:
    from interlock.frontends.expressions import Node, _Compiler

ITERATION_COST = 8  # work units per loop iteration: it runs several closures, each costing about one unit
_MISSING = object()
Binder = Callable[[dict[str, Any], Any], None]


def compile_comprehension(compiler: _Compiler, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp,
                          depth: int) -> Node:
    loops: list[tuple[Node, Binder, list[Node]]] = []
    names: list[str] = []
    for gen in node.generators:
        if gen.is_async:
            compiler.fail(node, "async comprehensions are not allowed")
        source = compiler.compile(gen.iter, depth)  # evaluated with the names bound so far, as in Python
        bound = _target_names(compiler, gen.target)
        names.extend(bound)
        compiler.bound.extend(bound)
        loops.append((source, _binder(compiler, gen.target), compiler.many(gen.ifs, depth)))
    try:
        if isinstance(node, ast.DictComp):
            key, value = compiler.compile(node.key, depth), compiler.compile(node.value, depth)
            element: Node = lambda scope, budget: (ops.hashable(key(scope, budget)), value(scope, budget))  # noqa: E731
        else:
            element = compiler.compile(node.elt, depth)
    finally:
        del compiler.bound[len(compiler.bound) - len(names):]
    run = _runner(loops, element, names)
    if isinstance(node, ast.DictComp):
        return lambda scope, budget: dict(run(scope, budget))
    if isinstance(node, ast.SetComp):
        return lambda scope, budget: {ops.hashable(v) for v in run(scope, budget)}
    return run


def _runner(loops: list[tuple[Node, Binder, list[Node]]], element: Node, names: list[str]) -> Node:
    last = len(loops) - 1

    def run(scope: Scope, budget: Budget) -> list[Any]:
        local = budget.locals
        saved = {n: local.get(n, _MISSING) for n in names}  # an enclosing comprehension may use the name
        out: list[Any] = []

        def loop(level: int) -> None:
            source, bind, conditions = loops[level]
            for item in ops.iterate(budget, source(scope, budget)):
                budget.charge(ITERATION_COST)
                bind(local, item)
                if all(c(scope, budget) for c in conditions):
                    if level < last:
                        loop(level + 1)
                    else:
                        out.append(element(scope, budget))
                        if len(out) > ops.MAX_LENGTH:
                            ops.check_length(len(out), "comprehension result")

        try:
            loop(0)
        finally:
            for name, old in saved.items():
                if old is _MISSING:
                    local.pop(name, None)
                else:
                    local[name] = old
        return out

    return run


def _target_names(compiler: _Compiler, target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        if target.id.startswith("_") and target.id != "_":
            compiler.fail(target, f"names starting with '_' are not available ({target.id!r})")
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _target_names(compiler, elt)]
    compiler.fail(target, "a comprehension can only bind names, as in 'for key, value in pairs'")


def _binder(compiler: _Compiler, target: ast.expr) -> Binder:
    if isinstance(target, ast.Name):
        name = target.id

        def bind_name(local: dict[str, Any], value: Any) -> None:
            local[name] = value

        return bind_name
    assert isinstance(target, (ast.Tuple, ast.List))  # _target_names refused anything else
    parts = [_binder(compiler, elt) for elt in target.elts]

    def unpack(local: dict[str, Any], value: Any) -> None:
        if type(value) not in (list, tuple) or len(value) != len(parts):
            raise EvaluationError(f"cannot unpack {type(value).__name__} into {len(parts)} names")
        for bind, item in zip(parts, value, strict=True):
            bind(local, item)

    return unpack
