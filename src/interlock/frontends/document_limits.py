"""Limits on machine documents, so that loading untrusted text takes bounded, linear time and memory.

A document is checked as data before anything else looks at it: its size, how deeply it nests and how
many values it expands to (YAML aliases can make a small text a large tree). The walk is iterative, so
no document raises ``RecursionError``; every limit that is hit is a :class:`DefinitionError` with the
path where it was hit. docs/limits.md ("Documents") lists every limit and its value.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from interlock.errors import DefinitionError, Problem

MAX_DOCUMENT_CHARS = 1_000_000  # characters of YAML/JSON text (PyYAML parses about 200 KB per CPU second)
MAX_DOCUMENT_NODES = 200_000  # values (mappings, lists, scalars) once YAML aliases are expanded
MAX_DOCUMENT_DEPTH = 100  # mappings and lists inside one another
MAX_STATE_DEPTH = 32  # states inside one another (the root is depth 0)
MAX_KEY_CHARS = 256  # characters of a mapping key (state keys, event names, context names...)
MAX_ID_CHARS = 512  # characters of a state id (the machine id, then the keys of its ancestors)
MAX_STATES = 20_000  # states in one machine
MAX_TRANSITIONS = 50_000  # transitions in one machine (on, always, after, onDone, onError)
MAX_TARGETS = 16  # targets of one transition (one per region of a parallel state)
# characters of Python that a document's distinct expressions generate (frontends/expressions.py): about
# 4,900 for a transition's guard and assignment, so some 1,600 distinct ones, 2-3 s of CPU to load
MAX_GENERATED_CODE = 8_000_000
MAX_HINTED_PROBLEMS = 20  # problems that get a did-you-mean hint searched among the document's states
_SCALARS = frozenset({str, int, float, bool, type(None)})


def check_text(text: str, label: str) -> None:
    """Refuse a document text longer than :data:`MAX_DOCUMENT_CHARS` before parsing it."""
    if len(text) > MAX_DOCUMENT_CHARS:
        raise DefinitionError([Problem("", f"the document is {len(text):,} characters long; the limit is "
                                           f"{MAX_DOCUMENT_CHARS:,}",
                                       "split the machine into smaller machines that invoke each other")], label)


def check_tree(doc: Any, label: str) -> None:
    """Refuse a parsed document that nests deeper than :data:`MAX_DOCUMENT_DEPTH` or holds more than
    :data:`MAX_DOCUMENT_NODES` values (counting each use of a YAML alias; a cyclic value nests too deep).

    One pass over at most ``MAX_DOCUMENT_NODES`` values, without recursion.
    """
    count = 1
    # (value, depth, key, parent entry): the parent chain gives the path, built only on failure
    stack: list[tuple[Any, int, object, Any]] = [(doc, 0, None, None)]
    while stack:
        entry = stack.pop()
        value, depth = entry[0], entry[1]
        kind = type(value)
        if kind in _SCALARS:
            continue
        if kind is dict or isinstance(value, Mapping):
            items: Any = value.items()
        elif kind is list or isinstance(value, (list, tuple)):
            items = enumerate(value)
        else:
            continue
        if not value:
            continue
        if depth >= MAX_DOCUMENT_DEPTH:
            raise DefinitionError([Problem(_path(entry), f"the document nests deeper than {MAX_DOCUMENT_DEPTH} "
                                                         "levels of mappings and lists (or a value contains itself)",
                                           "flatten the data, or split the machine")], label)
        count += len(value)  # counted before they are pushed: the stack never outgrows the limit
        if count > MAX_DOCUMENT_NODES:
            raise DefinitionError([Problem(_path(entry), f"the document expands to more than "
                                                         f"{MAX_DOCUMENT_NODES:,} values",
                                           "split the machine, or use fewer YAML aliases")], label)
        if kind is dict or isinstance(value, Mapping):
            _check_keys(value, entry, label)
        stack.extend((item, depth + 1, key, entry) for key, item in items)


def _check_keys(mapping: Mapping[Any, Any], entry: Any, label: str) -> None:
    """Keys are copied into every path and id below them: a long one would multiply (docs/limits.md)."""
    for key in mapping:
        if isinstance(key, str) and len(key) > MAX_KEY_CHARS:
            raise DefinitionError([Problem(_path((None, 0, f"{key[:40]}...", entry)),
                                           f"a key of {len(key):,} characters; the limit is {MAX_KEY_CHARS}",
                                           "use shorter names for states, events and values")], label)


class HintedIds(Collection[str]):
    """State ids for ``In()`` checks: membership is exact, but iterating them (which a did-you-mean hint
    does, comparing with each) yields at most ``candidates`` ids, and nothing after ``hints`` iterations,
    so hints for many bad ``In()`` calls stay linear in the document."""

    def __init__(self, ids: Collection[str], *, candidates: int = 500, hints: int = MAX_HINTED_PROBLEMS) -> None:
        self._ids = ids
        self._candidates = candidates
        self._hints = hints

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        if self._hints <= 0:
            return iter(())
        self._hints -= 1
        return itertools.islice(iter(self._ids), self._candidates)


def too_many(what: str, count: int, limit: int, path: str, hint: str) -> Problem:
    """The problem of a machine with more ``what`` than ``limit``."""
    return Problem(path, f"the machine has {count:,} {what}; the limit is {limit:,}", hint)


def _path(entry: Any) -> str:
    keys = []
    while entry is not None and entry[3] is not None:
        keys.append(entry[2])
        entry = entry[3]
    text = ""
    for key in reversed(keys):
        text = f"{text}[{key}]" if isinstance(key, int) else (f"{text}.{key}" if text else str(key))
    if len(text) > 200:  # a cyclic value: its path repeats
        text = f"{text[:120]}...{text[-60:]}"
    return text or "(root)"
