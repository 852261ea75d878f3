"""Invoked machines become child instances; sends between instances keep their order."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import (
    child_chart,
    open_app,
    parent_chart,
    query_store,
    receiver_chart,
    sender_chart,
    store_url,
)

CHILD_ID = "parent/p1/job"


def test_an_invoked_machine_is_a_child_instance_that_reports_back(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), child_chart(), parent_chart()) as app:
        parent = app.create("parent", "p1")
        assert parent.context["started"] == 21  # the child's #_parent event, settled before create returned
        child = app.get("child", CHILD_ID)
        assert (child.parent, child.state, child.context["amount"]) == ("parent/p1", ("working",), 21)
        result = app.send("parent", "p1", "PUSH")  # parent -> #_job -> child finishes -> done.invoke.job
        assert result.instance.state == ("finished",)
        assert result.instance.context["total"] == 42
        assert app.get("child", CHILD_ID).status == "done"


def test_a_child_is_cancelled_with_the_state_that_invoked_it(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), child_chart(), parent_chart()) as app:
        app.create("parent", "p1")
        app.send("parent", "p1", "STOP")
        child = app.get("child", CHILD_ID)
        assert child.status == "cancelled"
        assert app.history("child", CHILD_ID).items[-1].outcome == "cancelled"
        assert app.send("child", CHILD_ID, "FINISH").outcome == "ignored"
        assert app.get("parent", "p1").state == ("stopped",)


def test_sends_between_instances_arrive_in_order(tmp_path: Path) -> None:
    with open_app(tmp_path / "s.db", VirtualClock(), sender_chart(), receiver_chart()) as app:
        app.create("sender", "s1")
        app.create("receiver", "r1")
        app.send("sender", "s1", {"type": "BURST", "count": 50, "to": "r1"})
        app.send("sender", "s1", {"type": "BURST", "count": 5, "to": "r1"})
        got = app.get("receiver", "r1").context["got"]
        assert got == list(range(50)) + list(range(5))
        causes = [e.cause for e in app.history("receiver", "r1").items[1:4]]
        assert causes == ["sender/s1#1.0", "sender/s1#1.1", "sender/s1#1.2"]


def test_a_send_to_an_unknown_instance_raises_error_communication(tmp_path: Path) -> None:
    with open_app(tmp_path / "s.db", VirtualClock(), sender_chart(), receiver_chart()) as app:
        app.create("sender", "s1")
        assert app.send("sender", "s1", "LOST").instance.state == ("lonely",)


def test_a_send_cascade_past_the_budget_is_finished_by_the_worker(tmp_path: Path) -> None:
    with open_app(tmp_path / "s.db", VirtualClock(), sender_chart(), receiver_chart()) as app:
        app.create("sender", "s1")
        app.create("receiver", "r1")
        app.send("sender", "s1", {"type": "BURST", "count": 1500, "to": "r1"})
        assert app.get("receiver", "r1").queued > 0  # one unit applies at most 1,000 events
        app.run_until_idle()
        receiver = app.get("receiver", "r1")
        assert (receiver.queued, receiver.context["got"]) == (0, list(range(1500)))


INLINE_PARENT = """<scxml name="inline_parent" initial="waiting" datamodel="python">
  <state id="waiting">
    <invoke id="kid">
      <param name="n" expr="20"/>
      <content>
        <scxml initial="w" datamodel="python">
          <datamodel><data id="n" expr="0"/></datamodel>
          <state id="w">
            <transition event="GO" target="end"><send target="#_parent" event="answer" namelist="n"/></transition>
          </state>
          <final id="end"><donedata><param name="doubled" expr="n * 2"/></donedata></final>
        </scxml>
      </content>
    </invoke>
    <transition event="answer"><assign location="got" expr="_event.data['n']"/></transition>
    <transition event="done.invoke.kid" target="finished"><assign location="out" expr="_event.data"/></transition>
  </state>
  <final id="finished"/>
  <datamodel><data id="got" expr="None"/><data id="out" expr="None"/></datamodel>
</scxml>"""


def test_an_inline_scxml_child_runs_as_a_child_instance_and_survives_a_restart(tmp_path: Path) -> None:
    from interlock.frontends.scxml import load_scxml

    db = tmp_path / "inline.db"
    with open_app(db, VirtualClock(), load_scxml(INLINE_PARENT)) as app:
        app.create("inline_parent", "p1")
        children = app.list("inline_parent", status="active")
        assert [i.id for i in children.items] == ["p1"]
    # a new process registers the same parent and finds the same child machine again
    with open_app(db, VirtualClock(), load_scxml(INLINE_PARENT)) as app:
        child = next(name for name in _machines(db) if name.startswith("inline_parent#inline-"))
        assert app.get(child, "inline_parent/p1/kid").context["n"] == 20
        app.send(child, "inline_parent/p1/kid", "GO")
        parent = app.get("inline_parent", "p1")
        assert parent.status == "done"
        assert parent.context["out"] == {"doubled": 40}
        assert parent.context["got"] == 20


def test_an_inline_child_of_a_versioned_parent_runs(tmp_path: Path) -> None:
    """The child chart keeps its own version (1); its parent is version 2: both must resolve."""
    from interlock.core.chart import build_chart
    from interlock.frontends.scxml import parse_scxml

    spec = parse_scxml(INLINE_PARENT)
    spec.version = "2"
    with open_app(tmp_path / "v.db", VirtualClock(), build_chart(spec)) as app:
        app.create("inline_parent", "p1")
        child = next(name for name in _machines(tmp_path / "v.db") if "#inline-" in name)
        app.send(child, "inline_parent/p1/kid", "GO")
        assert app.get("inline_parent", "p1").context["out"] == {"doubled": 40}


BROKEN_CHILD_PARENT = """<scxml name="lenient_parent" initial="waiting" datamodel="python">
  <state id="waiting">
    <invoke id="kid">
      <content>
        <scxml initial="w" datamodel="python">
          <state id="w">
            <transition event="GO" target="end"/>
            <transition event="BROKEN" target="nowhere"/>
          </state>
          <final id="end"/>
        </scxml>
      </content>
    </invoke>
    <transition event="done.invoke.kid" target="finished"/>
  </state>
  <final id="finished"/>
</scxml>"""


def test_a_lenient_parent_registers_its_inline_children_leniently_and_a_strict_one_refuses_them(
        tmp_path: Path) -> None:
    from interlock.errors import DefinitionError
    from interlock.frontends.scxml import load_scxml

    strict = load_scxml(BROKEN_CHILD_PARENT)
    with pytest.raises(DefinitionError, match="nowhere"), open_app(tmp_path / "strict.db", VirtualClock(), strict):
        pass  # strict: the child's undeclared target is refused when the parent is registered
    with open_app(tmp_path / "lenient.db", VirtualClock(), load_scxml(BROKEN_CHILD_PARENT, strict=False)) as app:
        app.create("lenient_parent", "p1")
        child = next(name for name in _machines(tmp_path / "lenient.db") if "#inline-" in name)
        # the broken transition fails when taken (error.execution inside the child), as in the
        # in-memory runner; the child stays where it was and can still finish
        assert app.send(child, "lenient_parent/p1/kid", "BROKEN").instance.state == ("w",)
        app.send(child, "lenient_parent/p1/kid", "GO")
        assert app.get("lenient_parent", "p1").state == ("finished",)


def _machines(db: Path) -> list[str]:
    return [str(row[0]) for row in query_store(db, "SELECT DISTINCT machine FROM instances")]


REINVOKE = """<scxml name="looper" initial="busy" datamodel="python">
  <datamodel><data id="answers" expr="[]"/></datamodel>
  <state id="busy">
    <invoke id="kid">
      <content>
        <scxml initial="w" datamodel="python">
          <state id="w"><transition event="PING" target="end"/></state>
          <final id="end"/>
        </scxml>
      </content>
    </invoke>
    <transition event="AGAIN" target="busy"/>
    <transition event="done.invoke.kid" target="busy"><assign location="answers" expr="answers + ['done']"/></transition>
  </state>
</scxml>"""


def test_entering_an_invoking_state_again_starts_a_fresh_child(tmp_path: Path) -> None:
    from interlock.frontends.scxml import load_scxml

    db = tmp_path / "again.db"
    with open_app(db, VirtualClock(), load_scxml(REINVOKE)) as app:
        app.create("looper", "l1")
        assert app.send("looper", "l1", "AGAIN").outcome == "applied"
        child = next(name for name in _machines(db) if name.startswith("looper#inline-"))
        kids = {i.id: i.status for i in app.list(child).items}
        assert kids == {"looper/l1/kid": "cancelled", "looper/l1/kid~1.1": "active"}
        app.send(child, "looper/l1/kid~1.1", "PING")
        assert app.get("looper", "l1").context["answers"] == ["done"]


def test_an_inline_child_is_the_same_machine_after_re_indenting_and_a_changed_one_needs_a_new_version(
        tmp_path: Path) -> None:
    from interlock.errors import ConflictError
    from interlock.frontends.scxml import load_scxml

    db = tmp_path / "i.db"
    with open_app(db, VirtualClock(), load_scxml(INLINE_PARENT)) as app:
        app.create("inline_parent", "p1")
    child = next(name for name in _machines(db) if "#inline-" in name)
    reindented = INLINE_PARENT.replace("\n          ", "\n    ").replace('<state id="w">', '<state  id="w" >')
    with open_app(db, VirtualClock(), load_scxml(reindented)) as app:  # the same child machine
        app.send(child, "inline_parent/p1/kid", "GO")
        assert app.get("inline_parent", "p1").context["out"] == {"doubled": 40}
    changed = INLINE_PARENT.replace('expr="n * 2"', 'expr="n * 3"').replace(
        '<final id="end">', '<state id="extra"/><final id="end">')
    with Interlock(store_url(db), clock=VirtualClock()) as app, \
            pytest.raises(ConflictError, match="'inline_parent' version '1' was registered"):
        app.register(load_scxml(changed))


def test_registering_an_unchanged_chart_again_in_one_process_is_fine(tmp_path: Path) -> None:
    from interlock.errors import ConflictError
    from interlock.frontends.scxml import load_scxml

    with open_app(tmp_path / "r.db", VirtualClock(), load_scxml(INLINE_PARENT)) as app:
        app.register(load_scxml(INLINE_PARENT))  # another object, the same definition
        other = INLINE_PARENT.replace('<final id="finished"/>', '<final id="finished"/><state id="z"/>')
        with pytest.raises(ConflictError, match="already registered with other states or transitions"):
            app.register(load_scxml(other))


TYPEEXPR_PARENT = """<scxml name="typed_parent" initial="s" datamodel="python" xmlns="http://www.w3.org/2005/07/scxml">
  <datamodel><data id="kind" expr="'http://www.w3.org/TR/scxml/'"/></datamodel>
  <state id="s">
    <invoke id="kid" typeexpr="kind"><content><scxml initial="f"><final id="f"/></scxml></content></invoke>
    <invoke id="job" typeexpr="'charge'"><content>not a document</content></invoke>
    <transition event="done.invoke.kid" target="ok"/>
  </state>
  <final id="ok"/>
</scxml>"""


def test_an_inline_child_invoked_with_typeexpr_runs(tmp_path: Path) -> None:
    """Its type is known only at run time: content that is an SCXML document is registered as a child
    machine; content that is not (data for a service) is no error at register."""
    from interlock.frontends.scxml import load_scxml

    with open_app(tmp_path / "t.db", VirtualClock(), load_scxml(TYPEEXPR_PARENT)) as app:
        app.service("charge", lambda task: "paid")
        assert app.create("typed_parent", "p1").status == "done"
