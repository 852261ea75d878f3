"""SCXML from untrusted callers: everything that would run code is reported, with its path."""

from __future__ import annotations

import pytest

from interlock.frontends.scxml_untrusted import untrusted_problems

HEAD = '<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="null" initial="a">'


def _doc(body: str, head: str = HEAD) -> str:
    return f"{head}{body}</scxml>"


def test_a_document_without_code_passes() -> None:
    text = _doc('<state id="a"><transition event="GO" cond="In(\'a\') and not In(\'b\')" target="b"/>'
                '<onentry><send event="PING" delay="1s"/><raise event="X"/><log label="hi"/></onentry>'
                '<invoke src="machine:child"/></state><state id="b"/>')
    assert untrusted_problems(text) == []


@pytest.mark.parametrize(("body", "path"), [
    ('<state id="a"><onentry><script>import os</script></onentry></state>', "scxml.state#a.onentry[0].script[0]"),
    ('<datamodel><data id="x" expr="1"/></datamodel><state id="a"/>', "scxml.datamodel[0]"),
    ('<state id="a"><onentry><log expr="x"/></onentry></state>', "scxml.state#a.onentry[0].log[0]@expr"),
    ('<state id="a"><transition cond="x > 1" target="a"/></state>', "scxml.state#a.transition[0]@cond"),
    ('<state id="a"><onentry><send eventexpr="e"/></onentry></state>', "scxml.state#a.onentry[0].send[0]@eventexpr"),
    ('<state id="a"><onentry><send event="e" type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"/>'
     '</onentry></state>', "scxml.state#a.onentry[0].send[0]@type"),
    ('<state id="a"><invoke><content><scxml/></content></invoke></state>', "scxml.state#a.invoke[0].content[0]"),
    ('<state id="a"><invoke src="child.scxml"/></state>', "scxml.state#a.invoke[0]@src"),
    ('<state id="a"><onentry><foreach array="xs" item="x"/></onentry></state>', "scxml.state#a.onentry[0].foreach[0]"),
])
def test_each_kind_of_code_is_reported_at_its_path(body: str, path: str) -> None:
    problems = untrusted_problems(_doc(body))
    assert path in {p.path for p in problems}, problems
    assert all(p.hint for p in problems)


def test_the_python_data_model_and_entities_are_refused() -> None:
    python = untrusted_problems(_doc('<state id="a"/>', HEAD.replace("null", "python")))
    assert [p.path for p in python] == ["scxml@datamodel"] and "Python" in python[0].message
    implicit = untrusted_problems(_doc('<state id="a"/>', HEAD.replace(' datamodel="null"', "")))
    assert "Python by default" in implicit[0].message
    entity = untrusted_problems('<!DOCTYPE x [<!ENTITY a "b">]>' + _doc('<state id="a"/>'))
    assert "DOCTYPE" in entity[0].message
    broken = untrusted_problems("<scxml")
    assert broken[0].message.startswith("invalid XML")
