"""Executable content as data (SCXML 4): what entry, exit and transitions do.

Each action is a frozen value; :mod:`interlock.core.execute` interprets them. Anything that touches the
world (sends, invokes, logs) becomes an effect instead of happening.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from interlock.core.datamodel import Expr, Location


@dataclass(frozen=True, slots=True)
class Param:
    """``<param name expr|location>``: one named value sent with an event or passed to an invoke."""

    name: str
    expr: Expr | None = None
    location: Expr | None = None


@dataclass(frozen=True, slots=True)
class Raise:
    """Put an event on the internal queue."""

    event: str


@dataclass(frozen=True, slots=True)
class Send:
    """``<send>``: an event to self, the parent, a child, another session or instance, maybe delayed.

    Each ``*expr`` alternative is evaluated when the send runs. ``content`` is the event data (an
    :class:`Expr` or a literal); otherwise the data is built from ``namelist`` and ``params``.
    """

    event: str | None = None
    eventexpr: Expr | None = None
    target: str | None = None
    targetexpr: Expr | None = None
    type: str | None = None
    typeexpr: Expr | None = None
    id: str | None = None
    idlocation: Location | None = None
    delay_ms: int | None = None
    delayexpr: Expr | None = None
    namelist: tuple[tuple[str, Expr], ...] = ()
    params: tuple[Param, ...] = ()
    content: Expr | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel a delayed send by id."""

    sendid: str | None = None
    sendidexpr: Expr | None = None


@dataclass(frozen=True, slots=True)
class Assign:
    """Store the value of ``expr`` at ``location``."""

    location: Location
    expr: Expr


@dataclass(frozen=True, slots=True)
class Update:
    """Merge the mapping ``expr`` evaluates to into the context (XState ``assign`` with a function).

    ``ready``: the transition's guard computes it (a document's ``guard`` and ``assign`` compiled together,
    :func:`~interlock.frontends.expressions.compile_fused`) when the step's light path selects the
    transition; that path then takes the guard's result (``Run.ready``) instead of evaluating ``expr``.
    Only on a targetless transition whose content is this update alone. Everywhere else ``expr`` runs."""

    expr: Expr
    ready: bool = False


@dataclass(frozen=True, slots=True)
class Log:
    label: str | None
    expr: Expr | None


@dataclass(frozen=True, slots=True)
class If:
    """``<if>``/``<elseif>``/``<else>``: ``branches`` pairs a condition (None for else) with actions."""

    branches: tuple[tuple[Expr | None, Actions], ...]


@dataclass(frozen=True, slots=True)
class Foreach:
    """Run ``actions`` once per item of a shallow copy of ``array``, binding ``item`` (and ``index``)."""

    array: Expr
    item: Location
    index: Location | None
    actions: Actions


@dataclass(frozen=True, slots=True)
class Script:
    """Run trusted code for its effect on the datamodel (SCXML ``<script>``)."""

    code: Expr


@dataclass(frozen=True, slots=True)
class Custom:
    """A named action implemented by a Python callable ``fn(context, event, **params)``.

    It may return a mapping, which is merged into the context; anything else is ignored.
    """

    name: str
    fn: Callable[..., Any]
    params: Mapping[str, Any] = field(default_factory=dict)


Action: TypeAlias = Raise | Send | Cancel | Assign | Update | Log | If | Foreach | Script | Custom
Actions: TypeAlias = tuple[Action, ...]
