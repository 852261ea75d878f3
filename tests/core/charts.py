"""Small charts built directly from specs, so core tests depend on nothing but the core."""

from __future__ import annotations

from typing import Any

from interlock.core.chart import Chart, build_chart
from interlock.core.content import Action, Update
from interlock.core.datamodel import Expr, key_location
from interlock.core.spec import ChartSpec, DataSpec, StateSpec, TransitionSpec


def expr(fn: Any, source: str = "<python>") -> Expr:
    return Expr(source, fn)


def on(event: str, *targets: str, cond: Any = None, actions: tuple[Action, ...] = (),
       internal: bool = False) -> TransitionSpec:
    return TransitionSpec(events=event.split(), targets=list(targets),
                          cond=expr(cond) if cond else None, actions=actions,
                          type="internal" if internal else "external")


def always(*targets: str, cond: Any = None, actions: tuple[Action, ...] = ()) -> TransitionSpec:
    return TransitionSpec(targets=list(targets), cond=expr(cond) if cond else None, actions=actions)


def update(fn: Any) -> Update:
    return Update(expr(fn))


def state(id: str, *children: StateSpec, kind: str = "state", **kw: Any) -> StateSpec:
    return StateSpec(id=id, kind=kind, children=list(children), **kw)  # type: ignore[arg-type]


def chart(root: StateSpec, **data: Any) -> Chart:
    root.data = [DataSpec(k, value=v) for k, v in data.items()]
    return build_chart(ChartSpec(root))


def assign(path: str, fn: Any) -> Action:
    from interlock.core.content import Assign

    return Assign(key_location(path), expr(fn))
