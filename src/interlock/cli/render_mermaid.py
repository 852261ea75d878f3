"""Mermaid ``stateDiagram-v2`` text for a chart: composite states nest, parallel regions are separated
by ``--`` (Mermaid's concurrency divider), ``[*]`` marks initial and final states.
"""

from __future__ import annotations

import re

from interlock.cli.labels import (
    common_ancestor,
    display_id,
    history_label,
    short_name,
    top_level_is_root,
    transition_label,
)
from interlock.core.chart import Chart, StateNode, Transition

_RESERVED = {"state", "note", "end", "direction", "classDef", "class", "style", "as", "left", "right",
             "of", "over", "TB", "BT", "LR", "RL"}


class _Writer:
    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        self.names: dict[str, str] = {}
        taken: set[str] = set()
        for node in chart.walk():
            candidates = (node.id, short_name(node), display_id(chart, node).replace(".", "_"))
            name = next((c for c in candidates if _usable(c) and c not in taken), f"s{node.order}")
            taken.add(name)
            self.names[node.id] = name
        # transitions are written inside the block that contains both ends (Mermaid cannot link into
        # a composite state from outside it reliably); a parallel block is avoided because its body is
        # split into regions by `--`
        self.by_block: dict[str | None, list[Transition]] = {}
        for t in chart.transitions:
            self.by_block.setdefault(self._block(t), []).append(t)
        self.top = chart.root if top_level_is_root(chart) else None

    def _block(self, t: Transition) -> str | None:
        block = common_ancestor(t.source, t.targets or (t.source,))
        while block is not None and block.kind == "parallel":
            block = block.parent
        if block is None or (block is self.chart.root and top_level_is_root(self.chart)):
            return None
        return block.id

    def render(self) -> str:
        lines = ["stateDiagram-v2"]
        if self.top is not None:
            lines += self._body(self.top, "    ")
        else:
            lines += self._state(self.chart.root, "    ")
            lines += self._transitions(None, "    ")
        return "\n".join(lines) + "\n"

    def _state(self, node: StateNode, indent: str) -> list[str]:
        name = self.names[node.id]
        if node.kind == "history":
            return [f'{indent}state "{history_label(node)}" as {name}']
        if node.kind in ("atomic", "final"):
            label = short_name(node)
            decl = name if name == label else f'state "{_text(label)}" as {name}'
            lines = [f"{indent}{decl}"]
            if node.kind == "final":
                lines.append(f"{indent}{name} --> [*]")
            return lines
        label = short_name(node)
        head = f"state {name}" if name == label else f'state "{_text(label)}" as {name}'
        return [f"{indent}{head} {{", *self._body(node, indent + "    "), f"{indent}}}"]

    def _body(self, node: StateNode, indent: str) -> list[str]:
        lines: list[str] = []
        if node.kind == "parallel":
            for i, region in enumerate(node.children):
                if i:
                    lines.append(f"{indent}--")
                lines += self._state(region, indent)
            for history in node.histories:
                lines += self._state(history, indent)
            return lines
        if node.initial is not None:
            lines += [f"{indent}[*] --> {self.names[t.id]}" for t in node.initial.targets]
        for child in (*node.children, *node.histories):
            lines += self._state(child, indent)
        key = None if node is self.top else node.id
        lines += self._transitions(key, indent)
        return lines

    def _transitions(self, key: str | None, indent: str) -> list[str]:
        lines: list[str] = []
        for t in self.by_block.get(key, []):
            lines += self._arrows(t, indent)
        return lines

    def _arrows(self, t: Transition, indent: str) -> list[str]:
        label = transition_label(t)
        if not t.targets:
            label = f"{label} (targetless)".strip()
        tail = f" : {_text(label)}" if label else ""
        source = self.names[t.source.id]
        return [f"{indent}{source} --> {self.names[target.id]}{tail}"
                for target in (t.targets or (t.source,))]


def render_mermaid(chart: Chart) -> str:
    """The chart as Mermaid text; states whose ids Mermaid cannot parse get aliases (``s3``)."""
    return _Writer(chart).render()


def _usable(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None and name not in _RESERVED


def _text(text: str) -> str:
    """Mermaid ends a statement at ``;`` and reads ``#...;`` as an entity: encode both, flatten lines."""
    return text.translate(_ENTITIES)


_ENTITIES = str.maketrans({"#": "#35;", ";": "#59;", '"': "#quot;", "\n": " "})
