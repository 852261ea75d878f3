"""Finding the chart an ``<invoke>`` starts: a registered chart, inline SCXML text, or (only inside a
folder the caller trusts) an SCXML file.

A ``src`` names a registered machine. Reading it as a file instead is allowed only when the caller gave a
``trusted_base`` folder, and only for SCXML charts (which are trusted Python anyway): a YAML/JSON document
never makes the runtime read a file or compile SCXML (docs/limits.md, "Documents").

Documents are compiled once and cached by their text and folder, so a chart invoked again and again
(a child started in a loop) costs one parse.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from interlock.core.chart import Chart
from interlock.errors import DefinitionError, NotFoundError
from interlock.frontends.scxml import load_scxml
from interlock.frontends.scxml_content import trusted_path

SCXML_TYPES = frozenset({
    "scxml",
    "http://www.w3.org/TR/scxml/",
    "http://www.w3.org/TR/scxml",
    "http://www.w3.org/TR/scxml/#SCXMLEventProcessor",
})


def is_scxml_type(kind: str | None) -> bool:
    """True for the invoke types that name an SCXML machine (SCXML 6.4.1)."""
    return kind is None or kind in SCXML_TYPES


class MachineLoader:
    """Resolves ``src``/``content`` of a machine invoke to a compiled chart and its base folder."""

    def __init__(self, *, strict: bool = True, trusted_base: Path | None = None) -> None:
        self.strict = strict
        self.trusted_base = trusted_base
        self.registered: dict[str, Chart] = {}
        self._cache: dict[tuple[str, str], Chart] = {}

    def register(self, name: str, chart: Chart) -> None:
        """Let ``<invoke src="name">`` start ``chart``."""
        self.registered[name] = chart

    def load(self, src: str | None, content: Any, base_dir: Path | None, *,
             files: bool = True) -> tuple[Chart, Path | None]:
        """The chart to invoke; raises :class:`NotFoundError` or a DefinitionError with the reason.

        ``base_dir`` is the invoking chart's folder (inside the trusted base), ``files`` whether the
        invoking chart may name files at all (SCXML may; a YAML/JSON document may not)."""
        if content is not None:
            return self._from_content(content, base_dir), base_dir
        if not src:
            raise NotFoundError("the invoke has neither src nor content; give one of them")
        if src in self.registered:
            return self.registered[src], base_dir
        named = src.startswith("machine:")  # names a registered machine, as in the durable runtime
        if named and src[len("machine:"):] in self.registered:
            return self.registered[src[len("machine:"):]], base_dir
        known = ", ".join(sorted(self.registered)[:10]) or "none"
        if named or not files or self.trusted_base is None:
            raise NotFoundError(f"no machine is registered as {src!r} (registered: {known}); register the "
                                "machine it names (register_chart(name, chart)); a machine's src never "
                                "names a file unless an SCXML chart runs with a trusted folder")
        try:
            path = trusted_path(src, base_dir or self.trusted_base)
            if not path.is_relative_to(self.trusted_base.resolve()):
                raise PermissionError(1, f"{src!r} is outside the trusted folder {self.trusted_base}")
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise NotFoundError(f"cannot read the invoked document {src!r}: {error.strerror}; src is "
                                "relative to the invoking document's folder, inside the trusted folder") from None
        return self._compile(text, path.parent, path), path.parent

    def _from_content(self, content: Any, base_dir: Path | None) -> Chart:
        if isinstance(content, Chart):
            return content
        if isinstance(content, ET.Element):
            content = ET.tostring(content, encoding="unicode")
        if not isinstance(content, str):
            raise TypeError(f"invoke content must be SCXML text or a chart, not {type(content).__name__}")
        return self._compile(content, base_dir, None)

    def _compile(self, text: str, base_dir: Path | None, path: Path | None) -> Chart:
        key = (str(path or base_dir or ""), text)
        chart = self._cache.get(key)
        if chart is None:
            # a file is loaded by path so its problems and snapshots name it
            source = path if path is not None else text
            chart = self._cache[key] = load_scxml(source, base_dir=base_dir, strict=self.strict)
        return chart


def inline_name(machine: str, content: str) -> str:
    """The machine name an inline ``<invoke><content>`` child runs under: its parent's name and a digest.

    Derived from the text alone (in XML canonical form, whitespace between elements dropped), so every
    process that registers the parent finds the same child again, also after the text was re-indented.
    """
    try:
        text = ET.canonicalize(content, strip_text=True)
    except ET.ParseError:  # not XML on its own: the text as written
        text = content
    return f"{machine}#inline-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def inline_children(machine: str, chart: Chart, *, strict: bool = True) -> Iterator[tuple[str, Chart]]:
    """Every inline SCXML child a chart can invoke (and theirs), as ``(machine name, chart)``."""
    loader = MachineLoader(strict=strict)
    for state in chart.walk():
        for spec in state.invokes:
            if not isinstance(spec.content, str) or (spec.typeexpr is None and not is_scxml_type(spec.type)):
                continue
            try:
                child = loader.load(None, spec.content, None)[0]  # no trusted folder: it reads no file
            except DefinitionError:
                if spec.typeexpr is None:
                    raise
                continue  # its type is known only at run time, and this content is no SCXML document
            name = inline_name(machine, spec.content)
            yield name, child
            yield from inline_children(name, child, strict=strict)


def shape_of(chart: Chart) -> str:
    """A digest of what stored instances depend on: the states (id, kind, parent, order) and the
    transitions (source, events, targets, type). Instances keep state ids in their snapshots, so a chart
    whose shape changed under the same version would strand them; guards, actions and expressions are
    not part of it (code cannot be compared), so changing those still needs a new version by discipline."""
    states = [(s.id, s.kind, s.parent.id if s.parent is not None else None) for s in chart.walk()]
    transitions = [(t.source.id, list(t.events), [x.id for x in t.targets], t.type) for t in chart.transitions]
    # inline children are machines named after their content: a changed one is a changed parent
    children = [inline_name(chart.name, spec.content) for s in chart.walk() for spec in s.invokes
                if isinstance(spec.content, str) and is_scxml_type(spec.type)]
    text = json.dumps([chart.name, states, transitions, children], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
