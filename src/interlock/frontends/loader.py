"""Load a machine from a file or text: YAML or JSON (untrusted), or SCXML (trusted Python) when asked.

    >>> chart = load_machine("machines/order.yaml", actions={"notify": notify})  # doctest: +SKIP

A text or a file is YAML or JSON; it is SCXML only when the caller says ``format="scxml"`` (SCXML runs its
Python: only the caller may choose to trust it), whatever its suffix or first character. SCXML reads
``<data src>``/``<script src>`` files only inside ``base_dir``, given explicitly.

YAML is read with YAML 1.2 booleans (only ``true``/``false``), so XState's ``on:`` key, and states or
events called ``yes``, ``no`` or ``off``, stay strings. Documents are bounded in size, nesting and the
values they expand to (through YAML aliases): see :mod:`interlock.frontends.document_limits`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from interlock.core.chart import Chart
from interlock.errors import DefinitionError, Problem
from interlock.frontends.document import load_document
from interlock.frontends.document_limits import (
    MAX_DOCUMENT_DEPTH,
    MAX_DOCUMENT_NODES,
    MAX_GENERATED_CODE,
    check_text,
    check_tree,
)

__all__ = ["load_machine", "parse_document"]

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".scxml": "scxml", ".xml": "scxml"}


class _TooDeep(yaml.MarkedYAMLError):
    """A YAML document nests deeper than :data:`MAX_DOCUMENT_DEPTH`."""


class _TooLarge(yaml.MarkedYAMLError):
    """A YAML document's merge keys (``<<``) make more than :data:`MAX_DOCUMENT_NODES` entries."""


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (``on``/``off``/``yes``/``no`` are plain strings) that refuses
    nesting deeper than :data:`MAX_DOCUMENT_DEPTH` while composing (PyYAML composes recursively), and
    mappings whose merge keys make more than :data:`MAX_DOCUMENT_NODES` entries in all while it builds them."""

    _depth = 0
    _merged = 0
    _flattening: Any = None

    def flatten_mapping(self, node: Any) -> None:
        """PyYAML copies the entries of every mapping a ``<<`` names into the merging node, and reads them
        all again at each merge, before :func:`check_tree` sees the result (where later keys have replaced
        them): 2,000 mappings merging ``[*b, *b, *b, *b, *b]`` of a 3,000-key ``b`` (a 107 KB document)
        took 9 s of CPU and 180 MB to refuse. Each mapping's entries are counted as it is flattened
        (merged ones included), and the load stops once they pass the limit."""
        outer = self._flattening is None  # merged mappings are flattened first: the error names the merging one
        if outer:
            self._flattening = node
        try:
            super().flatten_mapping(node)
            self._merged += len(node.value)
            if self._merged > MAX_DOCUMENT_NODES:
                raise _TooLarge(problem=f"the document's mappings, with what their merge keys (<<) copy into them, "
                                        f"have more than {MAX_DOCUMENT_NODES:,} entries",
                                problem_mark=self._flattening.start_mark)
        finally:
            if outer:
                self._flattening = None

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_DOCUMENT_DEPTH:
            raise _TooDeep(problem=f"the document nests deeper than {MAX_DOCUMENT_DEPTH} levels of "
                                   "mappings and lists",
                           problem_mark=self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def load_machine(source: str | os.PathLike[str], *, guards: Mapping[str, Callable[..., Any]] | None = None,
                 actions: Mapping[str, Callable[..., Any]] | None = None,
                 services: Mapping[str, Any] | None = None, delays: Mapping[str, Any] | None = None,
                 defer_services: bool = False, format: str | None = None,
                 base_dir: str | os.PathLike[str] | None = None,
                 code_limit: int | None = MAX_GENERATED_CODE) -> Chart:
    """Load a machine from a path or from text; ``format`` ("yaml", "json", "scxml") overrides detection.

    Raises :class:`DefinitionError` with every problem (a YAML/JSON syntax error has its line and column).
    Nothing is loaded as SCXML unless ``format="scxml"`` (a ``.scxml`` path or a text starting with ``<``
    without it is a :class:`DefinitionError`); ``base_dir`` is the trusted folder SCXML reads
    ``<data src>``/``<script src>`` from (without it, it reads no file). ``code_limit``: the characters
    of Python a YAML/JSON document's distinct expressions may compile to (docs/limits.md); None for a
    trusted document larger than that.
    """
    text, label, kind = _read(source, format)
    if kind == "scxml":
        if guards or actions or delays:
            raise TypeError("guards, actions and delays apply to YAML/JSON machines; SCXML expresses its "
                            "logic in its Python datamodel")
        from interlock.frontends.scxml import load_scxml

        chart = load_scxml(Path(source) if _is_path(source) else text, base_dir=base_dir)
        chart.services.update({k: v for k, v in (services or {}).items() if callable(v)})
        return chart
    doc = parse_document(text, kind, label)
    return load_document(doc, guards=guards, actions=actions, services=services, delays=delays,
                         defer_services=defer_services, source=label, code_limit=code_limit)


def parse_document(text: str, kind: str = "yaml", label: str = "") -> Any:
    """Parse YAML or JSON text into plain data, turning syntax errors into a :class:`DefinitionError`.

    The text, its nesting and the values it expands to are bounded (docs/limits.md, "Documents")."""
    check_text(text, label)
    try:
        doc = json.loads(text) if kind == "json" else yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except RecursionError:  # the JSON parser nests in C, up to the interpreter's recursion limit
        raise DefinitionError([Problem(_json_too_deep(text), f"the document nests deeper than "
                                                             f"{MAX_DOCUMENT_DEPTH} levels of mappings and lists",
                                       "flatten the data, or split the machine")], label) from None
    except json.JSONDecodeError as exc:
        raise DefinitionError([Problem(f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}",
                                       "fix the JSON syntax")], label) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        message = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, _TooDeep):
            raise DefinitionError([Problem(where, str(message), "flatten the data, or split the machine")],
                                  label) from None
        if isinstance(exc, _TooLarge):
            raise DefinitionError([Problem(where, str(message), "split the machine, or use fewer YAML merge keys")],
                                  label) from None
        raise DefinitionError([Problem(where, f"invalid YAML: {message}", "fix the YAML syntax")], label) from None
    except (ValueError, OverflowError) as exc:  # a value that parses but cannot be built: 2001-13-45, 10**5000
        reason = ("a number has more than 4,300 digits" if "integer string conversion" in str(exc)
                  else str(exc))
        raise DefinitionError([Problem("", f"invalid {kind.upper()} value: {reason}",
                                       "quote it to keep it as text")], label) from None
    check_tree(doc, label)
    return doc


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_too_deep(text: str) -> str:
    """``line L, column C`` where JSON text first nests deeper than the limit (one pass over its tokens)."""
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DOCUMENT_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                return f"line {line}, column {column}"
        elif token in "]}":
            depth -= 1
    return ""


def _read(source: str | os.PathLike[str], format: str | None) -> tuple[str, str, str]:
    """``(text, label, kind)`` for a path or a text."""
    if format is not None and format not in ("yaml", "json", "scxml"):
        raise ValueError(f"format must be 'yaml', 'json' or 'scxml', not {format!r}")
    if _is_path(source):
        path = Path(source)
        if format is None and SUFFIXES.get(path.suffix.lower()) == "scxml":
            raise _scxml_not_asked(str(path))  # refused before it is read
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DefinitionError([Problem(str(path), f"cannot read the machine: {exc.strerror}",
                                           "pass the path of an existing file, or the document's text")]) from None
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem(str(path), f"the file is not UTF-8 text (byte {exc.start})",
                                           "save the machine as UTF-8")]) from None
        return text, str(path), format or SUFFIXES.get(path.suffix.lower()) or _sniff(text, str(path))
    text = str(source)
    kind = format or _sniff(text, "<text>")
    return text, f"<{kind}>", kind


def _is_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    return "\n" not in source and Path(source).suffix.lower() in SUFFIXES


def _scxml_not_asked(label: str) -> DefinitionError:
    return DefinitionError([Problem("", "this is SCXML, which is loaded only when asked for: SCXML runs the "
                                        "Python it contains",
                                    "if you trust it, pass format='scxml' (or call load_scxml); machines "
                                    "from untrusted sources are YAML or JSON")], label)


def _sniff(text: str, label: str) -> str:
    """JSON or YAML by the first character; never SCXML, which only the caller may choose to trust."""
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("<"):
        raise _scxml_not_asked(label)
    if head.startswith(("{", "[")):
        return "json"
    return "yaml"
