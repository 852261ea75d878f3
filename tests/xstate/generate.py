"""Random structural machine configs in XState's shape, with event scripts, for the differential test.

States, parallel regions, history (shallow and deep), finals (also as regions), ``onDone``, ``after``
(timers), ``always``, wildcards, ``reenter``, dotted event names and names with spaces. No guards; half
of the charts trace their actions: entry, exit and transition actions ``{type: trace, params: {t}}``
that append ``t`` to ``context.trace`` (an assign both sides implement), so the order of actions is
compared too. Every config is one XState v5 accepts and runs into a legal configuration (multiple targets only
in different regions of one parallel state). Known XState bugs are avoided (see KNOWN_DIFFERENCES in
test_differential.py): no history state as ``initial`` or as a transition source, no target strings in
an ``after`` list.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

EVENTS = ["A", "B", "C", "A.x", "A.x.y", "B.x", "go home"]
DESCRIPTORS = [*EVENTS, "A.*", "A.x.*", "B.*", "*"]
KEYS = ["a", "b", "c", "d", "e", "f", "g", "h", "s 1", "s 2"]


@dataclass
class _Node:
    key: str
    kind: str  # atomic compound parallel final history
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.key if self.parent is None else f"{self.parent.id}.{self.key}"

    def walk(self) -> list[_Node]:
        return [self, *(n for c in self.children for n in c.walk())]

    def ancestors(self) -> list[_Node]:
        return [] if self.parent is None else [self.parent, *self.parent.ancestors()]


class Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.delays = rng.sample(range(101, 3000, 7), 40)  # unique per timer: no two share a due time by design

    def chart(self) -> dict[str, Any]:
        rng = self.rng
        root = _Node("m", rng.choice(["compound", "compound", "parallel"]), None)
        self._grow(root, depth=0, budget=[rng.randint(3, 14)])
        nodes = root.walk()
        for node in nodes:
            self._transitions(node, nodes)
        config = self._config(root)
        if rng.random() < 0.5:
            config["context"] = {"trace": []}
            _trace(config, rng, "m")
        return config

    def script(self) -> list[dict[str, Any]]:
        rng = self.rng
        out: list[dict[str, Any]] = []
        for _ in range(rng.randint(3, 12)):
            if rng.random() < 0.25:
                out.append({"wait": rng.choice([50, 500, 1500, 4000])})
            else:
                out.append({"send": rng.choice([*EVENTS, "A.x.y.z", "Z"])})
        return out

    # -- structure ----------------------------------------------------------------------------------

    def _grow(self, node: _Node, depth: int, budget: list[int]) -> None:
        rng = self.rng
        count = rng.randint(1, 3) if node.kind == "parallel" else rng.randint(1, 4)
        keys = rng.sample(KEYS, count)
        for key in keys:
            kind = "atomic"
            roll = rng.random()
            if budget[0] > 0 and depth < 3 and roll < 0.35:
                kind = rng.choice(["compound", "compound", "parallel"])
                budget[0] -= 1
            elif roll < 0.5:
                kind = "final"
            elif roll < 0.58 and node.kind in ("compound", "parallel"):
                kind = "history"
            child = _Node(key, kind, node)
            node.children.append(child)
            if kind in ("compound", "parallel"):
                self._grow(child, depth + 1, budget)
        if node.kind in ("compound", "parallel") and all(c.kind == "history" for c in node.children):
            node.children.append(_Node("z", "atomic", node))

    # -- transitions --------------------------------------------------------------------------------

    def _transitions(self, node: _Node, nodes: list[_Node]) -> None:
        rng = self.rng
        if node.kind == "history":
            return
        states = [n for n in nodes if n.kind != "history" or n.parent is not None]
        on: dict[str, Any] = {}
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            on[rng.choice(DESCRIPTORS)] = self._place(node, states)
        if on:
            node.config["on"] = on
        # no timers on the root: XState enters the root again when a descendant targets it (KNOWN_DIFFERENCES)
        if node.kind != "final" and node.parent is not None and rng.random() < 0.2:
            after: dict[str, Any] = {}
            for _ in range(rng.randint(1, 2)):
                value = self._place(node, states)
                if isinstance(value, list):
                    value = [v if isinstance(v, dict) else {"target": v} for v in value]
                after[str(self.delays.pop())] = value
            node.config["after"] = after
        if node.kind in ("compound", "parallel") and node.parent is not None and rng.random() < 0.4:
            node.config["onDone"] = self._place(node, states)
        if node.kind != "final" and rng.random() < 0.15:
            node.config["always"] = self._always(node, nodes)

    def _place(self, node: _Node, states: list[_Node]) -> Any:
        """What one event key maps to: a target string, an object, or a list of objects."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            target = rng.choice(states)
            if _sibling_history(node, target):
                return {"target": self._target_string(node, target), "reenter": True}
            return self._target_string(node, target)
        if roll < 0.85:
            return self._object(node, states)
        return [self._object(node, states) for _ in range(rng.randint(1, 2))]

    def _object(self, node: _Node, states: list[_Node]) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.1:
            pass  # targetless
        elif roll < 0.2 and (multi := self._multi_target(states)):
            out["target"] = multi
        else:
            target = rng.choice(states)
            out["target"] = self._target_string(node, target)
            if _sibling_history(node, target):
                out["reenter"] = True
                return out
        if rng.random() < 0.3:
            out["reenter"] = rng.random() < 0.7
        return out

    def _target_string(self, node: _Node, target: _Node) -> str:
        if target.parent is not None and target.parent is node.parent and self.rng.random() < 0.5:
            return target.key
        if target.parent is node and self.rng.random() < 0.5:
            return "." + target.key
        return "#" + target.id

    def _multi_target(self, states: list[_Node]) -> list[str] | None:
        parallels = [n for n in states if n.kind == "parallel" and len(n.children) > 1]
        if not parallels:
            return None
        p = self.rng.choice(parallels)
        regions = self.rng.sample([c for c in p.children if c.kind != "history"], 2) \
            if sum(c.kind != "history" for c in p.children) >= 2 else []
        if not regions:
            return None
        return ["#" + self.rng.choice([n for n in r.walk() if n.kind != "history" or n is not r]).id
                for r in regions]

    def _always(self, node: _Node, nodes: list[_Node]) -> Any:
        rng = self.rng
        if rng.random() < 0.3:
            return {} if rng.random() < 0.5 else {"target": self._target_string(node, node)}
        later = [n for n in nodes if n.kind != "history" and nodes.index(n) > nodes.index(node)]
        if not later:
            return {}
        return {"target": self._target_string(node, rng.choice(later))}

    # -- output -------------------------------------------------------------------------------------

    def _config(self, node: _Node) -> dict[str, Any]:
        rng = self.rng
        config: dict[str, Any] = {}
        if node.parent is None:
            config["id"] = node.key
        if node.kind == "parallel":
            config["type"] = "parallel"
        elif node.kind == "final":
            config["type"] = "final"
        elif node.kind == "history":
            config["type"] = "history"
            if rng.random() < 0.5:
                config["history"] = "deep"
            siblings = [c for c in node.parent.children if c.kind != "history"] if node.parent else []
            # without a target, XState drops the parallel parent from the configuration (KNOWN_DIFFERENCES)
            parallel_parent = node.parent is not None and node.parent.kind == "parallel"
            if siblings and (parallel_parent or rng.random() < 0.4):
                config["target"] = rng.choice(siblings).key
        if node.kind == "compound":
            candidates = [c for c in node.children if c.kind != "history"]
            first = rng.choice(candidates).key
            config["initial"] = {"target": first} if rng.random() < 0.1 else first
        config.update(node.config)
        if node.children:
            config["states"] = {c.key: self._config(c) for c in node.children}
        return config


def _sibling_history(source: _Node, target: _Node) -> bool:
    """A history state of the source's parent, which may stand for the source itself: without reenter,
    XState enters the source again while it stays active (KNOWN_DIFFERENCES reentry-while-active)."""
    return target.kind == "history" and target.parent is source.parent


def _trace(config: dict[str, Any], rng: random.Random, name: str) -> None:
    """Add trace actions to a state config, its transition objects and its children, in place."""
    if config.get("type") == "history":
        return
    if "id" not in config:  # none on the root: XState runs its entry again (KNOWN_DIFFERENCES reentry-while-active)
        if rng.random() < 0.6:
            config["entry"] = [_action(f"in:{name}")]
        if rng.random() < 0.6:
            config["exit"] = [_action(f"out:{name}")]
    for place in ("on", "after"):
        for event, value in (config.get(place) or {}).items():
            for i, t in enumerate(value if isinstance(value, list) else [value]):
                if isinstance(t, dict) and rng.random() < 0.6:
                    t["actions"] = [_action(f"{name}:{event}[{i}]")]
    for place in ("always", "onDone"):
        value = config.get(place)
        if isinstance(value, dict) and rng.random() < 0.6:
            value["actions"] = [_action(f"{name}:{place}")]
    for key, child in (config.get("states") or {}).items():
        _trace(child, rng, key)


def _action(label: str) -> dict[str, Any]:
    return {"type": "trace", "params": {"t": label}}


def cases(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` random charts with their scripts; the same seed gives the same cases."""
    rng = random.Random(seed)
    gen = Generator(rng)
    out = []
    for _ in range(count):
        gen.delays = rng.sample(range(101, 3000, 7), 40)
        out.append({"config": gen.chart(), "script": gen.script()})
    return out
