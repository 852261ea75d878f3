"""Graphviz DOT for a chart: compound and parallel states are clusters, each parallel region its own
dashed cluster, so concurrency is visible. Edges to a compound state end at its cluster's border
(``compound=true`` with ``lhead``/``ltail`` on an invisible anchor node inside the cluster).
"""

from __future__ import annotations

from interlock.cli.labels import history_label, short_name, top_level_is_root, transition_label
from interlock.core.chart import Chart, StateNode, Transition

_CONTAINERS = ("compound", "parallel")


def render_dot(chart: Chart) -> str:
    """The whole chart as a ``digraph``; deterministic (document order), so it diffs well."""
    lines = [
        f"digraph {_q(chart.name)} {{",
        "  compound=true;",
        f"  label={_q(chart.key)}; labelloc=t; fontname=\"Helvetica\";",
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    if top_level_is_root(chart):
        lines += _initial(chart.root, "  ")
        for child in (*chart.root.children, *chart.root.histories):
            lines += _state(child, "  ")
    else:
        lines += _state(chart.root, "  ")
    for t in chart.transitions:
        # a history state's default transition is drawn dashed, as UML does
        style = "dashed" if t.source.kind == "history" else ""
        lines += ["  " + line for line in _edges(t, style=style)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _state(node: StateNode, indent: str) -> list[str]:
    if node.kind == "history":
        return [f"{indent}{_q(node.id)} [shape=circle, label={_q(history_label(node))}, "
                f"tooltip={_q(node.id)}, width=0.3, fixedsize=true];"]
    label = short_name(node)  # nested document states have dotted path ids: show the last part
    if node.kind in ("atomic", "final"):
        attrs = {"label": label} if label != node.id else {}
        if node.kind == "final":
            attrs["peripheries"] = "2"
        return [f"{indent}{_q(node.id)}{_attrs(attrs)};"]
    in_parallel = node.parent is not None and node.parent.kind == "parallel"
    if node.kind == "parallel":
        label, style = f"{label}  (parallel)", "rounded,bold"
    else:
        style = "dashed" if in_parallel else "rounded"
    inner = indent + "  "
    # the anchor edges attach to; clipped at the cluster border by lhead/ltail. A parallel state's
    # anchor also orders its regions: dot alone lays sibling clusters out right to left
    ordering = ", ordering=out" if node.kind == "parallel" else ""
    lines = [
        f"{indent}subgraph {_q(_cluster(node))} {{",
        f"{inner}label={_q(label)}; style={_q(style)};",
        f'{inner}{_q(node.id)} [shape=point, style=invis, width=0.01, label=""{ordering}];',
    ]
    lines += _initial(node, inner)
    for child in (*node.children, *node.histories):
        lines += _state(child, inner)
    if node.kind == "parallel":  # regions left to right in document order
        lines += [f"{inner}{_q(node.id)} -> {_q(region.id)} [style=invis];" for region in node.children]
    lines.append(f"{indent}}}")
    return lines


def _initial(node: StateNode, indent: str) -> list[str]:
    if node.kind != "compound" or node.initial is None:
        return []
    start = _q(f"__initial__:{node.id}")
    lines = [f'{indent}{start} [shape=point, width=0.12, label=""];']
    for target in node.initial.targets:
        lines.append(f"{indent}{start} -> {_q(target.id)}{_attrs(_ends(None, target))};")
    return lines


def _edges(t: Transition, *, style: str = "") -> list[str]:
    label = transition_label(t)
    attrs = {"label": label} if label else {}
    if style:
        attrs["style"] = style
    if not t.targets:  # targetless: the state stays; drawn as a dotted loop
        return [f"{_q(t.source.id)} -> {_q(t.source.id)}{_attrs({**attrs, 'style': 'dotted'})};"]
    return [f"{_q(t.source.id)} -> {_q(target.id)}{_attrs({**attrs, **_ends(t.source, target)})};"
            for target in t.targets]


def _ends(source: StateNode | None, target: StateNode) -> dict[str, str]:
    """lhead/ltail so edges stop at cluster borders; left out when one end lies inside the other."""
    attrs = {}
    if target.kind in _CONTAINERS and (source is None or not (
            source is target or source.is_descendant_of(target))):
        attrs["lhead"] = _cluster(target)
    if source is not None and source.kind in _CONTAINERS and not (
            target is source or target.is_descendant_of(source)):
        attrs["ltail"] = _cluster(source)
    return attrs


def _attrs(attrs: dict[str, str]) -> str:
    if not attrs:
        return ""
    return " [" + ", ".join(f"{k}={_q(v)}" for k, v in attrs.items()) + "]"


def _cluster(node: StateNode) -> str:
    return f"cluster_{node.id}"


def _q(text: str) -> str:
    """A DOT quoted string: any state id is safe as a node name this way."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
