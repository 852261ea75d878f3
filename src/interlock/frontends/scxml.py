"""SCXML documents (W3C SCXML 1.0) with the Python datamodel, compiled to a :class:`Chart`.

>>> chart = load_scxml('<scxml initial="a"><state id="a"/></scxml>')
>>> chart.root.children[0].id
'a'

Every expression, location and script is compiled once here; every problem is reported together, each
with its path in the document (``scxml/state[@id='s1']/transition[2]@cond``), as a
:class:`~interlock.errors.DefinitionError`. Expressions are trusted Python: see
:mod:`interlock.frontends.python_datamodel`.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Literal, cast

from interlock.core.chart import Chart, build_chart
from interlock.core.content import Script
from interlock.core.datamodel import Expr, Scope
from interlock.core.spec import ChartSpec, DataSpec, InvokeSpec, StateSpec, TransitionSpec
from interlock.errors import DefinitionError, Problem
from interlock.frontends.scxml_content import (
    SCXML_NS,
    ContentCompiler,
    constant,
    local_name,
    parse_literal,
)

__all__ = ["SCXML_NS", "load_scxml", "parse_scxml"]

_STATE_TAGS = ("state", "parallel", "final", "history")
_ALLOWED = {
    "scxml": {"state", "parallel", "final", "datamodel", "script"},
    "state": {"onentry", "onexit", "transition", "initial", "state", "parallel", "final", "history",
              "datamodel", "invoke"},
    "parallel": {"onentry", "onexit", "transition", "state", "parallel", "history", "datamodel", "invoke"},
    "final": {"onentry", "onexit", "donedata"},
    "history": {"transition"},
}


def load_scxml(source: str | os.PathLike[str], *, base_dir: str | os.PathLike[str] | None = None,
               strict: bool = True) -> Chart:
    """Load an SCXML document (its text, or a path to it) and compile it.

    ``base_dir`` is the trusted folder ``<data src>`` and ``<script src>`` are read from (they must stay
    inside it); without it the document reads no file, and such a reference is a problem. With ``strict=False`` a Python syntax error in an expression is not a load error but
    raises ``error.execution`` when evaluated, as the W3C conformance tests expect; likewise a transition
    to a state the document does not declare raises ``error.execution`` when it is taken.
    """
    spec = parse_scxml(source, base_dir=base_dir, strict=strict)
    if not strict:
        spec.lenient = True
        _defer_unknown_targets(spec)
    return build_chart(spec)


def _defer_unknown_targets(spec: ChartSpec) -> None:
    """Turn transitions to undeclared states into targetless ones that fail when taken (lenient mode)."""
    states: list[StateSpec] = []
    work = [spec.root]
    while work:
        node = work.pop()
        states.append(node)
        work.extend(node.children)
    known = {s.id for s in states}
    for state in states:
        for t in state.transitions:
            missing = [target for target in t.targets if target not in known]
            if missing and state.kind != "history":
                t.actions = (Script(_failing(f"transition target(s) {missing} are not declared")), *t.actions)
                t.targets = []


def _failing(message: str) -> Expr:
    def fail(scope: Scope) -> None:
        raise LookupError(message)

    return Expr(f"<{message}>", fail)


def parse_scxml(source: str | os.PathLike[str], *, base_dir: str | os.PathLike[str] | None = None,
                strict: bool = True) -> ChartSpec:
    """Parse an SCXML document into a :class:`ChartSpec` (without building it)."""
    text, path = _read(source)
    folder = Path(base_dir) if base_dir is not None else None  # files are read only from a trusted folder
    label = str(path) if path else "<scxml>"
    try:
        root = ET.fromstring(text.lstrip("\ufeff \t\r\n"))
    except ET.ParseError as error:
        line, column = error.position
        raise DefinitionError([Problem(f"line {line}, column {column}", f"not well-formed XML: {error}",
                                       "fix the XML syntax")], label) from None
    parser = _DocumentParser(base_dir=folder, strict=strict)
    spec = parser.document(root, label, path.stem if path else "")
    if parser.problems:
        raise DefinitionError(parser.problems, label)
    return spec


def _read(source: str | os.PathLike[str]) -> tuple[str, Path | None]:
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n").startswith("<"):
        return source, None
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), path.resolve()
    except OSError as error:
        raise DefinitionError([Problem(str(path), f"cannot read the SCXML document: {error.strerror}",
                                       "pass SCXML text or the path of an existing file")]) from None


class _DocumentParser(ContentCompiler):
    """Walks the document tree, building state specs; executable content comes from the base class."""

    def document(self, root: ET.Element, label: str, stem: str) -> ChartSpec:
        if local_name(root) != "scxml":
            self.problem(root.tag, f"the root element must be <scxml>, not <{root.tag}>")
        datamodel = root.get("datamodel", "python")
        # the null datamodel's only expression is In(), which the Python datamodel evaluates the same way
        if datamodel not in ("python", "null"):
            self.problem("scxml@datamodel", f"datamodel {datamodel!r} is not supported",
                         'Interlock runs SCXML with datamodel="python"')
        binding = root.get("binding", "early")
        if binding not in ("early", "late"):
            self.problem("scxml@binding", f"binding must be 'early' or 'late', not {binding!r}")
            binding = "early"
        name = root.get("name") or ""
        ids = {e.get("id") for e in root.iter() if local_name(e) in _STATE_TAGS}
        top = StateSpec(id=_unique_root_id(name or "scxml", ids), path="scxml")
        self._check_children(root, "scxml", "scxml")
        self._fill_state(top, root, "scxml", "state")
        scripts = [a for _, child in self.children(root, "scxml", "script")
                   for a in self._actions([(1, child)], "scxml")]
        return ChartSpec(root=top, name=name or stem, binding=cast(Literal["early", "late"], binding),
                         script=tuple(scripts), datamodel="python", deep_copy_context=True,
                         source=label)

    def _check_children(self, elem: ET.Element, kind: str, path: str) -> None:
        for index, child in self.children(elem, path):
            name = local_name(child)
            if name not in _ALLOWED[kind]:
                self.problem(f"{path}/{name}[{index}]", f"<{name}> is not allowed inside <{kind}>",
                             "allowed: " + ", ".join(sorted(_ALLOWED[kind])))

    def _state(self, elem: ET.Element, kind: str, path: str) -> StateSpec:
        state_id = elem.get("id") or ""
        if not state_id:
            # SCXML lets ids be omitted; the engine needs one, so derive it from the document path
            state_id = path
        spec = StateSpec(id=state_id, kind=cast(Literal["state", "parallel", "final", "history"], kind),
                         path=path)
        self._check_children(elem, kind, path)
        if kind == "history":
            history = elem.get("type", "shallow")
            spec.history = cast(Literal["shallow", "deep"], history)
            spec.transitions = [self._transition(c, f"{path}/transition[{i}]")
                                for i, c in self.children(elem, path, "transition")]
            return spec
        self._fill_state(spec, elem, path, kind)
        return spec

    def _fill_state(self, spec: StateSpec, elem: ET.Element, path: str, kind: str) -> None:
        for index, child in self.children(elem, path):
            name = local_name(child)
            cpath = f"{path}/{name}" + (f"[@id='{child.get('id')}']" if child.get("id") else f"[{index}]")
            if name in _STATE_TAGS:
                spec.children.append(self._state(child, name, cpath))
            elif name == "transition":
                spec.transitions.append(self._transition(child, cpath))
            elif name == "onentry":
                spec.onentry.append(self.actions(child, cpath))
            elif name == "onexit":
                spec.onexit.append(self.actions(child, cpath))
            elif name == "datamodel":
                spec.data.extend(self._data(child, cpath))
            elif name == "invoke":
                spec.invokes.append(self._invoke(child, cpath))
            elif name == "donedata":
                spec.donedata = self._donedata(child, cpath)
            elif name == "initial":
                self._initial_element(spec, child, cpath, elem)
        if elem.get("initial") is not None:
            if kind == "parallel" or kind == "final":
                self.problem(f"{path}@initial", f"a <{kind}> cannot have an initial attribute")
            spec.initial = elem.get("initial", "").split()

    def _initial_element(self, spec: StateSpec, child: ET.Element, path: str, parent: ET.Element) -> None:
        if parent.get("initial") is not None:
            self.problem(path, "use either the initial attribute or an <initial> element, not both")
        transitions = self.children(child, path, "transition")
        if len(transitions) != 1:
            self.problem(path, "<initial> must contain exactly one <transition>")
            return
        index, transition = transitions[0]
        tpath = f"{path}/transition[{index}]"
        if transition.get("event") or transition.get("cond"):
            self.problem(tpath, "the <initial> transition cannot have an event or cond")
        spec.initial = (transition.get("target") or "").split()
        if not spec.initial:
            self.problem(tpath, "the <initial> transition needs a target")
        spec.initial_actions = self.actions(transition, tpath)

    def _transition(self, elem: ET.Element, path: str) -> TransitionSpec:
        kind = elem.get("type", "external")
        if kind not in ("external", "internal"):
            self.problem(f"{path}@type", f"transition type must be 'external' or 'internal', not {kind!r}")
            kind = "external"
        return TransitionSpec(
            events=(elem.get("event") or "").split(),
            targets=(elem.get("target") or "").split(),
            cond=self.attr_expr(elem, "cond", path),
            type=cast(Literal["external", "internal"], kind),
            actions=self.actions(elem, path),
            path=path,
        )

    def _data(self, elem: ET.Element, path: str) -> list[DataSpec]:
        out = []
        for index, child in self.children(elem, path, "data"):
            data_id = child.get("id")
            dpath = f"{path}/data" + (f"[@id='{data_id}']" if data_id else f"[{index}]")
            if not data_id:
                self.problem(dpath, "<data> needs an id")
                continue
            out.append(DataSpec(id=data_id, expr=self._data_value(child, dpath), path=dpath))
        return out

    def _data_value(self, elem: ET.Element, path: str) -> Expr | None:
        src = elem.get("src")
        if src is None:
            return self.content_value(elem, path)
        if elem.get("expr") is not None or len(elem) or (elem.text or "").strip():
            self.problem(path, "use only one of src, expr or inline content")
        text = self.read_file(src, f"{path}@src", report=self.strict)
        if text is None and not self.strict:
            # SCXML 5.3: a value that cannot be fetched is error.execution when the data is bound
            try:
                missing = f"cannot read {src!r} ({self.file_path(src)})"
            except PermissionError as error:
                missing = f"cannot read {src!r}: {error.strerror}"

            def unreadable(_scope: object) -> object:
                raise FileNotFoundError(missing)

            return Expr(src, unreadable)
        return None if text is None else constant(src, parse_literal(text, xml=True))

    def _donedata(self, elem: ET.Element, path: str) -> Expr | None:
        contents = self.children(elem, path, "content")
        params = self.params(elem, path)
        if contents and params:
            self.problem(path, "<donedata> takes either <content> or <param>, not both")
        if contents:
            index, child = contents[0]
            return self.content_value(child, f"{path}/content[{index}]") or constant("", None)
        if not params:
            return None

        def evaluate(scope: object) -> dict[str, object]:
            out = {}
            for param in params:
                expr = param.expr or param.location
                out[param.name] = expr(scope) if expr is not None else None  # type: ignore[arg-type]
            return out

        return Expr("<donedata params>", evaluate)

    def _invoke(self, elem: ET.Element, path: str) -> InvokeSpec:
        for pair in (("type", "typeexpr"), ("src", "srcexpr"), ("id", "idlocation")):
            self.exclusive(elem, path, *pair)
        contents = self.children(elem, path, "content")
        content: object = None
        if contents:
            index, child = contents[0]
            content = self._invoke_content(child, f"{path}/content[{index}]")
            if elem.get("src") is not None or elem.get("srcexpr") is not None:
                self.problem(path, "<invoke> takes either src/srcexpr or <content>, not both")
        if elem.get("namelist") and self.children(elem, path, "param"):
            self.problem(path, "<invoke> takes either namelist or <param>, not both")
        autoforward = elem.get("autoforward", "false")
        if autoforward not in ("true", "false"):
            self.problem(f"{path}@autoforward", f"autoforward must be 'true' or 'false', not {autoforward!r}")
        idlocation = elem.get("idlocation")
        finalize = self.children(elem, path, "finalize")
        return InvokeSpec(
            type=elem.get("type", "scxml"),
            typeexpr=self.attr_expr(elem, "typeexpr", path),
            src=elem.get("src"),
            srcexpr=self.attr_expr(elem, "srcexpr", path),
            id=elem.get("id"),
            idlocation=None if idlocation is None else self.location(idlocation, f"{path}@idlocation"),
            namelist=self.namelist(elem, path),
            params=self.params(elem, path),
            content=content,
            autoforward=autoforward == "true",
            finalize=self.actions(finalize[0][1], f"{path}/finalize[1]") if finalize else (),
            path=path,
        )

    def _invoke_content(self, elem: ET.Element, path: str) -> object:
        """An inline child document becomes its XML text; ``expr`` stays an expression."""
        if elem.get("expr") is not None:
            return self.attr_expr(elem, "expr", path)
        children = [c for c in elem if isinstance(c.tag, str)]
        if len(children) == 1:
            return ET.tostring(children[0], encoding="unicode")
        if children:
            self.problem(path, "inline <content> of an <invoke> must hold one document")
        return (elem.text or "").strip() or None


def _unique_root_id(base: str, ids: set[str | None]) -> str:
    candidate = base
    while candidate in ids:
        candidate = f"{candidate}_root"
    return candidate
