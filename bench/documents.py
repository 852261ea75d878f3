"""``python -m bench.documents``: loading hostile documents is linear in their size (docs/limits.md).

Each family is one of issue #8's attacks (or one found since), built at three sizes doubling each time.
It prints the load time of each and the ratio between consecutive sizes: about 2 is linear, about 4 would
be quadratic. Valid documents must load; invalid ones must be refused with every problem listed.

Options: ``--scale F`` multiplies every size (``--scale 0.1`` for a quick run), ``--repeats N``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from interlock.errors import DefinitionError
from interlock.frontends.loader import load_machine


def unknown_targets(n: int) -> dict[str, Any]:
    """Every state names a missing target: every problem once had a hint searched among all states."""
    return {"id": "m", "initial": "s0", "states": {f"s{i}": {"on": {"GO": f"#x{i}"}} for i in range(n)}}


def id_targets(n: int) -> dict[str, Any]:
    """A valid ring of ``#id`` targets: each once searched every state for a declared id."""
    return {"id": "m", "initial": "s0", "states": {f"s{i}": {"on": {"GO": f"#s{(i + 1) % n}"}} for i in range(n)}}


def bad_in_calls(n: int) -> dict[str, Any]:
    """``In()`` of missing states in guards, one per 50 states."""
    states = {f"s{i}": ({"on": {"GO": {"target": f"s{i}", "guard": f"In('m.zz{i}')"}}} if i % 50 == 0 else {})
              for i in range(n)}
    return {"id": "m", "initial": "s0", "states": states}


def multi_targets(n: int) -> dict[str, Any]:
    """Transitions with 16 targets 28 states deep: the parallel-regions check was quadratic per transition."""
    def region(i: int) -> dict[str, Any]:
        inner: dict[str, Any] = {"id": f"r{i}z"}
        for _ in range(28):
            inner = {"initial": "c", "states": {"c": inner}}
        return inner

    targets = [f"#r{i}z" for i in range(16)]
    return {"id": "m", "initial": "x", "states": {
        "p": {"type": "parallel", "states": {f"r{i}": region(i) for i in range(16)}},
        "x": {"on": {f"E{k}": {"target": targets} for k in range(n // 2)}}}}


FAMILIES: dict[str, tuple[Callable[[int], dict[str, Any]], int]] = {
    "unknown targets": (unknown_targets, 4000),
    "#id targets": (id_targets, 4000),
    "In() of no state": (bad_in_calls, 4000),
    "16 deep targets": (multi_targets, 2000),
}


def load_seconds(text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        with contextlib.suppress(DefinitionError):
            load_machine(text)
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for name, (build, base) in FAMILIES.items():
        previous = None
        for factor in (1, 2, 4):
            n = max(2, int(base * factor * args.scale))
            text = json.dumps(build(n))
            seconds = load_seconds(text, args.repeats)
            ratio = f"x{seconds / previous:.1f}" if previous else ""
            print(f"{name:18} n={n:6} {len(text) / 1000:8.0f} KB {seconds:7.3f} s {ratio}")
            previous = seconds
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
