"""The in-memory runner and the durable runtime carry out effects the same way: the same chart, run in
both, sees the same events with the same data (the disagreements of issue #9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlock.core.chart import Chart, build_chart
from interlock.frontends.scxml import parse_scxml
from interlock.runtime.clock import VirtualClock
from interlock.runtime.memory import MemoryRunner
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task
from tests.runtime.durable_support import open_app

NS = 'xmlns="http://www.w3.org/2005/07/scxml" datamodel="python"'

CALLER = f"""<scxml {NS} name="a" initial="s"><datamodel><data id="out" expr="None"/></datamodel>
  <state id="s"><invoke id="calc" type="calc"><param name="x" expr="20"/></invoke>
    <transition event="done.invoke.calc" target="ok"><assign location="out" expr="_event.data"/></transition>
    <transition event="error.invoke.calc" target="bad"><assign location="out" expr="_event.data"/></transition>
  </state><state id="ok"/><state id="bad"/></scxml>"""

TALKER = f"""<scxml {NS} name="a" initial="s"><datamodel><data id="errors" expr="[]"/></datamodel>
  <state id="s">
    <transition event="GO"><send event="hello" target="instance:b/b1"><param name="n" expr="1"/></send>
      <send event="hello" target="instance:b/nobody"/></transition>
    <transition event="error.communication"><assign location="errors" expr="errors + [_event.data]"/></transition>
  </state></scxml>"""

LISTENER = f"""<scxml {NS} name="b" initial="s"><datamodel><data id="got" expr="[]"/></datamodel>
  <state id="s"><transition event="hello"><assign location="got" expr="got + [_event.data]"/></transition>
  </state></scxml>"""


def _chart(text: str) -> Chart:
    return build_chart(parse_scxml(text))


def _broken(task: Task) -> Any:
    raise ValueError(f"no calc for {task.input['x']}")


def test_a_failing_service_raises_the_same_error_invoke_in_both_runtimes(tmp_path: Path) -> None:
    runner = MemoryRunner(services={"calc": _broken})
    session = runner.start(_chart(CALLER), sessionid="a1")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock()) as app:
        app.service("calc", _broken, retry=RetryPolicy(attempts=1))
        app.register(_chart(CALLER))
        app.create("a", "a1")
        app.run_until_idle()
        durable = app.get("a", "a1")
    expected = {"message": "no calc for 20", "error": "ValueError", "service": "calc", "attempts": 1}
    assert session.context["out"] == durable.context["out"] == expected
    assert session.configuration[-1] == durable.state[-1] == "bad"


def test_an_instance_address_is_delivered_by_both_runtimes(tmp_path: Path) -> None:
    runner = MemoryRunner()
    talker = runner.start(_chart(TALKER), sessionid="a1")
    listener = runner.start(_chart(LISTENER), sessionid="b1")
    runner.send("a1", "GO")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), _chart(TALKER), _chart(LISTENER)) as app:
        app.create("a", "a1")
        app.create("b", "b1")
        app.send("a", "a1", "GO")
        app.run_until_idle()
        durable_got = app.get("b", "b1").context["got"]
        durable_errors = app.get("a", "a1").context["errors"]
    assert listener.context["got"] == durable_got == [{"n": 1}]
    unknown = {"message": "send target 'instance:b/nobody' is not reachable", "target": "instance:b/nobody",
               "event": "hello"}
    assert talker.context["errors"] == durable_errors == [unknown]


def test_an_address_names_a_session_of_that_machine_only() -> None:
    runner = MemoryRunner()
    talker = runner.start(_chart(TALKER), sessionid="a1")
    runner.start(_chart(TALKER), sessionid="b1")  # id b1, but machine a: not instance:b/b1
    runner.send("a1", "GO")
    runner.run_until_idle()
    assert [e["target"] for e in talker.context["errors"]] == ["instance:b/b1", "instance:b/nobody"]


UNKNOWN = f"""<scxml {NS} name="a" initial="s"><datamodel><data id="out" expr="None"/></datamodel>
  <state id="s"><invoke id="calc" type="nope"/>
    <transition event="error.execution" target="bad">
      <assign location="out" expr="[_event.invokeid, sorted(_event.data)]"/></transition>
  </state><state id="bad"/></scxml>"""


def test_an_invoke_that_cannot_start_raises_the_same_error_execution_in_both_runtimes(tmp_path: Path) -> None:
    runner = MemoryRunner()
    session = runner.start(_chart(UNKNOWN), sessionid="a1")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), _chart(UNKNOWN)) as app:
        app.create("a", "a1")
        durable = app.get("a", "a1").context["out"]
    assert session.context["out"] == durable == ["calc", ["invokeid", "message"]]


def test_a_document_catches_an_invoke_that_cannot_start_with_on_error_in_both_runtimes(tmp_path: Path) -> None:
    """A document's onError listens for error.invoke.<id>: an invoke whose service is registered nowhere
    moves it there (before, error.execution came and nothing listened: the instance waited for ever)."""
    from interlock.frontends.document import load_document

    doc = {"id": "a", "initial": "paying", "context": {"why": ""}, "states": {
        "paying": {"invoke": {"id": "pay", "src": "charge", "onDone": "paid", "onError": {
            "target": "failed", "actions": {"assign": {"why": "event.data.message"}}}}},
        "paid": {}, "failed": {}}}
    runner = MemoryRunner()
    session = runner.start(load_document(doc, defer_services=True), sessionid="a1")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), load_document(doc, defer_services=True)) as app:
        durable = app.create("a", "a1")
    assert session.configuration[-1] == durable.state[-1] == "a.failed"
    assert "'charge'" in session.context["why"] and "'charge'" in durable.context["why"]


LEAVER = f"""<scxml {NS} name="a" initial="s0">
  <state id="s0">
    <invoke id="kid"><content><scxml initial="f" datamodel="python">
      <final id="f"><onexit><send target="#_parent" event="bye"/></onexit></final></scxml></content></invoke>
    <transition event="bye" target="s1"/>
  </state>
  <state id="s1"><transition event="done.invoke.kid" target="heard"/></state>
  <state id="heard"/>
</scxml>"""


def test_a_child_that_finished_before_its_state_was_left_still_reports_done(tmp_path: Path) -> None:
    """W3C test 236: the done event queued before the invoking state was left is applied after it."""
    runner = MemoryRunner()
    session = runner.start(_chart(LEAVER), sessionid="a1")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), _chart(LEAVER)) as app:
        durable = app.create("a", "a1").state
    assert session.configuration[-1] == durable[-1] == "heard"
