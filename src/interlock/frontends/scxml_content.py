"""SCXML executable content (SCXML 4) and value content (5.3, 5.6) parsed into core actions.

:class:`ContentCompiler` holds what parsing a whole document shares: the problems found so far, where
relative files are, and whether syntax errors are reported at load time (``strict``) or deferred to run
time as ``error.execution``. :mod:`interlock.frontends.scxml` builds on it for the document structure.
"""

from __future__ import annotations

import ast
import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from interlock.core.content import (
    Action,
    Actions,
    Assign,
    Cancel,
    Foreach,
    If,
    Log,
    Param,
    Raise,
    Script,
    Send,
)
from interlock.core.datamodel import Expr, Location
from interlock.core.execute import parse_delay
from interlock.errors import Problem
from interlock.frontends.python_datamodel import (
    compile_expr,
    compile_location,
    compile_script,
    syntax_message,
)

SCXML_NS = "http://www.w3.org/2005/07/scxml"


def local_name(elem: ET.Element) -> str | None:
    """The tag without the SCXML namespace; None for elements of other namespaces (ignored)."""
    tag: object = elem.tag
    if not isinstance(tag, str):  # comments and processing instructions
        return None
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return name if ns == SCXML_NS else None
    return tag


def parse_literal(text: str, *, xml: bool = False) -> Any:
    """Inline content: JSON or a Python literal if it is one, else the text with whitespace normalized.

    With ``xml`` (file content), a well-formed XML document becomes an ElementTree element.
    """
    stripped = text.strip()
    if not stripped:
        return None
    if xml and stripped.startswith("<"):
        try:
            return ET.fromstring(stripped)
        except ET.ParseError:
            pass
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return " ".join(stripped.split())


def constant(source: str, value: Any) -> Expr:
    """An Expr giving a fresh copy of ``value`` each time, so no run can change the document's literal."""
    if isinstance(value, str | int | float | bool) or value is None:
        return Expr(source, lambda _scope: value)
    return Expr(source, lambda _scope: copy.deepcopy(value))


def _never(source: str) -> Any:
    def fail(*_: Any) -> Any:
        raise RuntimeError(f"{source!r} did not compile")

    return fail


def trusted_path(src: str, base_dir: Path | None) -> Path:
    """The file a ``file:`` (or plain) reference names, relative to ``base_dir``, which it must not leave.

    Raises ``PermissionError`` without a trusted folder, or for a path outside it (``..``, absolute paths
    or symbolic links elsewhere): a document names files only where its caller allowed.
    """
    if base_dir is None:
        raise PermissionError(1, "no trusted folder was given for file references")
    name = src[len("file:"):] if src.startswith("file:") else src
    base = Path(base_dir).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise PermissionError(1, f"{src!r} is outside the trusted folder {base}")
    return path


class ContentCompiler:
    """Compiles attributes and executable content, collecting every problem with its document path."""

    def __init__(self, *, base_dir: Path | None, strict: bool) -> None:
        self.base_dir = base_dir  # None: no trusted folder was given, so no file is ever read
        self.strict = strict
        self.problems: list[Problem] = []

    # -- problems, paths and compiled pieces ---------------------------------------------------------

    def problem(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint))

    def expr(self, source: str, path: str) -> Expr:
        try:
            return compile_expr(source, strict=self.strict)
        except SyntaxError as error:
            self.problem(path, f"{syntax_message(error)} in {source.strip()!r}",
                         "write a Python expression (load with strict=False to defer it to run time)")
            return Expr(source, _never(source))

    def location(self, source: str, path: str, *, declare: bool = False) -> Location:
        try:
            return compile_location(source, declare=declare, strict=self.strict)
        except SyntaxError as error:
            self.problem(path, str(error.msg), "name a declared variable, obj.attr or obj[key]")
            return Location(source, _never(source))

    def attr_expr(self, elem: ET.Element, name: str, path: str) -> Expr | None:
        source = elem.get(name)
        return None if source is None else self.expr(source, f"{path}@{name}")

    def exclusive(self, elem: ET.Element, path: str, *names: str) -> None:
        present = [n for n in names if elem.get(n) is not None]
        if len(present) > 1:
            self.problem(path, f"attributes {' and '.join(present)} cannot be used together", "keep one")

    def read_file(self, src: str, path: str, *, report: bool = True) -> str | None:
        """Read a ``file:`` (or plain) reference inside the trusted folder ``base_dir``."""
        try:
            return self.file_path(src).read_text(encoding="utf-8")
        except OSError as error:
            if report:
                where = (f"the path is relative to {self.base_dir} and must stay inside it" if self.base_dir
                         else "file references are read only from a trusted folder: load the document with "
                              "base_dir= set to the folder that holds them")
                self.problem(path, f"cannot read {src!r}: {error.strerror or error}", where)
            return None

    def file_path(self, src: str) -> Path:
        """The file ``src`` names; ``PermissionError`` unless it lies inside the trusted ``base_dir``."""
        return trusted_path(src, self.base_dir)

    # -- value content -------------------------------------------------------------------------------

    def content_value(self, elem: ET.Element, path: str) -> Expr | None:
        """``<content>``/``<data>``/``<assign>`` children: an expr attribute, XML, or literal text."""
        if elem.get("expr") is not None:
            if len(elem) or (elem.text or "").strip():
                self.problem(path, "use either the expr attribute or inline content, not both")
            return self.attr_expr(elem, "expr", path)
        children = [c for c in elem if isinstance(c.tag, str)]
        if children:
            # XML content is given to expressions as an ElementTree element (W3C test 561)
            value: Any = children[0] if len(children) == 1 else children
            return constant(f"<{path} xml>", value)
        text = elem.text or ""
        return constant(text.strip(), parse_literal(text)) if text.strip() else None

    def params(self, elem: ET.Element, path: str) -> tuple[Param, ...]:
        out = []
        for index, child in self.children(elem, path, "param"):
            ppath = f"{path}/param[{index}]"
            name = child.get("name")
            if not name:
                self.problem(ppath, "<param> needs a name")
                continue
            self.exclusive(child, ppath, "expr", "location")
            if child.get("expr") is None and child.get("location") is None:
                self.problem(ppath, f"<param name={name!r}> needs expr or location")
            out.append(Param(name, self.attr_expr(child, "expr", ppath),
                             self.attr_expr(child, "location", ppath)))
        return tuple(out)

    def namelist(self, elem: ET.Element, path: str) -> tuple[tuple[str, Expr], ...]:
        names = (elem.get("namelist") or "").split()
        return tuple((n, self.expr(n, f"{path}@namelist")) for n in names)

    def children(self, elem: ET.Element, path: str, *only: str) -> list[tuple[int, ET.Element]]:
        """SCXML children with their 1-based index among siblings of the same tag, for paths."""
        seen: dict[str, int] = {}
        out = []
        for child in elem:
            name = local_name(child)
            if name is None:
                continue
            seen[name] = seen.get(name, 0) + 1
            if not only or name in only:
                out.append((seen[name], child))
        return out

    # -- executable content --------------------------------------------------------------------------

    def actions(self, elem: ET.Element, path: str) -> Actions:
        """The executable content among ``elem``'s children, in document order."""
        return self._actions(self.children(elem, path), path)

    def _actions(self, children: list[tuple[int, ET.Element]], path: str) -> Actions:
        out: list[Action] = []
        for index, child in children:
            name = local_name(child)
            if name in (None, "elseif", "else", "param", "content", "finalize", "donedata"):
                continue  # structure of the parent element, handled by it
            cpath = f"{path}/{name}[{index}]"
            builder = getattr(self, f"_action_{name}", None)
            if builder is None:
                self.problem(cpath, f"<{name}> is not executable content",
                             "use raise, send, cancel, assign, log, if, foreach or script")
                continue
            action = builder(child, cpath)
            if action is not None:
                out.append(action)
        return tuple(out)

    def _action_raise(self, elem: ET.Element, path: str) -> Action | None:
        event = elem.get("event")
        if not event:
            self.problem(path, "<raise> needs an event name")
            return None
        return Raise(event)

    def _action_log(self, elem: ET.Element, path: str) -> Action:
        return Log(elem.get("label"), self.attr_expr(elem, "expr", path))

    def _action_cancel(self, elem: ET.Element, path: str) -> Action:
        self.exclusive(elem, path, "sendid", "sendidexpr")
        if elem.get("sendid") is None and elem.get("sendidexpr") is None:
            self.problem(path, "<cancel> needs sendid or sendidexpr")
        return Cancel(elem.get("sendid"), self.attr_expr(elem, "sendidexpr", path))

    def _action_assign(self, elem: ET.Element, path: str) -> Action | None:
        source = elem.get("location")
        if not source:
            self.problem(path, "<assign> needs a location")
            return None
        value = self.content_value(elem, path)
        return Assign(self.location(source, f"{path}@location"), value or constant("None", None))

    def _action_script(self, elem: ET.Element, path: str) -> Action | None:
        code = elem.text or ""
        src = elem.get("src")
        if src is not None:
            if code.strip():
                self.problem(path, "<script> has both src and inline code", "keep one")
            code = self.read_file(src, f"{path}@src") or ""
        try:
            return Script(compile_script(code, strict=self.strict))
        except SyntaxError as error:
            self.problem(path, f"{syntax_message(error)} (line {error.lineno} of the script)")
            return None

    def _action_foreach(self, elem: ET.Element, path: str) -> Action | None:
        array, item = elem.get("array"), elem.get("item")
        if not array or not item:
            self.problem(path, "<foreach> needs array and item")
            return None
        index = elem.get("index")
        return Foreach(
            array=self.expr(array, f"{path}@array"),
            item=self.location(item, f"{path}@item", declare=True),
            index=None if index is None else self.location(index, f"{path}@index", declare=True),
            actions=self.actions(elem, path),
        )

    def _action_if(self, elem: ET.Element, path: str) -> Action:
        cond = self.attr_expr(elem, "cond", path)
        if cond is None:
            self.problem(path, "<if> needs a cond")
        branches: list[tuple[Expr | None, Actions]] = []
        current: list[tuple[int, ET.Element]] = []
        for index, child in self.children(elem, path):
            name = local_name(child)
            if name not in ("elseif", "else"):
                current.append((index, child))
                continue
            branches.append((cond, self._actions(current, path)))
            current = []
            cpath = f"{path}/{name}[{index}]"
            cond = self.attr_expr(child, "cond", cpath) if name == "elseif" else None
            if name == "elseif" and cond is None:
                self.problem(cpath, "<elseif> needs a cond")
        branches.append((cond, self._actions(current, path)))
        return If(tuple(branches))

    def _action_send(self, elem: ET.Element, path: str) -> Action:
        for pair in (("event", "eventexpr"), ("target", "targetexpr"), ("type", "typeexpr"),
                     ("id", "idlocation"), ("delay", "delayexpr")):
            self.exclusive(elem, path, *pair)
        delay_ms = self._delay(elem, path)
        if elem.get("target") == "#_internal" and (delay_ms or elem.get("delayexpr")):
            self.problem(path, "a send to #_internal cannot be delayed", "remove the delay or the target")
        contents = self.children(elem, path, "content")
        content = None
        if contents:
            index, child = contents[0]
            content = self.content_value(child, f"{path}/content[{index}]")
            if content is None:
                content = constant("", None)
            if elem.get("namelist") or self.children(elem, path, "param"):
                self.problem(path, "<send> cannot have <content> together with namelist or <param>")
        idlocation = elem.get("idlocation")
        return Send(
            event=elem.get("event"),
            eventexpr=self.attr_expr(elem, "eventexpr", path),
            target=elem.get("target"),
            targetexpr=self.attr_expr(elem, "targetexpr", path),
            type=elem.get("type"),
            typeexpr=self.attr_expr(elem, "typeexpr", path),
            id=elem.get("id"),
            idlocation=None if idlocation is None else self.location(idlocation, f"{path}@idlocation"),
            delay_ms=delay_ms,
            delayexpr=self.attr_expr(elem, "delayexpr", path),
            namelist=self.namelist(elem, path),
            params=self.params(elem, path),
            content=content,
        )

    def _delay(self, elem: ET.Element, path: str) -> int | None:
        delay = elem.get("delay")
        if delay is None:
            return None
        try:
            return parse_delay(delay)
        except ValueError as error:
            self.problem(f"{path}@delay", str(error), "use a CSS2 time such as '1s', '500ms' or '.5s'")
            return None
