"""Starting invocations at the end of a macrostep (SCXML 6.4): each becomes an InvokeEffect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from interlock.core.effects import InvokeEffect
from interlock.core.execute import evaluate_data

if TYPE_CHECKING:
    from interlock.core.run import Run


def start_invokes(run: Run) -> None:
    """Invoke for every state entered in this macrostep and still active, in entry order."""
    states = sorted(run.to_invoke, key=lambda s: s.order)
    run.to_invoke = ()
    for state in states:
        for index, spec in enumerate(state.invokes):
            scope = run.scope()
            invokeid = spec.id
            try:
                if invokeid is None:
                    invokeid = f"{state.id}.{run.next_id('invoke').split('.', 1)[1]}"
                    if spec.idlocation is not None:
                        spec.idlocation(scope, invokeid)
                kind = str(spec.typeexpr(scope)) if spec.typeexpr is not None else spec.type
                src = str(spec.srcexpr(scope)) if spec.srcexpr is not None else spec.src
                data = evaluate_data(scope, spec.namelist, spec.params, None) or {}
                content = spec.content(scope) if callable(spec.content) else spec.content
            except Exception as exc:
                run.raise_error("error.execution", exc)
                continue
            run.invocations = {**run.invocations, invokeid: (state.id, index)}
            run.emit(InvokeEffect(invokeid, state.id, kind, src, content, data, spec.autoforward))
