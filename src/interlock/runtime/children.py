"""Bounds on invoked machines: no recursion, a bounded depth, and a bounded number of children per step.

A machine that invokes itself (directly, or through other machines) would start children without end
inside one transaction. Both runtimes refuse it twice (docs/limits.md, "Children"):

- at registration, for what a chart names statically (``machine:NAME``, ``<invoke src="NAME">``):
  :func:`invoke_cycle` finds the cycle and registering raises :class:`DefinitionError`;
- at run time, for everything else (``srcexpr``, charts never registered together): a child whose
  machine is already running above it, one deeper than :data:`MAX_INVOKE_DEPTH`, or one more than
  :data:`MAX_CHILDREN_PER_STEP` started by one step (with what its children start in turn) is not
  started; the invoking instance gets ``error.execution`` with ``{"message", "invokeid"}`` instead, as
  for any child that cannot start (SCXML 6.4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from interlock.core.chart import Chart
from interlock.errors import DefinitionError, Problem
from interlock.runtime.machines import is_scxml_type

MAX_INVOKE_DEPTH = 10  # machines inside one another: a top-level instance is depth 0
MAX_CHILDREN_PER_STEP = 100  # children one step may start, counting those their own start starts


def invoked_machines(chart: Chart) -> set[str]:
    """The machine names ``chart`` invokes by a fixed ``src`` (``machine:NAME[@version]`` or ``NAME``)."""
    names = set()
    for state in chart.walk():
        for spec in state.invokes:
            if spec.srcexpr is not None or not spec.src or spec.content is not None:
                continue
            src = spec.src
            if src.startswith("machine:"):
                src = src[len("machine:"):]
            elif src.startswith("service:") or not is_scxml_type(spec.type) or spec.typeexpr is not None:
                continue  # a service (a document's plain src, or a non-SCXML type)
            names.add(src.partition("@")[0])
    return names


def invoke_cycle(name: str, invokes: Callable[[str], Iterable[str]]) -> list[str] | None:
    """A path ``[name, ..., name]`` of machines invoking one another back to ``name``, or None.

    ``invokes(machine)`` names what a machine invokes; unknown names invoke nothing. Each machine is
    visited once (iterative depth-first search), so this is linear in the machines and their invokes.
    """
    seen: set[str] = set()
    stack: list[tuple[str, list[str]]] = [(name, [name])]
    while stack:
        current, path = stack.pop()
        for nxt in invokes(current):
            if nxt == name:
                return [*path, name]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def check_no_cycle(chart: Chart, invokes: Callable[[str], Iterable[str]], name: str | None = None) -> None:
    """Raise :class:`DefinitionError` if registering ``chart`` (as ``name``, default its own) closes a
    cycle of invocations."""
    name = name or chart.name
    own = invoked_machines(chart) | set(invokes(name))  # with the versions already registered

    def edges(machine: str) -> Iterable[str]:
        return own if machine == name else invokes(machine)

    cycle = invoke_cycle(name, edges)
    if cycle is not None:
        what = "itself" if len(cycle) == 2 else "itself through " + ", ".join(repr(c) for c in cycle[1:-1])
        raise DefinitionError([Problem("invoke", f"machine {name!r} invokes {what} "
                                                 f"({' -> '.join(cycle)})",
                                       "a machine may not run inside itself: each start would start another "
                                       "without end; invoke a different machine, or send events to an "
                                       "existing instance instead")], chart.source)


def refusal(machine: str, ancestors: list[str], started: int, *, recursive: bool | None = None) -> str | None:
    """Why a child of ``machine`` must not start below ``ancestors`` (the invoking instance's machine
    first, then its parent's...) when its step already started ``started`` children; None if it may.
    ``recursive``: whether the machine already runs above it (default: its name is among ``ancestors``)."""
    if recursive if recursive is not None else machine in ancestors:
        chain = " -> ".join([*reversed(ancestors), machine])
        return (f"machine {machine!r} would run inside itself ({chain}); recursive invocation is refused "
                "(docs/limits.md, Children)")
    if len(ancestors) > MAX_INVOKE_DEPTH:
        return (f"the child would be {len(ancestors)} machines deep; the limit is {MAX_INVOKE_DEPTH} "
                "(docs/limits.md, Children)")
    if started >= MAX_CHILDREN_PER_STEP:
        return (f"this step already started {started} children; the limit is {MAX_CHILDREN_PER_STEP} "
                "(docs/limits.md, Children)")
    return None
