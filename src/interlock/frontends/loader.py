"""Load a machine from a file or text: YAML, JSON or SCXML, by extension or by content.

    >>> chart = load_machine("machines/order.yaml", actions={"notify": notify})  # doctest: +SKIP

YAML is read with YAML 1.2 booleans (only ``true``/``false``), so XState's ``on:`` key, and states or
events called ``yes``, ``no`` or ``off``, stay strings. Documents that expand (through YAML aliases) to
more than :data:`MAX_DOCUMENT_NODES` values are refused.
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

__all__ = ["load_machine", "parse_document"]

MAX_DOCUMENT_NODES = 200_000
SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".scxml": "scxml", ".xml": "scxml"}


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: ``on``/``off``/``yes``/``no`` are plain strings."""


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
                 base_dir: str | os.PathLike[str] | None = None) -> Chart:
    """Load a machine from a path or from text; ``format`` ("yaml", "json", "scxml") overrides detection.

    Raises :class:`DefinitionError` with every problem (a YAML/JSON syntax error has its line and column).
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
                         defer_services=defer_services, source=label)


def parse_document(text: str, kind: str = "yaml", label: str = "") -> Any:
    """Parse YAML or JSON text into plain data, turning syntax errors into a :class:`DefinitionError`."""
    try:
        doc = json.loads(text) if kind == "json" else yaml.load(text, Loader=_YamlLoader)  # a SafeLoader subclass
    except json.JSONDecodeError as exc:
        raise DefinitionError([Problem(f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}",
                                       "fix the JSON syntax")], label) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        message = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError([Problem(where, f"invalid YAML: {message}", "fix the YAML syntax")], label) from None
    if _size(doc, {}, MAX_DOCUMENT_NODES) > MAX_DOCUMENT_NODES:
        raise DefinitionError([Problem("", f"the document expands to more than {MAX_DOCUMENT_NODES:,} values",
                                       "split the machine, or use fewer YAML aliases")], label)
    return doc


def _read(source: str | os.PathLike[str], format: str | None) -> tuple[str, str, str]:
    """``(text, label, kind)`` for a path or a text."""
    if format is not None and format not in ("yaml", "json", "scxml"):
        raise ValueError(f"format must be 'yaml', 'json' or 'scxml', not {format!r}")
    if _is_path(source):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DefinitionError([Problem(str(path), f"cannot read the machine: {exc.strerror}",
                                           "pass the path of an existing file, or the document's text")]) from None
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem(str(path), f"the file is not UTF-8 text (byte {exc.start})",
                                           "save the machine as UTF-8")]) from None
        return text, str(path), format or SUFFIXES.get(path.suffix.lower()) or _sniff(text)
    text = str(source)
    kind = format or _sniff(text)
    return text, f"<{kind}>", kind


def _is_path(source: str | os.PathLike[str]) -> bool:
    if isinstance(source, os.PathLike):
        return True
    return "\n" not in source and Path(source).suffix.lower() in SUFFIXES


def _sniff(text: str) -> str:
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("<"):
        return "scxml"
    if head.startswith(("{", "[")):
        return "json"
    return "yaml"


def _size(value: Any, memo: dict[int, int], limit: int) -> int:
    """How many values ``value`` holds once aliases are expanded (stops counting past ``limit``)."""
    if not isinstance(value, (dict, list)):
        return 1
    known = memo.get(id(value))
    if known is not None:
        return known
    total = 1
    for item in value.values() if isinstance(value, dict) else value:
        total += _size(item, memo, limit)
        if total > limit:
            break
    memo[id(value)] = total
    return total
