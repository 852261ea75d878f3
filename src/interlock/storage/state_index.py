"""The state/tag index of instances: what to remove and add when a configuration changes."""

from __future__ import annotations

from collections.abc import Sequence

Index = tuple[tuple[str, ...], tuple[str, ...]]  # states, tags


Entries = tuple[tuple[str, str], ...]
_MOVES: dict[tuple[Index, Index], tuple[Entries, Entries]] = {}


def moves(before: Index, after: Index) -> tuple[Entries, Entries]:
    """The index entries to remove and to add to go from ``before`` to ``after``. A chart has few
    configurations, so the answers are memoized (bounded: the memo restarts when it grows large)."""
    found = _MOVES.get((before, after))
    if found is None:
        had, wanted = _entries(before), _entries(after)
        found = (tuple(sorted(had - wanted)), tuple(sorted(wanted - had)))
        if len(_MOVES) >= 4096:
            _MOVES.clear()
        _MOVES[(before, after)] = found
    return found


def _entries(index: Index) -> set[tuple[str, str]]:
    states, tags = index
    return {("state", s) for s in states} | {("tag", t) for t in tags}


def index_of(states: Sequence[str], tags: Sequence[str]) -> Index:
    return tuple(states), (tuple(dict.fromkeys(tags)) if tags else ())
