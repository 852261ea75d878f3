"""Compiling a machine definition uploaded by an untrusted caller: YAML or JSON (whose expressions are
sandboxed), or SCXML that runs no code (frontends/scxml_untrusted.py). The URL names the machine and its
version; a document that names others is refused, so what is stored is what is served."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from interlock.core.chart import Chart
from interlock.errors import DefinitionError, Problem
from interlock.frontends.document import load_document
from interlock.frontends.document_limits import MAX_GENERATED_CODE
from interlock.frontends.loader import parse_document
from interlock.frontends.scxml import load_scxml
from interlock.frontends.scxml_untrusted import untrusted_problems

MEDIA_TYPES = {
    "application/yaml": "yaml", "application/x-yaml": "yaml", "text/yaml": "yaml", "text/x-yaml": "yaml",
    "application/json": "json",
    "application/scxml+xml": "scxml", "application/xml": "scxml", "text/xml": "scxml",
}


def compile_upload(name: str, version: str, format: str, text: str, *, stored: bool = False) -> Chart:
    """The chart of an uploaded document, marked ``uploaded`` (its instances are callers to other machines'
    rules: runtime/callers.py); :class:`DefinitionError` lists every problem. ``stored``: a version the
    store kept, accepted once: it loads without the code budget (``MAX_GENERATED_CODE``), which a version
    uploaded before the budget existed may exceed (its instances must still run)."""
    chart = _compile(name, version, format, text, stored)
    chart.uploaded = True
    return chart


def _compile(name: str, version: str, format: str, text: str, stored: bool) -> Chart:
    label = f"{name}@{version}"
    if format == "scxml":
        return _scxml(name, version, text, label)
    doc = parse_document(text, format, label)
    if not isinstance(doc, dict):
        raise DefinitionError([Problem("", f"a machine document is a mapping, not {type(doc).__name__}",
                                       "start the document with keys such as id, initial, states")], label)
    problems = _names(doc, name, version)
    if problems:
        raise DefinitionError(problems, label)
    return load_document({"id": name, **doc, "name": name, "version": version}, defer_services=True,
                         source=label, code_limit=None if stored else MAX_GENERATED_CODE)


def _names(doc: dict[str, Any], name: str, version: str) -> list[Problem]:
    problems = []
    if doc.get("name") not in (None, name):
        problems.append(Problem("name", f"the document names machine {doc['name']!r}, the URL {name!r}",
                                "upload it under its own name, or drop 'name' from the document"))
    if "version" in doc and str(doc["version"]) != version:
        problems.append(Problem("version", f"the document is version {doc['version']!r}, the URL {version!r}",
                                "upload it under its own version, or drop 'version' from the document"))
    return problems


def _scxml(name: str, version: str, text: str, label: str) -> Chart:
    problems = untrusted_problems(text)
    if problems:
        raise DefinitionError(problems, label)
    named = ET.fromstring(text).get("name")  # parses: untrusted_problems found no syntax error
    if named not in (None, name):
        raise DefinitionError([Problem("scxml@name", f"the document names machine {named!r}, the URL "
                                       f"{name!r}", "upload it under its own name, or drop the name")], label)
    chart = load_scxml(text)  # no base_dir: it reads no file
    chart.name, chart.version = name, version
    return chart
