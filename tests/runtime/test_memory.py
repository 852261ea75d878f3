"""The in-memory runner: queues, timers on a virtual clock, routing, invocations and services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.errors import ConflictError, NotFoundError
from interlock.frontends.scxml import load_scxml
from interlock.runtime.clock import SystemClock, VirtualClock
from interlock.runtime.memory import MemoryRunner
from interlock.runtime.tasks import Task

TIMER = """<scxml initial="idle">
  <state id="idle">
    <transition event="arm" target="armed"/>
  </state>
  <state id="armed">
    <onentry><send event="ring" delay="2s" id="alarm"/></onentry>
    <transition event="disarm" target="idle"><cancel sendid="alarm"/></transition>
    <transition event="ring" target="ringing"/>
  </state>
  <state id="ringing"/>
</scxml>"""


def test_delayed_send_fires_when_the_virtual_clock_reaches_it() -> None:
    clock = VirtualClock()
    runner = MemoryRunner(clock=clock)
    session = runner.start(load_scxml(TIMER))
    runner.send(session.id, "arm")
    runner.advance(1.5)
    assert session.configuration[-1] == "armed" and clock.now() == 1.5
    runner.advance(0.5)
    assert session.configuration[-1] == "ringing"


def test_run_until_idle_jumps_to_the_next_timer_and_cancel_removes_it() -> None:
    runner = MemoryRunner()
    session = runner.start(load_scxml(TIMER))
    runner.send(session.id, "arm")
    assert runner.run_until_idle()
    assert session.configuration[-1] == "ringing" and runner.clock.now() == 2.0
    other = runner.start(load_scxml(TIMER))
    runner.send(other.id, "arm")
    runner.send(other.id, "disarm")
    assert runner.run_until_idle()
    assert other.configuration[-1] == "idle" and runner.clock.now() == 2.0


def test_events_are_processed_one_at_a_time_in_arrival_order() -> None:
    chart = load_scxml("""<scxml initial="s"><datamodel><data id="seen" expr="[]"/></datamodel>
      <state id="s"><transition event="*"><assign location="seen" expr="seen + [_event.name]"/>
      </transition></state></scxml>""")
    runner = MemoryRunner()
    session = runner.start(chart)
    for name in ("a", "b", "c"):
        runner.send(session.id, name)
    runner.run_until_idle()
    assert session.context["seen"] == ["a", "b", "c"]


def test_sending_to_unknown_or_finished_sessions_is_refused() -> None:
    runner = MemoryRunner()
    session = runner.start(load_scxml('<scxml><final id="f"/></scxml>'))
    with pytest.raises(NotFoundError):
        runner.send("nope", "x")
    with pytest.raises(ConflictError, match="is done"):
        runner.send(session.id, "x")
    with pytest.raises(ConflictError, match="already in use"):
        runner.start(load_scxml('<scxml><final id="f"/></scxml>'), sessionid=session.id)


def test_sessions_talk_through_scxml_session_targets() -> None:
    listener = load_scxml("""<scxml initial="wait"><state id="wait">
      <transition event="hello" target="got"><log expr="_event.origin"/></transition></state>
      <final id="got"/></scxml>""")
    speaker = load_scxml("""<scxml initial="s"><state id="s"><onentry>
        <send event="hello" target="#_scxml_listener"/><send event="x" target="#_scxml_nobody"/>
      </onentry><transition event="error.communication" target="failed"/></state>
      <final id="failed"/></scxml>""")
    runner = MemoryRunner()
    first = runner.start(listener, sessionid="listener")
    second = runner.start(speaker, sessionid="speaker")
    runner.run_until_idle()
    assert first.configuration[-1] == "got" and second.configuration[-1] == "failed"
    assert [r.value for r in runner.logs] == ["#_scxml_speaker"]


PARENT = """<scxml initial="s"><datamodel><data id="got" expr="[]"/></datamodel>
  <state id="s">
    <invoke id="kid" src="file:child.scxml"><param name="n" expr="41"/><param name="junk" expr="1"/></invoke>
    <transition event="ping" cond="_event.invokeid == 'kid'"><send event="pong" target="#_kid"/></transition>
    <transition event="done.invoke.kid" target="end"><assign location="got" expr="_event.data"/></transition>
  </state>
  <final id="end"/>
</scxml>"""
CHILD = """<scxml initial="c"><datamodel><data id="n" expr="0"/></datamodel>
  <state id="c"><onentry><send event="ping" target="#_parent"/></onentry>
    <transition event="pong" target="bye"/></state>
  <final id="bye"><donedata><param name="answer" expr="n + 1"/>
    <param name="leaked" expr="'junk' in dir()"/></donedata></final>
</scxml>"""


def test_invoked_child_from_a_file_talks_to_its_parent_and_reports_done(tmp_path: Path) -> None:
    (tmp_path / "parent.scxml").write_text(PARENT)
    (tmp_path / "child.scxml").write_text(CHILD)
    runner = MemoryRunner(trusted_base=tmp_path)  # its SCXML charts may name files in this folder
    parent = runner.start(load_scxml(tmp_path / "parent.scxml"))
    assert set(runner.sessions) == {parent.id, f"{parent.id}.kid"}
    runner.run_until_idle()
    assert parent.done and parent.context["got"] == {"answer": 42, "leaked": False}
    assert set(runner.sessions) == {parent.id}


def test_leaving_the_invoking_state_cancels_the_child_and_its_timers() -> None:
    chart = load_scxml("""<scxml initial="s"><state id="s">
      <invoke id="kid"><content><scxml initial="w"><state id="w">
        <onentry><send event="late" target="#_parent" delay="5s"/></onentry></state></scxml></content></invoke>
      <transition event="leave" target="t"/></state>
      <state id="t"><transition event="late" target="wrong"/></state><final id="wrong"/></scxml>""")
    runner = MemoryRunner()
    parent = runner.start(chart)
    runner.send(parent.id, "leave")
    assert runner.run_until_idle()
    assert parent.configuration[-1] == "t" and list(runner.sessions) == [parent.id]
    assert runner.clock.now() == 0.0  # the child's 5 s timer was dropped, not waited for


def test_a_cancelled_child_runs_its_exit_handlers_but_reports_no_done() -> None:
    chart = load_scxml("""<scxml initial="s"><state id="s">
      <invoke id="kid"><content><scxml initial="w"><state id="w">
        <onexit><log label="child" expr="'leaving'"/></onexit></state></scxml></content></invoke>
      <transition event="leave" target="t"/></state>
      <state id="t"><transition event="done.invoke.kid" target="wrong"/></state><final id="wrong"/></scxml>""")
    runner = MemoryRunner()
    parent = runner.start(chart)
    runner.send(parent.id, "leave")
    assert runner.run_until_idle()
    assert [(r.label, r.value) for r in runner.logs] == [("child", "leaving")]
    assert parent.configuration[-1] == "t"


def test_a_timer_that_fired_but_is_still_queued_is_cancelled_too() -> None:
    chart = load_scxml("""<scxml initial="armed">
      <state id="armed">
        <onentry><send event="leave" delay="2s"/><send event="ring" delay="2s" id="alarm"/></onentry>
        <onexit><cancel sendid="alarm"/></onexit>
        <transition event="leave" target="disarmed"/>
      </state>
      <state id="disarmed"><transition event="ring" target="rang"/></state>
      <state id="rang"/></scxml>""")
    runner = MemoryRunner()
    session = runner.start(chart)
    assert runner.run_until_idle()
    assert runner.clock.now() == 2.0
    assert session.configuration[-1] == "disarmed"


def test_autoforward_sends_the_parents_events_to_the_child() -> None:
    chart = load_scxml("""<scxml initial="s"><state id="s">
      <invoke id="kid" autoforward="true"><content><scxml initial="w"><state id="w">
        <transition event="poke" target="f"><send event="poked" target="#_parent"/></transition>
      </state><final id="f"/></scxml></content></invoke>
      <transition event="poked" target="end"/></state><final id="end"/></scxml>""")
    runner = MemoryRunner()
    parent = runner.start(chart)
    runner.send(parent.id, "poke")
    runner.run_until_idle()
    assert parent.configuration[-1] == "end"


SERVICE_CALLER = """<scxml initial="s"><datamodel><data id="out"/></datamodel>
  <state id="s"><invoke id="calc" type="{type}"><param name="x" expr="20"/></invoke>
    <transition event="done.invoke.calc" target="ok"><assign location="out" expr="_event.data"/></transition>
    <transition event="error.invoke.calc" target="bad"><assign location="out" expr="_event.data"/></transition>
  </state><final id="ok"/><final id="bad"/></scxml>"""


def _call(service: Any) -> tuple[str, Any]:
    runner = MemoryRunner(services={"calc": service})
    session = runner.start(load_scxml(SERVICE_CALLER.format(type="calc")))
    runner.run_until_idle()
    return session.configuration[-1], session.context["out"]


def test_python_services_sync_async_and_failing() -> None:
    async def slow_double(task: Task) -> int:
        return task.input["x"] * 2

    def broken(task: Task) -> int:
        raise ValueError("no calc today")

    assert _call(lambda task: task.input["x"] + 1) == ("ok", 21)
    assert _call(slow_double) == ("ok", 40)
    assert _call(broken) == ("bad", {"message": "no calc today", "error": "ValueError", "service": "calc",
                                     "attempts": 1})


def test_an_invoke_that_cannot_start_is_an_error_event() -> None:
    runner = MemoryRunner()
    session = runner.start(load_scxml(SERVICE_CALLER.replace(
        '<transition event="error.invoke.calc"', '<transition event="error.execution"').format(type="nope")))
    runner.run_until_idle()
    assert session.configuration[-1] == "bad" and "names 'nope', which is no service" in session.context["out"]["message"]


def test_logs_reach_the_callback() -> None:
    seen = []
    runner = MemoryRunner(on_log=seen.append)
    runner.start(load_scxml('<scxml><state id="a"><onentry><log label="hi" expr="1 + 1"/></onentry></state></scxml>'))
    assert [(r.label, r.value, r.time) for r in seen] == [("hi", 2, 0.0)] and runner.logs == seen


def test_wall_timeout_stops_a_machine_that_never_settles() -> None:
    chart = load_scxml("""<scxml initial="s"><state id="s"><onentry><send event="tick"/></onentry>
      <transition event="tick" target="s"/></state></scxml>""")
    runner = MemoryRunner()
    runner.start(chart)
    assert runner.run_until_idle(wall_timeout=0.2) is False


def test_real_clock_mode_waits_for_timers() -> None:
    chart = load_scxml("""<scxml initial="s"><state id="s"><onentry><send event="t" delay="20ms"/></onentry>
      <transition event="t" target="f"/></state><final id="f"/></scxml>""")
    clock = SystemClock()
    runner = MemoryRunner(clock=clock)
    began = clock.now()
    session = runner.start(chart)
    assert runner.run_until_idle()
    assert session.done and clock.now() - began >= 0.02
