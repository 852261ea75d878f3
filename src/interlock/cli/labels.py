"""Text shared by every diagram format: how a transition and a state are labelled."""

from __future__ import annotations

from interlock.core.chart import Chart, StateNode, Transition


def transition_label(t: Transition) -> str:
    """``PAY CANCEL [total > 0]``: the events, then the guard in brackets; empty when neither exists."""
    parts = list(t.events)
    if t.cond is not None:
        parts.append(f"[{t.cond.source}]")
    if t.type == "internal" and t.targets:
        parts.append("(internal)")
    return " ".join(parts)


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
