"""The trusted Python datamodel for SCXML (SCXML 5, datamodel="python").

Expressions, locations and scripts are compiled once, when a document is loaded, into
:class:`~interlock.core.datamodel.Expr` and :class:`~interlock.core.datamodel.Location` objects. At run
time they are evaluated with :func:`eval`/:func:`exec` against a namespace made of the datamodel variables
plus the SCXML system variables ``_event``, ``_sessionid``, ``_name``, ``_ioprocessors`` and ``In``.

This code is trusted: a document can run any Python. Only load documents you would run as a program.

Rules (see docs/semantics.md):

- ``<assign>`` and ``idlocation`` write only to declared variables (or into objects they hold);
  ``<foreach>`` item/index may create variables; ``<script>`` may create and change any variable.
- The system variables are read-only: assigning to one raises, which the engine turns into
  ``error.execution``.
"""

from __future__ import annotations

import ast
import builtins
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

from interlock.core.datamodel import Expr, Location, Scope
from interlock.core.events import Event

SYSTEM_VARIABLES = frozenset({"_event", "_sessionid", "_name", "_ioprocessors", "In"})


class AttrDict(dict[str, Any]):
    """A dict whose keys can also be read as attributes: ``_event.data.aParam``."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def wrap(value: Any) -> Any:
    """Copy nested plain dicts into :class:`AttrDict` so expressions may use attribute access."""
    if isinstance(value, dict) and not isinstance(value, AttrDict):
        return AttrDict({k: wrap(v) for k, v in value.items()})
    return value


class EventView:
    """``_event`` as expressions see it (SCXML 5.10.1): read-only attributes, equal by value."""

    __slots__ = ("_event", "data")

    def __init__(self, event: Event) -> None:
        self._event = event
        self.data = wrap(event.data)

    name = property(lambda self: self._event.name)
    type = property(lambda self: self._event.type)
    sendid = property(lambda self: self._event.sendid)
    origin = property(lambda self: self._event.origin)
    origintype = property(lambda self: self._event.origintype)
    invokeid = property(lambda self: self._event.invokeid)
    raw = property(lambda self: self._event.raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventView) and other._event == self._event

    def __hash__(self) -> int:
        return hash(self._event.name)

    def __deepcopy__(self, memo: dict[int, Any]) -> EventView:
        return self  # immutable: sharing it is safe

    def __repr__(self) -> str:
        return f"_event({self._event.name!r})"


def namespace(scope: Scope) -> dict[str, Any]:
    """The globals an expression runs with: the datamodel variables, then the system variables."""
    ns: dict[str, Any] = dict(scope.context)
    if scope.event is not None:  # unbound until the first event (SCXML 5.10): using it is an error
        ns["_event"] = EventView(scope.event)
    ns["_sessionid"] = scope.sessionid
    ns["_name"] = scope.name
    ns["_ioprocessors"] = wrap(scope.ioprocessors)
    ns["In"] = scope.In
    ns["__builtins__"] = builtins
    return ns


class DeferredSyntaxError(SyntaxError):
    """Raised at run time by an expression that did not compile (non-strict loading)."""


def _parse(source: str, mode: str) -> Any:
    """Compile ``source``; a multi-line expression is retried in parentheses so newlines are allowed."""
    try:
        return compile(source, "<scxml>", mode, dont_inherit=True)
    except SyntaxError:
        if mode != "eval":
            raise
        try:
            return compile(f"(\n{source}\n)", "<scxml>", mode, dont_inherit=True)
        except SyntaxError:
            pass
        raise


def syntax_message(error: SyntaxError) -> str:
    return f"invalid Python: {error.msg}"


def _deferred(source: str, error: SyntaxError) -> Callable[..., Any]:
    def fail(*_: Any) -> Any:
        raise DeferredSyntaxError(f"{syntax_message(error)} in {source!r}")

    return fail


def compile_expr(source: str, *, strict: bool = True) -> Expr:
    """Compile a value expression (``expr``, ``cond``, ``*expr`` attributes).

    With ``strict=False`` a syntax error is not raised here but when the expression is evaluated, so
    the engine reports it as ``error.execution`` (what the W3C tests 277 and 309 expect).
    """
    text = source.strip()
    try:
        code = _parse(text, "eval")
    except SyntaxError as error:
        if strict:
            raise
        return Expr(source, _deferred(source, error))

    def evaluate(scope: Scope) -> Any:
        return eval(code, namespace(scope))  # the Python datamodel is trusted code

    return Expr(source, evaluate)


def compile_script(source: str, *, strict: bool = True) -> Expr:
    """Compile a ``<script>`` body: statements whose new and changed names become datamodel variables."""
    text = textwrap.dedent(source).strip("\n")
    try:
        code = _parse(text, "exec")
    except SyntaxError as error:
        if strict:
            raise
        return Expr(source, _deferred(source, error))

    def run(scope: Scope) -> None:
        ns = namespace(scope)
        system = {name: ns.get(name, _MISSING) for name in SYSTEM_VARIABLES}
        exec(code, ns)  # the Python datamodel is trusted code
        for name, value in system.items():
            if ns.get(name, _MISSING) is not value:
                raise AttributeError(f"the system variable {name!r} is read-only")
        _write_back(scope, ns)

    return Expr(source, run)


_MISSING = object()


def _write_back(scope: Scope, ns: dict[str, Any]) -> None:
    """Copy what a script bound into the context, touching it only if something changed."""
    context = scope.context
    changed = {k: v for k, v in _variables(ns) if context.get(k, _MISSING) is not v}
    removed = [k for k in context if k not in ns]
    if changed or removed:
        target = scope.writable()
        target.update(changed)
        for key in removed:
            del target[key]


def _variables(ns: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, value in ns.items():
        if name not in SYSTEM_VARIABLES and name != "__builtins__":
            yield name, value


def compile_location(source: str, *, declare: bool = False, strict: bool = True) -> Location:
    """Compile an assignment target: a variable, ``obj.attr`` or ``obj[key]`` (SCXML 5.4).

    A bare variable must already be declared unless ``declare`` (``<foreach>`` item and index may create
    theirs). System variables can never be written.
    """
    text = source.strip()
    try:
        node = _location_node(text, declare)
    except SyntaxError as error:
        if strict:
            raise
        return Location(source, _deferred(source, error))
    if isinstance(node, ast.Name):
        return Location(source, _variable_setter(node.id, declare))
    container = _compile_node(node.value)
    root = _root_name(node)
    if isinstance(node, ast.Attribute):
        attr = node.attr

        def set_attribute(scope: Scope, value: Any) -> None:
            _check_writable(root)
            setattr(eval(container, namespace(_writing(scope))), attr, value)

        return Location(source, set_attribute)
    key = _compile_node(node.slice)

    def set_item(scope: Scope, value: Any) -> None:
        _check_writable(root)
        ns = namespace(_writing(scope))
        eval(container, ns)[eval(key, ns)] = value

    return Location(source, set_item)


def _location_node(text: str, declare: bool) -> ast.Name | ast.Attribute | ast.Subscript:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise SyntaxError(f"{text!r} is not a location: {error.msg}") from None
    allowed: tuple[type, ...] = (ast.Name,) if declare else (ast.Name, ast.Attribute, ast.Subscript)
    if not isinstance(node, allowed):
        what = "a variable name" if declare else "a variable, attribute or item"
        raise SyntaxError(f"{text!r} is not {what}")
    return node  # type: ignore[return-value]


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _check_writable(name: str | None) -> None:
    # A run-time error, not a load-time one: SCXML wants error.execution here (W3C tests 324, 326).
    if name in SYSTEM_VARIABLES:
        raise AttributeError(f"the system variable {name!r} is read-only")


def _compile_node(node: ast.expr) -> Any:
    return compile(ast.Expression(node), "<scxml>", "eval", dont_inherit=True)


def _writing(scope: Scope) -> Scope:
    # Nested objects are changed in place; SCXML charts deep-copy the context at each step start, and
    # claiming the context here keeps the engine's copy-on-write bookkeeping right.
    scope.writable()
    return scope


def _variable_setter(name: str, declare: bool) -> Callable[[Scope, Any], None]:
    def assign(scope: Scope, value: Any) -> None:
        _check_writable(name)
        if not declare and name not in scope.context:
            raise NameError(f"cannot assign to undeclared variable {name!r}; declare it with <data id=\"{name}\"/>")
        scope.writable()[name] = value

    return assign
