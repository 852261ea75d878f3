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


def test_a_send_to_an_ended_instance_is_error_communication_in_both_runtimes(tmp_path: Path) -> None:
    runner = MemoryRunner()
    talker = runner.start(_chart(TALKER), sessionid="a1")
    runner.start(_chart(LISTENER), sessionid="b1")
    runner.stop("b1")
    runner.send("a1", "GO")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), _chart(TALKER), _chart(LISTENER)) as app:
        app.create("a", "a1")
        app.create("b", "b1")
        app.cancel("b", "b1")
        app.send("a", "a1", "GO")
        app.run_until_idle()
        durable_errors = app.get("a", "a1").context["errors"]
        assert app.get("b", "b1").step == 1  # nothing was recorded on the ended instance
    ended = {"message": "send target 'instance:b/b1' is not reachable", "target": "instance:b/b1", "event": "hello"}
    assert [e["target"] for e in talker.context["errors"]] == [e["target"] for e in durable_errors] == [
        "instance:b/b1", "instance:b/nobody"]
    assert talker.context["errors"][0] == durable_errors[0] == ended


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


REPORTER = f"""<scxml {NS} name="a" initial="s"><datamodel><data id="seen" expr="None"/></datamodel>
  <state id="s">
    <invoke id="kid"><content><scxml initial="f" datamodel="python">
      <final id="f"><donedata><param name="x" expr="1"/></donedata></final></scxml></content></invoke>
    <transition event="done.invoke.kid" target="heard"><assign location="seen" expr="[_event.name,
      _event.type, _event.origintype, _event.invokeid, _event.data, _event.origin]"/></transition>
  </state>
  <state id="heard"/>
</scxml>"""


def test_a_finished_child_reports_the_same_done_event_in_both_runtimes(tmp_path: Path) -> None:
    """The effect interpreter (runtime/interpret.py) builds done.invoke for both runtimes; before, the
    in-memory runner's carried an origintype and the durable runtime's did not."""
    runner = MemoryRunner()
    session = runner.start(_chart(REPORTER), sessionid="a1")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), _chart(REPORTER)) as app:
        durable = app.create("a", "a1").context["seen"]
    memory = session.context["seen"]
    assert memory[:5] == durable[:5] == ["done.invoke.kid", "external", None, "kid", {"x": 1}]
    # each names the child by its own session id: runner session a1.kid, instance <inline machine>/a/a1/kid
    assert memory[5] == "#_scxml_a1.kid"
    assert durable[5].startswith("#_scxml_a#inline-") and durable[5].endswith("/a/a1/kid")


AGAIN = f"""<scxml {NS} name="a" initial="idle">
  <datamodel><data id="count" expr="0"/><data id="got" expr="[]"/></datamodel>
  <state id="idle"><transition event="GO" target="s"/></state>
  <state id="s"><onentry><assign location="count" expr="count + 1"/></onentry>
    <invoke id="kid"><param name="n" expr="count"/><content><scxml initial="f" datamodel="python">
      <datamodel><data id="n" expr="0"/></datamodel>
      <final id="f"><donedata><param name="n" expr="n"/></donedata></final></scxml></content></invoke>
    <transition event="AGAIN" target="s"/>
    <transition event="done.invoke.kid"><assign location="got" expr="got + [_event.data]"/></transition>
  </state>
</scxml>"""


def test_a_new_invocation_never_sees_what_the_old_one_left_queued_in_both_runtimes(tmp_path: Path) -> None:
    """The state is entered again while the first child's done event still waits behind AGAIN: the new
    invocation under the same id drops it (before, the in-memory runner applied it to the new one)."""
    runner = MemoryRunner()
    session = runner.start(_chart(AGAIN), sessionid="a1")
    runner.send("a1", "GO")
    runner.send("a1", "AGAIN")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock(), _chart(AGAIN)) as app:
        app.create("a", "a1")
        app.pause("a", "a1")  # both events wait in the inbox, as in the runner's queue
        app.send("a", "a1", "GO")
        app.send("a", "a1", "AGAIN")
        durable = app.resume("a", "a1").context["got"]
    assert session.context["got"] == durable == [{"n": 2}]


BY_SRC = f"""<scxml {NS} name="a" initial="s"><datamodel><data id="out" expr="None"/></datamodel>
  <state id="s"><invoke id="calc" src="calc"><param name="x" expr="20"/></invoke>
    <transition event="done.invoke.calc" target="ok"><assign location="out" expr="_event.data"/></transition>
    <transition event="error.*" target="bad"><assign location="out" expr="_event.data"/></transition>
  </state><state id="ok"/><state id="bad"/></scxml>"""


def _double(task: Task) -> Any:
    return {"y": task.input["x"] * 2}


def test_an_invoke_whose_src_names_a_service_calls_it_in_both_runtimes(tmp_path: Path) -> None:
    """What an invoke names is decided once (interpret.classify): a src naming a registered service
    calls it, also with the default SCXML type (before, the in-memory runner looked for a machine)."""
    runner = MemoryRunner(services={"calc": _double})
    session = runner.start(_chart(BY_SRC), sessionid="a1")
    runner.run_until_idle()
    with open_app(tmp_path / "d.db", VirtualClock()) as app:
        app.service("calc", _double)
        app.register(_chart(BY_SRC))
        app.create("a", "a1")
        app.run_until_idle()
        durable = app.get("a", "a1")
    assert session.context["out"] == durable.context["out"] == {"y": 40}
    assert session.configuration[-1] == durable.state[-1] == "ok"
