"""What a durable step can reach is given to it before the step (core/reach.py): its children by invoke id;
other instances by ``#_scxml_`` id are resolved when the send is dispatched."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import child_chart, open_app, parent_chart, receiver_chart, scxml

TALKER = """
<datamodel><data id="errors" expr="[]"/></datamodel>
<state id="idle">
  <transition event="SCXML"><send event="NUM" targetexpr="'#_scxml_receiver/' + _event.data['to']">
    <param name="i" expr="7"/></send></transition>
  <transition event="CHILD"><send event="NUM" target="#_nobody"/><raise event="after"/></transition>
  <transition event="MALFORMED"><send event="NUM" target="#_scxml_foo"/><raise event="after"/></transition>
  <transition event="error.communication"><assign location="errors" expr="errors + [_event.data['message']]"/></transition>
  <transition event="after"><assign location="errors" expr="errors + ['after']"/></transition>
</state>
"""


def test_a_session_target_reaches_another_instance_or_raises_error_communication(tmp_path: Path) -> None:
    talker = scxml(TALKER, name="talker", initial="idle")
    with open_app(tmp_path / "r.db", VirtualClock(), talker, receiver_chart()) as app:
        app.create("talker", "t1")
        app.create("receiver", "r1")
        app.send("talker", "t1", {"type": "SCXML", "to": "r1"})
        assert app.get("receiver", "r1").context["got"] == [7]
        errors = app.send("talker", "t1", {"type": "SCXML", "to": "nobody"}).instance.context["errors"]
        assert len(errors) == 1 and "'#_scxml_receiver/nobody' is not reachable" in errors[0]


@pytest.mark.parametrize(("event", "target"), [("CHILD", "#_nobody"), ("MALFORMED", "#_scxml_foo")])
def test_a_target_known_to_be_unreachable_fails_within_the_step(tmp_path: Path, event: str, target: str) -> None:
    talker = scxml(TALKER, name="talker", initial="idle")
    with open_app(tmp_path / "c.db", VirtualClock(), talker) as app:
        app.create("talker", "t1")
        errors = app.send("talker", "t1", event).instance.context["errors"]
        assert errors[1] == "after" and f"{target!r} is not reachable" in errors[0]  # internal: first


def test_a_parent_reaches_its_live_child_by_invoke_id(tmp_path: Path) -> None:
    with open_app(tmp_path / "p.db", VirtualClock(), child_chart(), parent_chart()) as app:
        app.create("parent", "p1")
        app.send("parent", "p1", "PUSH")
        assert app.get("parent", "p1").context["total"] == 42
