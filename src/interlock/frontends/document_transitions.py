"""Transitions of a document state: ``on``, ``always``, ``after``, ``onDone`` and invoke ``onDone``/``onError``.

Each place takes XState's forms: a target string, a list of transition objects (tried in order), or one
object ``{target, guard (or cond), actions, reenter (or internal), description}``. ``null`` is a
transition that does nothing but stops the event here (XState's forbidden transition).

Order follows the document, except that wildcard (``*``) transitions of a state come after its named
ones, as in XState. ``reenter: false`` (the default, as in XState v5) is an SCXML internal transition:
targeting a descendant does not exit and re-enter the source. Targeting the source itself does not either
(see :func:`settle_self_targets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock.core.datamodel import Expr
from interlock.core.spec import TransitionSpec
from interlock.frontends.document_actions import ActionCompiler
from interlock.frontends.document_limits import MAX_TARGETS
from interlock.frontends.document_tree import Node, Tree
from interlock.frontends.document_values import Values, join, suggest

TRANSITION_KEYS = frozenset({"target", "guard", "cond", "actions", "reenter", "internal", "description", "meta"})
Timer = tuple[str, int | None, Expr | None]


class Transitions:
    def __init__(self, tree: Tree, values: Values, actions: ActionCompiler) -> None:
        self.tree = tree
        self.values = values
        self.actions = actions
        self._timers: dict[str, list[Timer]] = {}
        self.count = 0  # transitions compiled so far

    def of_state(self, node: Node) -> list[TransitionSpec]:
        """Every transition of ``node`` in document order; also records its ``after`` timers."""
        config, path = node.config, node.path
        named: list[TransitionSpec] = []
        wildcard: list[TransitionSpec] = []
        on = config.get("on")
        if on is not None:
            if not isinstance(on, Mapping):
                self.values.error(join(path, "on"), "'on' must be a mapping of event: transition")
            else:
                for event, value in on.items():
                    if event is None or isinstance(event, bool):
                        self.values.error(join(join(path, "on"), str(event)),
                                          f"event name {event!r} is not a string",
                                          "quote it in YAML ('null', 'true'); for an eventless "
                                          "transition use 'always'")
                        continue
                    events = [str(event)] if event else []  # "" is eventless, as in XState v4
                    into = wildcard if events == ["*"] else named
                    into.extend(self.parse(node, value, join(join(path, "on"), event), events))
        named.extend(self._after(node))
        if "onDone" in config:
            done = self.parse(node, config["onDone"], join(path, "onDone"), [f"done.state.{node.id}"])
            named.extend(done)
        named.extend(self._invoke_outcomes(node))
        if "always" in config:
            named.extend(self.parse(node, config["always"], join(path, "always"), []))
        self.count += len(named) + len(wildcard)
        return named + wildcard

    def timers(self, node: Node) -> list[Timer]:
        return self._timers.get(node.id, [])

    def parse(self, node: Node, value: Any, path: str, events: list[str]) -> list[TransitionSpec]:
        """One place's transitions: a target, a list, an object, or null."""
        if isinstance(value, list):
            return [t for i, item in enumerate(value) for t in self._one(node, item, join(path, i), events)]
        return self._one(node, value, path, events)

    def _one(self, node: Node, value: Any, path: str, events: list[str]) -> list[TransitionSpec]:
        if value is None:
            return [TransitionSpec(events=list(events), path=path)]
        if isinstance(value, str):
            target = self.tree.resolve(node, value, path)
            return [TransitionSpec(events=list(events), targets=[target] if target else [], path=path,
                                   type="internal")]  # XState v5: a plain target does not re-enter
        if not isinstance(value, Mapping):
            self.values.error(path, f"a transition must be a target or an object, not {type(value).__name__}")
            return []
        for key in value:
            if key not in TRANSITION_KEYS:
                self.values.error(join(path, key), f"unknown key {key!r} in a transition",
                                  suggest(str(key), sorted(TRANSITION_KEYS), "keys", self.values.problems))
        if not isinstance(value.get("description") or "", str):
            self.values.error(join(path, "description"), "description must be a string")
        if not isinstance(value.get("meta") or {}, Mapping):
            self.values.error(join(path, "meta"), "meta must be a mapping", "write meta: {key: value}")
        spec = TransitionSpec(events=list(events), path=path, type=_kind(value))
        target = value.get("target")
        if target is not None and target != "":  # XState: an empty target is no target
            targets = target if isinstance(target, list) else [target]
            where = join(path, "target")
            if len(targets) > MAX_TARGETS:  # checked in pairs (SCXML 3.13): keep that small
                self.values.error(where, f"a transition has {len(targets)} targets; the limit is {MAX_TARGETS}",
                                  "several targets name one state in each region of a parallel state")
                targets = []
            spec.targets = [t for t in (self.tree.resolve(node, t, where) for t in targets) if t]
        guard = value.get("guard", value.get("cond"))
        if guard is not None:
            spec.cond = self.values.guard(guard, join(path, "guard" if "guard" in value else "cond"))
        spec.actions = self.actions.block(value.get("actions"), join(path, "actions"))
        if not spec.targets and len(spec.actions) == 1:
            # guard: ... and assign: {...} alone on a targetless transition: one compiled function for both
            fused = self.values.fused(spec.cond, spec.actions[0])
            if fused is not None:
                spec.cond, update = fused
                spec.actions = (update,)
        return [spec]

    def _after(self, node: Node) -> list[TransitionSpec]:
        after = node.config.get("after")
        if after is None:
            return []
        path = join(node.path, "after")
        if not isinstance(after, Mapping):
            self.values.error(path, "'after' must be a mapping of delay: transition", "write after: {2s: next}")
            return []
        out: list[TransitionSpec] = []
        timers = self._timers.setdefault(node.id, [])
        for i, (delay, value) in enumerate(after.items()):
            where = join(path, delay)
            delay_ms, delayexpr = self.values.delay(delay, where)
            event = f"xstate.after.{node.id}.#{i}"  # state id first: a child's timer never matches ours
            timers.append((event, delay_ms, delayexpr))
            out.extend(self.parse(node, value, where, [event]))
        return out

    def _invoke_outcomes(self, node: Node) -> list[TransitionSpec]:
        value = node.config.get("invoke")
        items = value if isinstance(value, list) else [value] if value is not None else []
        out: list[TransitionSpec] = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue  # reported by the invoke itself
            path = join(join(node.path, "invoke"), i) if isinstance(value, list) else join(node.path, "invoke")
            invokeid = invoke_id(node, item, i)
            if "onDone" in item:
                out.extend(self.parse(node, item["onDone"], join(path, "onDone"), [f"done.invoke.{invokeid}"]))
            if "onError" in item:
                out.extend(self.parse(node, item["onError"], join(path, "onError"), [f"error.invoke.{invokeid}"]))
        return out


def invoke_id(node: Node, config: Mapping[str, Any], index: int) -> str:
    """The invoke's ``id``, or XState's default ``<state id>:invocation[<index>]``."""
    return str(config.get("id") or f"{node.id}:invocation[{index}]")


def _kind(value: Mapping[str, Any]) -> Any:
    if "reenter" in value:
        return "external" if value["reenter"] else "internal"
    if "internal" in value:
        return "internal" if value["internal"] else "external"
    return "internal"
