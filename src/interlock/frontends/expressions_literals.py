"""Literals in the safe expression language: lists, tuples, sets, mappings (with ``*``/``**``) and f-strings.

Every container built is checked against :data:`~interlock.frontends.expressions_ops.MAX_LENGTH` and
charged to the budget; f-string format specs must be written out and stay small (width up to 999).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from interlock.core.datamodel import Scope
from interlock.frontends import expressions_ops as ops
from interlock.frontends.expressions_ops import Budget, EvaluationError

if TYPE_CHECKING:
    from interlock.frontends.expressions import Node

_SCALARS = (int, float, str, bool, type(None))
_FORMAT_SPEC = re.compile(r"^(.?[<>^=])?[+\- ]?z?#?0?\d{0,3}[,_]?(\.\d{1,3})?[bcdeEfFgGnosxX%]?$")


class LiteralCompiler:
    """The part of the expression compiler that builds literal values; mixed into it."""

    def compile(self, node: ast.AST, depth: int) -> Node:
        raise NotImplementedError

    def fail(self, node: ast.AST, message: str, hint: str = "") -> NoReturn:
        raise NotImplementedError

    # --- literals ---

    def _sequence(self, elts: list[ast.expr], depth: int) -> Callable[[Scope, Budget], list[Any]]:
        parts = [(isinstance(e, ast.Starred), self.compile(e.value if isinstance(e, ast.Starred) else e, depth))
                 for e in elts]

        def build(scope: Scope, budget: Budget) -> list[Any]:
            out: list[Any] = []
            for starred, part in parts:
                if starred:
                    out.extend(ops.materialize(budget, part(scope, budget)))
                else:
                    out.append(part(scope, budget))
            ops.check_length(len(out), "list")
            budget.charge(len(out))
            return out

        return build

    def _List(self, node: ast.List, depth: int) -> Node:
        return self._sequence(node.elts, depth)

    def _Tuple(self, node: ast.Tuple, depth: int) -> Node:
        build = self._sequence(node.elts, depth)
        return lambda scope, budget: tuple(build(scope, budget))

    def _Set(self, node: ast.Set, depth: int) -> Node:
        build = self._sequence(node.elts, depth)
        return lambda scope, budget: {ops.hashable(v) for v in build(scope, budget)}

    def _Dict(self, node: ast.Dict, depth: int) -> Node:
        pairs = [(self.compile(k, depth) if k is not None else None, self.compile(v, depth))
                 for k, v in zip(node.keys, node.values, strict=True)]

        def build(scope: Scope, budget: Budget) -> dict[Any, Any]:
            out: dict[Any, Any] = {}
            for key, value in pairs:
                if key is None:  # {**other}
                    other = value(scope, budget)
                    if type(other) is not dict:
                        raise EvaluationError(f"** needs a mapping, not a {type(other).__name__}")
                    budget.charge(len(other))
                    out.update(other)
                else:
                    out[ops.hashable(key(scope, budget))] = value(scope, budget)
            ops.check_length(len(out), "mapping")
            return out

        return build

    # --- f-strings ---

    def _JoinedStr(self, node: ast.JoinedStr, depth: int) -> Node:
        parts = [self.compile(v, depth) for v in node.values]

        def join(scope: Scope, budget: Budget) -> str:
            pieces = [p(scope, budget) for p in parts]
            ops.check_length(sum(map(len, pieces)), "text")
            return "".join(pieces)

        return join

    def _FormattedValue(self, node: ast.FormattedValue, depth: int) -> Node:
        value = self.compile(node.value, depth)
        spec = self._format_spec(node)
        as_repr = node.conversion in (ord("r"), ord("a"))

        def render(scope: Scope, budget: Budget) -> str:
            item = value(scope, budget)
            if spec:
                if type(item) not in _SCALARS:
                    raise EvaluationError(f"a format spec needs a number or string, not a {type(item).__name__}")
                return format(item, spec)
            return ops.to_repr(budget, item) if as_repr else ops.to_str(budget, item)

        return render

    def _format_spec(self, node: ast.FormattedValue) -> str:
        if node.format_spec is None:
            return ""
        values = getattr(node.format_spec, "values", [])
        if not all(isinstance(v, ast.Constant) for v in values):
            self.fail(node, "format specs must be written out, not computed")
        spec = "".join(str(v.value) for v in values if isinstance(v, ast.Constant))
        if not _FORMAT_SPEC.match(spec):
            self.fail(node, f"the format spec {spec!r} is not allowed", "widths and precisions up to 999")
        return spec
