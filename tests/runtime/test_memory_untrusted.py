"""The in-memory runner with untrusted documents: an invoke's src names a registered machine, never a file a
document chose; SCXML names files only inside a trusted folder; children are bounded as in the durable
runtime (docs/limits.md, "Children" and "Documents")."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.core.chart import Chart
from interlock.errors import DefinitionError
from interlock.frontends.document import load_document
from interlock.frontends.scxml import load_scxml
from interlock.runtime.children import MAX_CHILDREN_PER_STEP, MAX_INVOKE_DEPTH
from interlock.runtime.memory import MemoryRunner

RECORD_ERRORS = {"on": {"error.*": {"actions": {"assign": {"errors": "errors + [event.data.message]"}}}}}


def doc(name: str, *invokes: str) -> Chart:
    items = [{"id": f"i{n}", "src": src} for n, src in enumerate(invokes)]
    return load_document({"id": name, "initial": "w", "context": {"errors": []},
                          "states": {"w": {"invoke": items, **RECORD_ERRORS}}})


def evil_scxml(marker: Path) -> str:
    """SCXML whose Python writes ``marker`` when it starts: the code execution a document must not reach."""
    return (f"<scxml xmlns='http://www.w3.org/2005/07/scxml' initial='a'><datamodel>"
            f"<data id='x' expr=\"__import__('pathlib').Path({str(marker)!r}).write_text('ran')\"/></datamodel>"
            f"<state id='a'/></scxml>")


@pytest.mark.parametrize("trusted", [False, True])
def test_a_document_never_makes_the_runner_read_a_file(tmp_path: Path, trusted: bool) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.scxml").write_text(evil_scxml(marker))
    runner = MemoryRunner(trusted_base=tmp_path if trusted else None)
    session = runner.start(doc("yaml", f"machine:{tmp_path / 'evil.scxml'}", "machine:evil.scxml"))
    runner.run_until_idle()
    assert not marker.exists()
    assert len(session.context["errors"]) == 2
    assert all("no machine is registered as" in m for m in session.context["errors"])
    assert list(runner.sessions) == [session.id]


def test_a_registered_machine_is_what_a_document_invokes() -> None:
    runner = MemoryRunner()
    runner.register_chart("kid", doc("kid"))
    session = runner.start(doc("parent", "machine:kid"))
    assert session.context["errors"] == [] and len(runner.sessions) == 2


def parent_text(src: str) -> str:
    return f"""<scxml xmlns='http://www.w3.org/2005/07/scxml' initial='a'>
      <datamodel><data id="errors" expr="[]"/></datamodel>
      <state id='a'><invoke src='{src}'/>
        <transition event='error.execution'><assign location='errors' expr="errors + [_event.data['message']]"/></transition>
      </state></scxml>"""


@pytest.mark.parametrize("src", ["../evil.scxml", "ABSOLUTE", "file:../evil.scxml"])
def test_scxml_invokes_files_only_inside_the_trusted_folder(tmp_path: Path, src: str) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.scxml").write_text(evil_scxml(marker))
    trusted = tmp_path / "charts"
    trusted.mkdir()
    src = src.replace("ABSOLUTE", str(tmp_path / "evil.scxml"))
    parent = load_scxml(parent_text(src))
    for runner in (MemoryRunner(), MemoryRunner(trusted_base=trusted)):
        session = runner.start(parent)
        runner.run_until_idle()
        (message,) = session.context["errors"]
        assert "no machine is registered" in message or "outside the trusted folder" in message
    assert not marker.exists()
    # the same file inside the trusted folder is run: the marker shows a read would have been caught
    (trusted / "evil.scxml").write_text(evil_scxml(marker))
    runner = MemoryRunner(trusted_base=trusted)
    runner.start(load_scxml(parent_text("evil.scxml")))
    assert marker.read_text() == "ran"


def test_registering_a_machine_that_invokes_itself_is_refused() -> None:
    runner = MemoryRunner()
    with pytest.raises(DefinitionError, match=r"invokes itself \(rec -> rec\)"):
        runner.register_chart("rec", doc("rec", "machine:rec", "machine:rec"))
    runner.register_chart("a", doc("a", "machine:b"))
    with pytest.raises(DefinitionError, match=r"b -> a -> b"):
        runner.register_chart("b", doc("b", "machine:a"))
    with pytest.raises(DefinitionError, match=r"'rec' invokes itself"):  # by the name it is registered as
        runner.register_chart("rec", doc("other", "machine:rec"))
    runner.register_chart("svc", load_document({"id": "svc", "initial": "w", "states": {"w": {"invoke": {
        "src": "svc"}}}}, defer_services=True))  # a service called like the machine: not a cycle


def test_run_time_recursion_is_refused_in_the_parent() -> None:
    rec = load_scxml("""<scxml xmlns='http://www.w3.org/2005/07/scxml' name='rec' initial='w'>
      <datamodel><data id="errors" expr="[]"/></datamodel>
      <state id='w'><invoke id="a" srcexpr="'rec'"/><invoke id="b" srcexpr="'rec'"/>
        <transition event='error.execution'><assign location='errors' expr="errors + [_event.data['message']]"/></transition>
      </state></scxml>""")
    runner = MemoryRunner()
    runner.register_chart("rec", rec)  # srcexpr: the register cannot see it
    session = runner.start(rec)
    runner.run_until_idle()
    assert list(runner.sessions) == [session.id]
    assert [("would run inside itself" in m) for m in session.context["errors"]] == [True, True]


def test_depth_and_count_are_bounded_as_in_the_durable_runtime() -> None:
    runner = MemoryRunner()
    depth = MAX_INVOKE_DEPTH + 2
    for i in reversed(range(depth + 1)):
        runner.register_chart(f"m{i}", doc(f"m{i}", *([f"machine:m{i + 1}"] if i < depth else [])))
    top = runner.start(doc("m0x", "machine:m1"))
    runner.run_until_idle()
    chain = [s for s in runner.sessions.values() if s.id != top.id]
    assert len(chain) == MAX_INVOKE_DEPTH
    deepest = max(chain, key=lambda s: len(s.id))
    assert any(f"the limit is {MAX_INVOKE_DEPTH}" in m for m in deepest.context["errors"])

    wide = MemoryRunner()
    wide.register_chart("leaf", doc("leaf"))
    wide.register_chart("mid", doc("mid", *["machine:leaf"] * 9))
    session = wide.start(doc("top", *["machine:mid"] * 11))
    wide.run_until_idle()
    assert len(wide.sessions) == 1 + MAX_CHILDREN_PER_STEP
    (message,) = session.context["errors"]
    assert f"the limit is {MAX_CHILDREN_PER_STEP}" in message


def test_scxml_machine_prefix_names_a_registered_machine_never_a_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.scxml").write_text(evil_scxml(marker))
    runner = MemoryRunner(trusted_base=tmp_path)
    runner.register_chart("kid", doc("kid"))
    session = runner.start(load_scxml(parent_text("machine:kid").replace("<invoke ", "<invoke id='k' ")
                                      .replace("</state>", "<invoke src='machine:evil.scxml'/></state>")))
    runner.run_until_idle()
    assert f"{session.id}.k" in runner.sessions and not marker.exists()
    (message,) = session.context["errors"]
    assert "no machine is registered as 'machine:evil.scxml'" in message
