"""Text shared by every diagram format: how a transition and a state are labelled."""

from __future__ import annotations

import re

from interlock.core.chart import Chart, StateNode, Transition
from interlock.core.content import Send

_DOCUMENT_KEY = re.compile(r"(?:^|\.)states\.([^.\[\]]+)$")


def transition_label(t: Transition) -> str:
    """``PAY CANCEL [total > 0]``: the events, then the guard in brackets; empty when neither exists."""
    root = t.source.ancestors[-1] if t.source.ancestors else t.source
    parts = [after_label(t.source, e) or _without_root(root, e) for e in t.events]
    guard = written_guard(t)
    if guard is not None:
        parts.append(f"[{guard}]")
    if t.type == "internal" and t.targets and all(x.is_descendant_of(t.source) for x in t.targets):
        parts.append("(internal)")  # only here does "internal" change what happens: no exit, no re-entry
    return " ".join(parts)


def short_name(node: StateNode) -> str:
    """The name a state has inside its parent: ``waiting`` for ``order.payment.waiting``.

    Document front ends give nested states dotted path ids (and their ``path`` ends in
    ``states.<key>``); SCXML ids are flat and stay as they are.
    """
    parent = node.parent
    if parent is not None and node.id.startswith(parent.id + ".") and len(node.id) > len(parent.id) + 1:
        return node.id[len(parent.id) + 1:]
    match = _DOCUMENT_KEY.search(node.path or "")
    if match is not None and node.id.endswith("." + match.group(1)):
        return match.group(1)
    return node.id


def display_id(chart: Chart, node: StateNode) -> str:
    """A state's id without the machine's own prefix: ``payment.waiting`` for ``order.payment.waiting``."""
    prefix = chart.root.id + "."
    return node.id[len(prefix):] if node.id.startswith(prefix) and node is not chart.root else node.id


def _without_root(root: StateNode, event: str) -> str:
    """``done.state.checkout`` for ``done.state.order.checkout``: the machine's id is implied."""
    for prefix in ("done.state.", "done.invoke."):
        if event.startswith(prefix + root.id + "."):
            return prefix + event[len(prefix + root.id) + 1:]
    return event


def written_guard(t: Transition) -> str | None:
    """The guard as the document wrote it. A front end that must match one event name exactly (a
    document's ``onDone``, ``onError``) compiles ``event.name == 'done.state.x' and (GUARD)``: the label
    shows the event already, so only GUARD is shown (None when there is none)."""
    if t.cond is None:
        return None
    source = t.cond.source
    if len(t.events) != 1:
        return source
    for quoted in (repr(t.events[0]), f'"{t.events[0]}"'):
        exact = f"event.name == {quoted}"
        if source == exact:
            return None
        if source.startswith(exact + " and (") and source.endswith(")"):
            return source[len(exact) + len(" and ("):-1]
    return source


def after_label(state: StateNode, event: str) -> str | None:
    """``after 30m`` for the timer event a document's ``after`` creates (``xstate.after.<state>.#<n>``).

    The delay is read from the state's own entry send of that event; None for any other event.
    """
    if not event.startswith(f"xstate.after.{state.id}.#"):
        return None
    for block in state.onentry:
        for action in block:
            if isinstance(action, Send) and action.event == event:
                if action.delay_ms is not None:
                    return f"after {format_seconds(action.delay_ms / 1000)}"
                if action.delayexpr is not None:
                    return f"after {action.delayexpr.source}"
    return "after (timer)"


def timer_state(chart: Chart, event: str) -> StateNode | None:
    """The state whose ``after`` timer sent ``event``, or None if it is not such an event."""
    if not event.startswith("xstate.after.") or ".#" not in event:
        return None
    return chart.states.get(event[len("xstate.after."):event.rindex(".#")])


def format_seconds(seconds: float) -> str:
    """``0s``, ``1.5s``, ``250ms``, ``2m30s``, ``2h10m``: short and exact, for a virtual clock."""
    if seconds and seconds < 1:
        return f"{round(seconds * 1000, 3):g}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    parts = [f"{int(hours)}h" if hours else "", f"{int(minutes)}m" if minutes else "",
             f"{round(rest, 3):g}s" if rest else ""]
    return "".join(parts)


def history_label(node: StateNode) -> str:
    """UML's notation: ``H`` for shallow history, ``H*`` for deep."""
    return "H*" if node.history == "deep" else "H"


def top_level_is_root(chart: Chart) -> bool:
    """Draw the root's children at top level when the root is a plain compound state.

    A parallel root, or a root with its own transitions, is drawn as a box of its own so nothing is lost.
    """
    return chart.root.kind in ("compound", "atomic") and not chart.root.transitions


def common_ancestor(source: StateNode, targets: tuple[StateNode, ...]) -> StateNode | None:
    """The nearest proper ancestor of ``source`` that contains every target (None above the root)."""
    for ancestor in source.ancestors:
        if all(t is ancestor or t.is_descendant_of(ancestor) for t in targets):
            return ancestor
    return None
