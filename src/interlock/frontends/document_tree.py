"""The state tree of a machine document: keys, ids, kinds, and XState-style target resolution.

Ids follow XState: a state's id is its ``id`` if it has one, else the machine id and its key path
(``order.placed.waiting``). Targets resolve as XState does::

    "sibling"        a sibling of the source state; "sibling.child" descends from it
    ".child"         a child of the source state (".child.grandchild" descends)
    "#id"            the state with that id ("#id.child" descends); also the full path id, or a state
                     key that is unique in the machine (so "#r2" works without declaring ids)
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from interlock.errors import Problem
from interlock.frontends.document_limits import MAX_HINTED_PROBLEMS, MAX_ID_CHARS, MAX_STATE_DEPTH
from interlock.frontends.document_values import join, suggest

MAX_HINT_IDS = 500  # candidates of each kind a did-you-mean hint compares a target with
_BAD_KEY = re.compile(r"[.#]")  # spaces are allowed, as in XState
_BAD_ID = re.compile(r"#")
KINDS = {"atomic": "state", "compound": "state", "parallel": "parallel", "final": "final", "history": "history"}


class Node:
    """One state of the document while it is being loaded."""

    __slots__ = ("children", "config", "id", "key", "kind", "parent", "path")

    def __init__(self, key: str, config: Mapping[str, Any], parent: Node | None, path: str) -> None:
        self.key = key
        self.config = config
        self.parent = parent
        self.path = path
        self.id = ""
        self.kind = "state"
        self.children: dict[str, Node] = {}

    def descend(self, keys: list[str]) -> Node | None:
        node: Node | None = self
        for key in keys:
            node = node.children.get(key) if node is not None else None
        return node


class Tree:
    """Builds the :class:`Node` tree, checks keys and ids, and resolves targets to state ids."""

    def __init__(self, problems: list[Problem], allowed_keys: frozenset[str], root_keys: frozenset[str]) -> None:
        self.problems = problems
        self.allowed_keys = allowed_keys
        self.root_keys = root_keys
        self.ids: dict[str, Node] = {}
        self.nodes: list[Node] = []
        self.by_key: dict[str, list[Node]] = {}
        self.declared: set[str] = set()  # ids written with id: (so "#key" does not name another state)
        self.hinted = 0  # unknown targets given a did-you-mean hint (at most MAX_HINTED_PROBLEMS)

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def build(self, doc: Mapping[str, Any]) -> Node:
        declared = doc.get("id")
        machine_id = declared if isinstance(declared, str) and declared else "machine"
        root = Node(machine_id, doc, None, "")
        self._visit(root, [])
        return root

    def _visit(self, node: Node, keys: list[str]) -> None:
        config = node.config
        allowed = self.root_keys if node.parent is None else self.allowed_keys
        for key in config:
            if key not in allowed:
                self.error(join(node.path, key), f"unknown key {key!r}", suggest(str(key), sorted(allowed), "keys", self.problems))
        node.id = self._id(node, keys)
        node.kind = self._kind(node)
        self.nodes.append(node)
        if node.parent is not None:
            self.by_key.setdefault(node.key, []).append(node)
        states = config.get("states")
        if states is None:
            return
        if not isinstance(states, Mapping):
            self.error(join(node.path, "states"), "'states' must be a mapping of key: state")
            return
        if len(keys) >= MAX_STATE_DEPTH:  # the loader and the engine walk states recursively
            self.error(join(node.path, "states"), f"states nest deeper than {MAX_STATE_DEPTH} levels",
                       "flatten the machine, or move a part into a machine it invokes")
            return
        for key, child_config in states.items():
            path = join(join(node.path, "states"), key)
            if not isinstance(key, str) or not key or _BAD_KEY.search(key):
                self.error(path, f"invalid state key {key!r}", "keys are non-empty and contain no '.' or '#'")
                continue
            if child_config is None:
                child_config = {}  # `s: {}` written as `s:` in YAML
            if not isinstance(child_config, Mapping):
                self.error(path, f"a state must be a mapping, not {type(child_config).__name__}")
                continue
            child = Node(key, child_config, node, path)
            node.children[key] = child
            self._visit(child, [*keys, key])

    def _id(self, node: Node, keys: list[str]) -> str:
        explicit = node.config.get("id")
        if node.parent is None:
            state_id = node.key
            if isinstance(explicit, str):
                self.declared.add(explicit)
        elif explicit is not None:
            if not isinstance(explicit, str) or not explicit or _BAD_ID.search(explicit):
                self.error(join(node.path, "id"), f"invalid state id {explicit!r}", "ids contain no '#'")
            state_id = str(explicit)
            self.declared.add(state_id)
        else:
            state_id = ".".join([self.nodes[0].key, *keys])
        if len(state_id) > MAX_ID_CHARS:  # ids are kept per state and in every snapshot: no multiplying
            self.error(join(node.path, "id") if explicit is not None else node.path,
                       f"the state id is {len(state_id):,} characters long; the limit is {MAX_ID_CHARS}",
                       "use shorter state keys or ids, or nest less")
        if state_id in self.ids:
            other = self.ids[state_id].path or "the root"
            self.error(node.path, f"duplicate state id {state_id!r}", f"it is already used at {other}; rename one")
        else:
            self.ids[state_id] = node
        return state_id

    def _kind(self, node: Node) -> str:
        declared = node.config.get("type")
        has_children = bool(node.config.get("states"))
        if declared is None:  # XState: a state with 'history' and no child states is a history state
            return "history" if node.config.get("history") and not has_children else "state"
        if declared not in KINDS:
            self.error(join(node.path, "type"), f"unknown state type {declared!r}",
                       suggest(str(declared), list(KINDS), "types", self.problems))
            return "state"
        if declared == "atomic" and has_children:
            self.error(join(node.path, "type"), "an atomic state cannot have child states", "use type: compound")
        if declared == "compound" and not has_children:
            self.error(join(node.path, "type"), "a compound state needs child states", "add states: or use atomic")
        return KINDS[declared]

    # --- targets ---

    def resolve(self, source: Node, target: Any, path: str) -> str | None:
        """The id of the state ``target`` names, from a transition of ``source``; a problem if none."""
        if not isinstance(target, str) or not target:
            self.error(path, f"a target must be a state name, not {target!r}")
            return None
        found = self._find(source, target)
        if found is None:
            self.error(path, f"unknown target {target!r}", self._hint(source, target))
            return None
        return found.id

    def resolve_initial(self, node: Node, initial: Any, path: str) -> str | None:
        if isinstance(initial, Mapping) and "target" in initial:  # XState: initial: {target: key}
            initial, path = initial["target"], join(path, "target")
        if isinstance(initial, str) and initial and not initial.startswith(("#", ".")):
            initial = "." + initial
        return self.resolve(node, initial, path)

    def _find(self, source: Node, target: str) -> Node | None:
        if target.startswith("#"):
            return self._by_id(target[1:])
        if target.startswith("."):
            return source.descend(target[1:].split("."))
        base = source.parent if source.parent is not None else source
        return base.descend(target.split("."))

    def _by_id(self, ref: str) -> Node | None:
        if ref in self.ids:
            return self.ids[ref]
        parts = ref.split(".")
        # "#id.child": the longest id prefix, then keys (at most MAX_STATE_DEPTH of them: no deeper state)
        for cut in range(len(parts) - 1, max(0, len(parts) - 1 - MAX_STATE_DEPTH), -1):
            prefix = ".".join(parts[:cut])
            if prefix in self.ids:
                return self.ids[prefix].descend(parts[cut:])
        same_key = self.by_key.get(parts[0], [])
        if len(same_key) == 1 and not self._declared(parts[0]):
            return same_key[0].descend(parts[1:])
        return None

    def _declared(self, key: str) -> bool:
        return key in self.declared

    def _hint(self, source: Node, target: str) -> str:
        """A did-you-mean hint, searched for the first :data:`MAX_HINTED_PROBLEMS` unknown targets only,
        among the nearby states and at most ``MAX_HINT_IDS`` ids: loading stays linear in the document."""
        self.hinted += 1
        if self.hinted > MAX_HINTED_PROBLEMS:
            return ""
        head = target.lstrip("#").split(".")[0]
        ambiguous = self.by_key.get(head, []) if target.startswith("#") else []
        if len(ambiguous) > 1:
            return "several states are called {!r}: use one of {}".format(
                head, ", ".join(f"'#{n.id}'" for n in ambiguous[:MAX_HINT_IDS]))
        base = source.parent if source.parent is not None else source
        known = [*itertools.islice(base.children, MAX_HINT_IDS),
                 *(f".{k}" for k in itertools.islice(source.children, MAX_HINT_IDS)),
                 *(f"#{i}" for i in itertools.islice(self.ids, MAX_HINT_IDS))]
        return suggest(target, known, "targets")
