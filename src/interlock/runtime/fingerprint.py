"""A chart's definition, fingerprinted part by part, so one changed under the same version is refused.

Instances of a version run by the rules of that version in every process. A second process that
registered ``==`` changed to ``!=`` in a guard under the same version would apply other rules to the same
instances. :func:`fingerprint` digests everything of the compiled chart that decides behaviour:

- documents (YAML/JSON) and SCXML: states, transitions, guards and every expression as written,
  actions with their values and delays, context defaults, tags, output, invocations, settings,
  authorize rules;
- Python callables: their qualified names (``qualname``, e.g. ``check_owner`` or ``<lambda>``) and,
  for a builder's named guards and actions, the names the config uses. Their code cannot be compared: a changed body under the
  same name and version is not noticed (see :func:`opaque_code`, docs/runtime.md).

The digest is per part (``{"guards": "3f2a...", ...}``) so a refusal can say what changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from interlock.core.chart import Chart, StateNode
from interlock.core.datamodel import Expr, Location
from interlock.core.spec import InvokeSpec
from interlock.runtime.machines import inline_name, is_scxml_type

PARTS = ("states", "transitions", "guards", "actions", "context", "tags", "output", "invocations",
         "settings", "authorize")


def fingerprint(chart: Chart) -> dict[str, str]:
    """``{part: digest}`` for each of :data:`PARTS`; equal for charts built from the same definition."""
    parts: dict[str, list[Any]] = {name: [] for name in PARTS}
    # not chart.services: a client process may load a document without the implementations a worker
    # has (defer_services); which services are invoked, by name, is part of "invocations"
    parts["settings"] = [chart.name, chart.binding, chart.datamodel, _canon(chart.script)]
    # who may do what (authorize rules as written; a Python rule by its name): a changed rule under the
    # same version would let other processes grant what this one refuses
    parts["authorize"] = sorted(chart.policy.sources.items()) if chart.policy is not None else []
    for state in chart.walk():
        _state_parts(state, parts)
    for t in chart.transitions:
        parts["transitions"].append([t.source.id, list(t.events), [x.id for x in t.targets], t.type])
        parts["guards"].append(_canon(t.cond))
        parts["actions"].append(_canon(t.actions))
    return {name: _digest(value) for name, value in parts.items()}


def changed_parts(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The parts whose digests differ (parts one side does not know are not compared)."""
    return [name for name in PARTS if name in old and name in new and old[name] != new[name]]


def opaque_code(chart: Chart) -> list[str]:
    """The Python callables of a chart, by name: compared by name only, never by their code."""
    return sorted(set(_callables(chart)))


def _state_parts(state: StateNode, parts: dict[str, list[Any]]) -> None:
    parent = state.parent.id if state.parent is not None else None
    initial = state.initial
    parts["states"].append([state.id, state.kind, parent, state.history,
                            [x.id for x in initial.targets] if initial is not None else None])
    parts["actions"].append([state.id, _canon(state.onentry), _canon(state.onexit),
                             _canon(initial.actions) if initial is not None else None])
    parts["context"].append([state.id, _canon(state.data)])
    parts["tags"].append([state.id, list(state.tags)])
    parts["output"].append([state.id, _canon(state.donedata)])
    parts["invocations"].append([state.id, [_canon(_inline_as_named(spec)) for spec in state.invokes]])


def _inline_as_named(spec: InvokeSpec) -> InvokeSpec:
    """An inline SCXML child by its canonical name (re-indenting its text changes nothing)."""
    if isinstance(spec.content, str) and is_scxml_type(spec.type):
        return dataclasses.replace(spec, content=inline_name("", spec.content))
    return spec


# fields of a chart's values that say where it was written or how the step runs it (``Update.ready``: the
# guard computes the update), not what it does: a change of them is no change of the definition
_NOT_WHAT_IT_DOES = frozenset({"path", "ready"})


def _canon(value: Any) -> Any:
    """``value`` as JSON-ready data that is equal across processes for equal definitions."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (Expr, Location)):
        return {"expr": value.source, "code": _code_name(value.fn)}
    if isinstance(value, Mapping):
        return {str(k): _canon(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canon(v) for v in value), key=repr)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _canon(getattr(value, f.name)) for f in dataclasses.fields(value)
                  if f.name not in _NOT_WHAT_IT_DOES}
        return [type(value).__name__, fields]
    if callable(value):
        return {"code": _code_name(value)}
    return {"object": type(value).__qualname__}  # never a repr: it may hold a memory address


def _code_name(fn: Callable[..., Any], depth: int = 0) -> str | None:
    """A user's callable by its qualified name (without the module, which differs between a script
    run as ``__main__`` and the same file imported); None for the closures front ends compile
    expressions into (their source is compared instead), unless they wrap a user's callable."""
    module = getattr(fn, "__module__", None) or ""
    if not module.startswith("interlock."):
        return str(getattr(fn, "__qualname__", None) or type(fn).__qualname__)
    if depth > 3:
        return None
    inner = [_code_name(cell.cell_contents, depth + 1) for cell in getattr(fn, "__closure__", None) or ()
             if _is_code(cell)]
    names = [name for name in inner if name is not None]
    return ",".join(names) if names else None


def _is_code(cell: Any) -> bool:
    try:
        value = cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return callable(value) and not isinstance(value, type)


def _callables(chart: Chart) -> Iterator[str]:
    stack: list[Any] = [chart.script, list(chart.services.values())]
    for state in chart.walk():
        stack.extend([state.onentry, state.onexit, state.data, state.donedata, state.invokes])
    for t in chart.transitions:
        stack.extend([t.cond, t.actions])
    while stack:
        item = stack.pop()
        if isinstance(item, (Expr, Location)):
            name = _code_name(item.fn)
            if name is not None:
                yield name
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif callable(item):
            name = _code_name(item)
            if name is not None:
                yield name


def _digest(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=lambda v: type(v).__qualname__)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def definition_text(chart: Chart) -> str:
    """:func:`fingerprint` as the store keeps it (compact JSON)."""
    return json.dumps(fingerprint(chart), separators=(",", ":"), sort_keys=True)


def changed_message(name: str, version: str, parts: list[str], *, where: str) -> str:
    """Why a chart is refused: which parts of the definition differ from the one registered ``where``."""
    return (f"machine {name!r} version {version!r} is already registered {where} with another definition "
            f"(changed: {', '.join(parts)}); instances of a version must run by the same rules in every "
            "process. Give the changed chart a new version (existing instances keep theirs), or register "
            "the definition that was registered")
