"""SCXML from people the operator does not trust (an HTTP upload): only what runs no code.

Interlock runs SCXML expressions as Python (frontends/python_datamodel.py), so an uploaded document must
declare ``datamodel="null"`` and hold no expression at all: no ``<script>``, no data model, no ``expr``,
``location``, ``namelist`` or ``*expr`` attribute, no ``<foreach>``, and conditions only of the null data
model's one predicate, ``In('state')`` (joined with ``and``, ``or``, ``not``). A child machine is invoked
by name (``src="machine:NAME"``) and never from inline content; a ``<send>`` goes to SCXML targets only.
A document type declaration (entities) is refused before parsing. Every problem found is reported.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from interlock.errors import Problem

# attributes whose value the SCXML front end compiles as an expression (or reads as a file)
CODE_ATTRIBUTES = frozenset({"expr", "location", "namelist", "array", "item", "index", "idlocation",
                             "eventexpr", "targetexpr", "typeexpr", "srcexpr", "delayexpr", "sendidexpr"})
CODE_ELEMENTS = {"script": "a <script> runs Python", "datamodel": "the null data model has no data",
                 "data": "the null data model has no data", "assign": "the null data model has no data",
                 "foreach": "<foreach> evaluates expressions"}
SCXML_SEND_TYPES = frozenset({"scxml", "http://www.w3.org/TR/scxml/#SCXMLEventProcessor"})
_IN = r"\s*(?:not\s+)?In\(\s*(?:'[^'\\]*'|\"[^\"\\]*\")\s*\)\s*"
NULL_CONDITION = re.compile(rf"{_IN}(?:(?:and|or){_IN})*")
HINT = ('uploaded SCXML runs no code: declare datamodel="null" and use only In(\'state\') conditions; '
        "a machine with logic can be uploaded as YAML/JSON (its expressions are sandboxed) or served from "
        "the server's trusted --app module")


def untrusted_problems(text: str) -> list[Problem]:
    """Every reason ``text`` may not be compiled for an untrusted caller (empty: it may)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return [Problem("scxml", "a document type declaration (DOCTYPE, ENTITY) is not accepted",
                        "remove it: SCXML needs none")]
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return [Problem(f"line {exc.position[0]}, column {exc.position[1] + 1}", f"invalid XML: {exc}",
                        "fix the XML syntax")]
    problems: list[Problem] = []
    datamodel = root.get("datamodel")
    if datamodel != "null":
        shown = f'datamodel="{datamodel}"' if datamodel is not None else "no datamodel (Python by default)"
        problems.append(Problem("scxml@datamodel", f"the document declares {shown}: its expressions would "
                                "run as Python on the server", HINT))
    _walk(root, "scxml", problems)
    return problems


def _walk(elem: ET.Element, path: str, problems: list[Problem]) -> None:
    counts: dict[str, int] = {}
    for child in elem:
        name = child.tag.rpartition("}")[2]
        counts[name] = counts.get(name, 0) + 1
        where = f"{path}.{name}[{counts[name] - 1}]"
        if child.get("id"):
            where = f"{path}.{name}#{child.get('id')}"
        _check(child, name, where, path, problems)
        if name != "content" or elem.tag.rpartition("}")[2] != "send":  # a send's content is literal data
            _walk(child, where, problems)


def _check(elem: ET.Element, name: str, where: str, parent: str, problems: list[Problem]) -> None:
    if name in CODE_ELEMENTS:
        problems.append(Problem(where, f"<{name}> is not accepted in an upload: {CODE_ELEMENTS[name]}", HINT))
    for attribute in sorted(CODE_ATTRIBUTES & set(elem.attrib)):
        problems.append(Problem(f"{where}@{attribute}", f"the {attribute!r} attribute is an expression", HINT))
    cond = elem.get("cond")
    if cond is not None and not NULL_CONDITION.fullmatch(cond):
        problems.append(Problem(f"{where}@cond", f"condition {cond[:80]!r} is not In('state') (with and, or, "
                                "not)", HINT))
    if name == "content" and parent.rpartition(".")[2].startswith("invoke"):
        problems.append(Problem(where, "an invoke's inline content is compiled as trusted SCXML",
                                'upload the child machine too and invoke it as src="machine:NAME"'))
    if name == "invoke" and elem.get("src") is not None and not elem.get("src", "").startswith("machine:"):
        problems.append(Problem(f"{where}@src", f"src {elem.get('src')!r} does not name a machine",
                                'invoke an uploaded or served machine as src="machine:NAME"'))
    if name == "send" and elem.get("type") is not None and elem.get("type") not in SCXML_SEND_TYPES:
        problems.append(Problem(f"{where}@type", f"send type {elem.get('type')!r} is not accepted in an "
                                "upload", "send to SCXML targets (no type attribute)"))
