"""Loading SCXML documents: structure, value content, and problems reported with their paths."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from interlock.core.content import Assign, Foreach, If, Log, Raise, Script, Send
from interlock.core.step import start, step
from interlock.errors import DefinitionError
from interlock.frontends.scxml import load_scxml, parse_scxml

FULL = """\
<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" name="shop" initial="cart"
       datamodel="python" binding="late">
  <datamodel><data id="items" expr="[]"/><data id="limit">{"max": 3}</data></datamodel>
  <script>helper = 1</script>
  <state id="cart">
    <onentry><log label="in" expr="len(items)"/></onentry>
    <onentry><raise event="ready"/></onentry>
    <onexit><assign location="items" expr="items + [1]"/></onexit>
    <transition event="ADD ADD.more" cond="len(items) &lt; limit['max']" type="internal" target="cart"/>
    <transition event="PAY" target="pay">
      <send event="charge" target="#_parent" delay="1.5s" id="c1"><param name="n" expr="1"/></send>
    </transition>
  </state>
  <state id="pay">
    <initial><transition target="h"><raise event="init"/></transition></initial>
    <history id="h" type="deep"><transition target="waiting"/></history>
    <state id="waiting">
      <invoke id="bank" type="scxml" src="file:bank.scxml" autoforward="true" namelist="items">
        <finalize><log expr="'fin'"/></finalize>
      </invoke>
    </state>
    <final id="paid"><donedata><param name="ok" expr="True"/></donedata></final>
  </state>
  <parallel id="both"><state id="l"/><state id="r"/></parallel>
  <final id="done"/>
</scxml>
"""


def test_document_structure_becomes_a_chart() -> None:
    chart = load_scxml(FULL)
    assert chart.name == "shop" and chart.binding == "late" and chart.deep_copy_context
    assert [c.id for c in chart.root.children] == ["cart", "pay", "both", "done"]
    assert chart.root.id not in ("cart", "pay", "both", "done")
    cart = chart.state("cart")
    assert [type(a) for block in cart.onentry for a in block] == [Log, Raise]
    assert len(cart.onentry) == 2 and isinstance(cart.onexit[0][0], Assign)
    first, second = cart.transitions
    assert first.events == ("ADD", "ADD.more") and first.type == "internal"
    assert first.path == "scxml/state[@id='cart']/transition[1]"
    send = second.actions[0]
    assert isinstance(send, Send) and send.delay_ms == 1500 and send.id == "c1"
    assert send.target == "#_parent" and send.params[0].name == "n"
    pay = chart.state("pay")
    assert [t.id for t in pay.initial.targets] == ["h"]
    assert isinstance(pay.initial.actions[0], Raise)
    assert chart.state("h").history == "deep" and chart.state("both").kind == "parallel"
    invoke = chart.state("waiting").invokes[0]
    assert (invoke.id, invoke.src, invoke.autoforward) == ("bank", "file:bank.scxml", True)
    assert invoke.namelist[0][0] == "items" and isinstance(invoke.finalize[0], Log)
    assert isinstance(chart.script[0], Script)
    assert [d.id for d in chart.root.data] == ["items", "limit"]


def test_every_problem_is_reported_with_its_path() -> None:
    text = """<scxml initial="s1"><state id="s1">
      <transition event="a" target="s1"/>
      <transition event="b" cond="x ===" target="nowhere"/>
      <onentry><send event="e" delay="soon"/><frobnicate/></onentry>
    </state></scxml>"""
    with pytest.raises(DefinitionError) as caught:
        load_scxml(text)
    paths = sorted(p.path for p in caught.value.problems)
    assert paths == [
        "scxml/state[@id='s1']/onentry[1]/frobnicate[1]",
        "scxml/state[@id='s1']/onentry[1]/send[1]@delay",
        "scxml/state[@id='s1']/transition[2]@cond",
    ]
    # the unknown target is found by build_chart, once the document itself is sound
    with pytest.raises(DefinitionError, match="unknown target state 'nowhere'"):
        load_scxml(text.replace('cond="x ===" ', "").replace('delay="soon"', "").replace("<frobnicate/>", ""))


def test_bad_xml_names_line_and_column() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_scxml("<scxml>\n  <state id='a'>\n</scxml>")
    assert caught.value.problems[0].path.startswith("line 3")


def test_unsupported_datamodel_and_misplaced_elements() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_scxml('<scxml datamodel="ecmascript"><final id="f"><state id="x"/></final></scxml>')
    messages = " | ".join(str(p) for p in caught.value.problems)
    assert "datamodel 'ecmascript' is not supported" in messages
    assert "<state> is not allowed inside <final>" in messages


def test_root_id_never_clashes_with_a_state() -> None:
    chart = load_scxml('<scxml name="main"><state id="main"/></scxml>')
    assert chart.root.id == "main_root" and chart.name == "main"


def test_strict_loading_rejects_python_syntax_errors_lenient_loading_defers_them() -> None:
    text = '<scxml><state id="a"><transition cond="1 = 1" target="a"/></state></scxml>'
    with pytest.raises(DefinitionError, match="invalid Python"):
        load_scxml(text)
    chart = load_scxml(text, strict=False)
    with pytest.raises(SyntaxError):
        chart.state("a").transitions[0].cond(None)  # type: ignore[misc, arg-type]


def test_lenient_loading_turns_unknown_targets_into_an_error_when_taken() -> None:
    text = """<scxml initial="a"><state id="a">
        <transition event="go" target="nowhere"/>
        <transition event="error.execution" target="b"/></state><state id="b"/></scxml>"""
    with pytest.raises(DefinitionError, match="unknown target state 'nowhere'"):
        load_scxml(text)
    chart = load_scxml(text, strict=False)
    snapshot = start(chart).snapshot
    assert snapshot.configuration[-1] == "a"  # the bad transition is never checked until taken
    assert step(chart, snapshot, "go").snapshot.configuration[-1] == "b"


def test_executable_content_shapes() -> None:
    chart = load_scxml("""<scxml><state id="a"><onentry>
        <if cond="x"><raise event="one"/><elseif cond="y"/><raise event="two"/><else/><raise event="three"/></if>
        <foreach array="[1]" item="i" index="n"><log expr="i"/></foreach>
      </onentry></state></scxml>""")
    cond_if, loop = chart.state("a").onentry[0]
    assert isinstance(cond_if, If)
    assert [(c.source if c else None, [a.event for a in body]) for c, body in cond_if.branches] == [
        ("x", ["one"]), ("y", ["two"]), (None, ["three"])]
    assert isinstance(loop, Foreach) and loop.index is not None and len(loop.actions) == 1


def test_file_references_resolve_inside_the_trusted_folder(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("[1, 2, 3]")
    (tmp_path / "lib.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "m.scxml").write_text(
        '<scxml><datamodel><data id="v" src="file:data.json"/></datamodel>'
        '<script src="lib.py"/><state id="a"/></scxml>')
    spec = parse_scxml(tmp_path / "m.scxml", base_dir=tmp_path)
    assert spec.source == str(tmp_path / "m.scxml") and spec.root.data[0].expr(None) == [1, 2, 3]  # type: ignore[arg-type]
    missing = '<scxml><datamodel><data id="v" src="file:nope.txt"/></datamodel><state id="a"/></scxml>'
    with pytest.raises(DefinitionError, match=r"cannot read 'file:nope\.txt'"):
        load_scxml(missing, base_dir=tmp_path)


@pytest.mark.parametrize(("content", "expected"), [
    ("  123 ", 123),
    ('{"a": [1, 2]}', {"a": [1, 2]}),
    ("{'a': (1, 2)}", {"a": (1, 2)}),
    ("\n  this  is\n a   string ", "this is a string"),
])
def test_inline_data_content(content: str, expected: object) -> None:
    chart = load_scxml(f'<scxml><datamodel><data id="v">{content}</data></datamodel><state id="a"/></scxml>')
    assert chart.root.data[0].expr(None) == expected  # type: ignore[misc, arg-type]


def test_inline_xml_content_is_an_element_copied_per_use() -> None:
    chart = load_scxml('<scxml><datamodel><data id="v"><books><book title="t"/></books></data>'
                       '</datamodel><state id="a"/></scxml>')
    expr = chart.root.data[0].expr
    first, second = expr(None), expr(None)  # type: ignore[misc, arg-type]
    assert isinstance(first, ET.Element) and first.find("book").get("title") == "t"  # type: ignore[union-attr]
    assert first is not second


def test_inline_child_document_of_an_invoke_is_kept_as_text() -> None:
    chart = load_scxml('<scxml><state id="a"><invoke><content><scxml><final id="f"/></scxml>'
                       '</content></invoke></state></scxml>')
    content = chart.state("a").invokes[0].content
    assert isinstance(content, str) and load_scxml(content).state("f").kind == "final"
