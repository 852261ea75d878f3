"""The Python API: a machine config in the document shape, with Python callables for its logic.

In the spirit of XState v5's ``setup({guards, actions, actors}).createMachine(config)``::

    from interlock.frontends.python import machine

    chart = machine(
        {"id": "counter", "initial": "idle", "context": {"count": 0},
         "states": {"idle": {"on": {"INC": {"guard": "below_max", "actions": "increment"}}}}},
        guards={"below_max": lambda context, event: context["count"] < 10},
        actions={"increment": lambda context, event: {"count": context["count"] + 1}},
    )

- a guard is ``fn(context, event) -> bool``; with ``{type: name, params: {...}}``, ``fn(context, event, **params)``;
- an action is ``fn(context, event)``; a mapping it returns is merged into the context (an assign),
  anything else is ignored;
- a service is ``fn(data) -> result`` (sync or async), run by a runtime; its result comes back as
  ``done.invoke.<id>``, an exception as ``error.invoke.<id>``. The chart keeps them in ``chart.services``;
- a delay is milliseconds, a duration string ("2s"), or ``fn(context, event) -> milliseconds``.

Callables may also appear inline in the config (``"guard": lambda c, e: ...``,
``"actions": [fn]``, ``{"assign": {"count": lambda c, e: c["count"] + 1}}``, ``"src": fn``); string values
are still expressions in the safe language. The config goes through exactly the same loader as YAML/JSON
documents (:func:`~interlock.frontends.document.load_document`); Python callables are trusted code.

``context`` is the context dict itself and ``event`` the :class:`~interlock.core.events.Event`; nothing
is built per call, so a guard costs one Python call. Return new values instead of mutating ``context``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from interlock.core.chart import Chart
from interlock.frontends.document import load_document

__all__ = ["machine", "provide"]


def machine(config: Mapping[str, Any], *, guards: Mapping[str, Callable[..., Any]] | None = None,
            actions: Mapping[str, Callable[..., Any]] | None = None,
            services: Mapping[str, Callable[..., Any]] | None = None,
            delays: Mapping[str, Any] | None = None, defer_services: bool = False) -> Chart:
    """Build a :class:`Chart` from a config mapping and its implementations.

    Raises :class:`~interlock.errors.DefinitionError` listing every problem (unknown targets, names
    without an implementation, bad expressions, typos in keys) with its path in ``config``.
    """
    for kind, table in (("guards", guards), ("actions", actions), ("services", services)):
        for name, fn in (table or {}).items():
            if not callable(fn):
                raise TypeError(f"{kind}[{name!r}] must be callable, not {type(fn).__name__}")
    return load_document(config, guards=guards, actions=actions, services=services, delays=delays,
                         defer_services=defer_services, source=f"machine {config.get('id', '')!r}".strip())


def provide(chart: Chart, *, guards: Mapping[str, Callable[..., Any]] | None = None,
            actions: Mapping[str, Callable[..., Any]] | None = None,
            services: Mapping[str, Callable[..., Any]] | None = None,
            delays: Mapping[str, Any] | None = None) -> Chart:
    """A new chart with implementations for the named guards, actions, services and delays of ``chart``
    (XState's ``machine.provide``); the given ones replace those it had. ``chart`` is unchanged.

    A document (or config) may name guards and actions whose implementations come later: it loads, the
    names are listed on ``chart.unprovided`` (and ``chart.warnings``), and ``start`` refuses the chart until
    ``provide`` has given every one of them.
    """
    if chart.provider is None:
        raise TypeError(f"{chart.key} was not defined from a config or document; only those take "
                        "implementations later (SCXML documents hold their logic)")
    for kind, table in (("guards", guards), ("actions", actions), ("services", services)):
        for name, fn in (table or {}).items():
            if not callable(fn):
                raise TypeError(f"{kind}[{name!r}] must be callable, not {type(fn).__name__}")
    return chart.provider(guards=guards, actions=actions, services=services, delays=delays)
