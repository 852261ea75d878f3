"""The one intermediate form every front end produces: a tree of plain, mutable specs.

Python builders, YAML/JSON documents and SCXML each turn their input into a :class:`ChartSpec`;
:func:`interlock.core.chart.build_chart` validates it (reporting every problem with its path) and compiles
it into an immutable :class:`~interlock.core.chart.Chart`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from interlock.core.content import Actions, Param
from interlock.core.datamodel import Expr, Location
from interlock.errors import Problem

StateKind = Literal["state", "parallel", "final", "history"]


@dataclass
class TransitionSpec:
    """A transition. No ``events`` means eventless; no ``targets`` means targetless."""

    events: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    cond: Expr | None = None
    type: Literal["external", "internal"] = "external"
    actions: Actions = ()
    path: str = ""


@dataclass
class InvokeSpec:
    """``<invoke>``: a child machine or a named service, alive while its state is active."""

    type: str = "scxml"
    typeexpr: Expr | None = None
    src: str | None = None
    srcexpr: Expr | None = None
    id: str | None = None
    idlocation: Location | None = None
    namelist: tuple[tuple[str, Expr], ...] = ()
    params: tuple[Param, ...] = ()
    content: Any = None
    autoforward: bool = False
    finalize: Actions = ()
    path: str = ""


@dataclass
class DataSpec:
    """One datamodel variable: ``expr`` (evaluated at binding time) or a literal ``value``."""

    id: str
    expr: Expr | None = None
    value: Any = None
    path: str = ""


@dataclass
class StateSpec:
    """A state node. ``kind`` "state" becomes atomic or compound depending on its children."""

    id: str
    kind: StateKind = "state"
    children: list[StateSpec] = field(default_factory=list)
    initial: list[str] | None = None
    initial_actions: Actions = ()
    transitions: list[TransitionSpec] = field(default_factory=list)
    onentry: list[Actions] = field(default_factory=list)
    onexit: list[Actions] = field(default_factory=list)
    invokes: list[InvokeSpec] = field(default_factory=list)
    history: Literal["shallow", "deep"] = "shallow"
    donedata: Expr | None = None
    data: list[DataSpec] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    description: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""


# The datamodel of YAML/JSON documents (the safe expression language). Their charts are untrusted: a
# runtime never resolves what they invoke by reading a file (runtime/machines.py).
DOCUMENT_DATAMODEL = "expressions"


@dataclass
class ChartSpec:
    """A whole machine: its root state plus machine-wide settings."""

    root: StateSpec
    name: str = ""
    version: str = "1"
    binding: Literal["early", "late"] = "early"
    script: Actions = ()
    datamodel: str = "python"  # "python" or "null" (SCXML), DOCUMENT_DATAMODEL (YAML/JSON, the builder)
    deep_copy_context: bool = False
    source: str = ""
    # the rule set the engine runs the chart by: W3C SCXML, or XState v5 for charts in XState's shape
    semantics: Literal["scxml", "xstate"] = "scxml"
    # named guards and actions the chart uses whose implementations are not given yet (XState's provide):
    # start() refuses the chart until a front end compiles it again with them
    unprovided: tuple[Problem, ...] = ()
    # Python implementations of the services the chart invokes by name (trusted code, run by runtimes)
    services: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # built leniently (load_scxml(strict=False), as the W3C tests expect): problems that a strict build
    # refuses fail when reached instead; runtimes build the chart's inline children the same way
    lenient: bool = False
