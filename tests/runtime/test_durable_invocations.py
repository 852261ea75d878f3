"""Invocations over their whole life: stale results, failed starts, cancelled children, leases; and
pause/resume/cancel at their edges."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.errors import ConflictError, NotFoundError
from interlock.runtime import commands
from interlock.runtime.clock import VirtualClock
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task
from tests.runtime.durable_support import child_chart, open_app, order_chart, parent_chart, scxml

# A state that invokes a service and can be entered again (RETRY): each entry is a new invocation "pay".
RETRYING = scxml("""
<datamodel><data id="result" expr="None"/></datamodel>
<state id="paying">
  <invoke id="pay" src="service:charge"/>
  <transition event="RETRY" target="paying"/>
  <transition event="done.invoke.pay" target="paid"><assign location="result" expr="_event.data"/></transition>
</state><state id="paid"/>""", name="pay", initial="paying")

KID = scxml("""
<state id="w">
  <transition event="PING"><send event="PONG" target="#_parent"/></transition>
  <transition event="LATER"><send event="PONG" target="#_parent" delay="1s"/></transition>
  <transition event="SHOUT"><send event="PONG" target="instance:par/x"/></transition>
  <transition event="FINISH" target="end"/>
</state>
<final id="end"><donedata><param name="who" expr="_sessionid"/></donedata></final>""", name="kid", initial="w")

# RESTART leaves and enters W again (a new child); CYCLE finishes the child and restarts in one step.
PAR = scxml("""
<datamodel><data id="pongs" expr="0"/><data id="who" expr="None"/></datamodel>
<state id="W">
  <invoke id="job" src="machine:kid"/>
  <transition event="RESTART" target="W"/>
  <transition event="CYCLE"><send event="FINISH" target="#_job"/><send event="RESTART"/></transition>
  <transition event="PONG"><assign location="pongs" expr="pongs + 1"/></transition>
  <transition event="done.invoke.job" target="finished"><assign location="who" expr="_event.data['who']"/></transition>
</state>
<state id="finished"/>""", name="par", initial="W")


def names(app: Interlock, machine: str, id: str) -> list[str | None]:
    return [e.event["name"] if e.event else None for e in app.history(machine, id).items]


def kids(app: Interlock) -> dict[str, str]:
    return {i.id: i.status for i in app.list("kid").items}


# -- 1. an invocation's events never reach the next invocation under the same id ----------------------

def test_a_queued_task_result_of_a_cancelled_invocation_is_dropped(tmp_path: Path) -> None:
    runs: list[str] = []

    def charge(task: Task) -> str:
        runs.append(task.key)
        return task.key

    with open_app(tmp_path / "t.db", VirtualClock(), RETRYING) as app:
        app.service("charge", charge, retry=RetryPolicy(jitter=0))
        app.create("pay", "p1")
        app.pause("pay", "p1")
        app.send("pay", "p1", "RETRY")  # queued: it will exit "paying" and enter it again
        app.run_until_idle()  # the first task runs; its result queues behind RETRY
        assert runs == ["pay/p1#0.0"] and app.get("pay", "p1").queued == 2
        inst = app.resume("pay", "p1")
        assert (inst.state, inst.context["result"], inst.queued) == (("paying",), None, 0)
        assert names(app, "pay", "p1") == [None, "RETRY"]  # the stale result was never applied
        app.run_until_idle()  # the second invocation's task
        inst = app.get("pay", "p1")
        assert runs == ["pay/p1#0.0", "pay/p1#1.1"]
        assert (inst.state, inst.context["result"]) == (("paid",), "pay/p1#1.1")
        assert app.history("pay", "p1").items[-1].cause == "pay/p1#1.1"


def test_queued_events_of_a_cancelled_child_are_dropped(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "c.db", clock, KID, PAR) as app:
        app.create("par", "x")
        app.pause("par", "x")
        app.send("par", "x", "RESTART")
        app.send("kid", "par/x/job", "PING")  # PONG to #_parent: queued in the paused parent
        app.send("kid", "par/x/job", "SHOUT")  # the same, addressed as instance:par/x
        app.send("kid", "par/x/job", "LATER")  # the same, by a timer
        clock.advance(1)
        app.run_until_idle()
        app.send("kid", "par/x/job", "FINISH")  # the child ends; done.invoke.job queued too
        assert app.get("par", "x").queued == 5
        inst = app.resume("par", "x")
        assert (inst.state, inst.context["pongs"], inst.queued) == (("W",), 0, 0)
        assert names(app, "par", "x") == [None, "RESTART"]
        assert kids(app) == {"par/x/job": "done", "par/x/job~1.1": "active"}
        # the new child is the one the parent hears from
        inst = app.send("kid", "par/x/job~1.1", "FINISH").instance
        assert (app.get("par", "x").state, app.get("par", "x").context["who"]) == (("finished",),
                                                                                   "kid/par/x/job~1.1")
        assert inst.status == "done"


def test_events_of_a_cancelled_child_queued_in_the_same_transaction_are_dropped(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), KID, PAR) as app:
        app.create("par", "x")
        # one transaction: the child finishes (its done event waits behind RESTART in the parent's
        # inbox, never written to the table), then RESTART cancels the invocation and starts a new one
        result = app.send("par", "x", "CYCLE")
        assert result.instance.state == ("W",)
        assert (result.instance.context["who"], result.instance.queued) == (None, 0)
        assert names(app, "par", "x") == [None, "CYCLE", "RESTART"]
        assert kids(app) == {"par/x/job": "done", "par/x/job~2.1": "active"}


def test_results_of_the_current_invocation_still_arrive_after_other_queued_events(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), KID, PAR) as app:
        app.create("par", "x")
        app.pause("par", "x")
        app.send("kid", "par/x/job", "PING")
        app.send("kid", "par/x/job", "FINISH")
        inst = app.resume("par", "x")  # nothing cancelled the invocation: both are applied
        assert (inst.state, inst.context["pongs"]) == (("finished",), 1)
        assert names(app, "par", "x") == [None, "PONG", "done.invoke.job"]


# -- 2. a child that cannot start raises error.execution in its parent ----------------------------

BAD_CHILD = scxml('<datamodel><data id="x" expr="{1, 2}"/></datamodel><state id="w"/>',
                  name="badchild", initial="w")
# the child's first send reaches the parent's inbox, then its second (data that is not JSON) fails
HALF_CHILD = scxml("""
<state id="w"><onentry>
  <send event="HELLO" target="#_parent"/>
  <send event="BAD" target="#_parent"><param name="d" expr="{1, 2}"/></send>
</onentry></state>""", name="halfchild", initial="w")
STARTER = scxml("""
<datamodel><data id="error" expr="None"/><data id="hello" expr="False"/></datamodel>
<state id="idle">
  <transition event="GO" target="running"/>
  <transition event="HALF" target="half"/>
</state>
<state id="running">
  <onentry><send event="NOTE"/></onentry>
  <invoke id="job" src="machine:badchild"/>
  <transition event="error.execution" target="failed"><assign location="error" expr="_event.data"/></transition>
</state>
<state id="half">
  <invoke id="job" src="machine:halfchild"/>
  <transition event="HELLO"><assign location="hello" expr="True"/></transition>
  <transition event="error.execution" target="failed"><assign location="error" expr="_event.data"/></transition>
</state>
<state id="failed"><transition event="NOTE"/></state>""", name="starter", initial="idle")


def test_a_child_that_cannot_be_stored_raises_error_execution_in_the_parent(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), BAD_CHILD, HALF_CHILD, STARTER) as app:
        app.create("starter", "s")
        result = app.send("starter", "s", "GO")  # the parent's step succeeds
        assert (result.outcome, result.step) == ("applied", 1)
        inst = app.get("starter", "s")
        assert inst.state == ("failed",)
        assert inst.context["error"]["invokeid"] == "job"
        assert "failed to start" in inst.context["error"]["message"]
        assert "not JSON" in inst.context["error"]["message"]
        with pytest.raises(NotFoundError):
            app.get("badchild", "starter/s/job")  # nothing of the child stays
        # the parent's own effects of that step were kept: its NOTE arrived as well
        assert names(app, "starter", "s") == [None, "GO", "NOTE", "error.execution"]


def test_a_failed_child_start_through_the_queue(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), BAD_CHILD, HALF_CHILD, STARTER) as app:
        app.create("starter", "s")
        app.pause("starter", "s")
        assert app.send("starter", "s", "GO").outcome == "queued"
        inst = app.resume("starter", "s")
        assert (inst.state, inst.queued) == (("failed",), 0)
        assert [e.outcome for e in app.history("starter", "s").items] == ["started", "applied", "ignored",
                                                                           "applied"]


def test_a_child_that_fails_halfway_through_its_start_leaves_nothing_behind(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), BAD_CHILD, HALF_CHILD, STARTER) as app:
        app.create("starter", "s")
        inst = app.send("starter", "s", "HALF").instance
        # the child's HELLO was rolled back with it; the parent's inbox count is right
        assert (inst.state, inst.context["hello"], inst.queued) == (("failed",), False, 0)
        assert names(app, "starter", "s") == [None, "HALF", "error.execution"]
        assert app.list("halfchild").items == ()
        assert app.send("starter", "s", "NOTE").outcome == "applied"  # the instance carries on
        app.run_until_idle()
        assert app.get("starter", "s").queued == 0


def test_a_failed_child_start_in_a_batch_of_commands_fails_no_one(tmp_path: Path) -> None:
    async def main(app: Interlock) -> list[str]:
        sends = [app.aio.send("starter", f"s{i}", "GO" if i % 2 else "HALF") for i in range(20)]
        return [r.instance.state[0] for r in await asyncio.gather(*sends)]

    with open_app(tmp_path / "c.db", VirtualClock(), BAD_CHILD, HALF_CHILD, STARTER) as app:
        for i in range(20):
            app.create("starter", f"s{i}")
        assert asyncio.run(main(app)) == ["failed"] * 20
        assert all(app.get("starter", f"s{i}").queued == 0 for i in range(20))


# -- 3. cancel() of a paused instance ----------------------------------------------------------------

def test_a_paused_instance_that_is_cancelled_ignores_later_events(tmp_path: Path) -> None:
    with open_app(tmp_path / "o.db", VirtualClock(), order_chart()) as app:
        app.create("order", "c")
        app.pause("order", "c")
        app.send("order", "c", "ACCEPT", idempotency_key="early")  # queued, then dropped by cancel
        inst = app.cancel("order", "c")
        assert (inst.status, inst.paused, inst.queued) == ("cancelled", False, 0)
        result = app.send("order", "c", {"type": "NOTE", "i": 1}, idempotency_key="k")
        assert (result.outcome, result.step, result.duplicate) == ("ignored", 2, False)
        again = app.send("order", "c", {"type": "NOTE", "i": 1}, idempotency_key="k")
        assert (again.outcome, again.step, again.duplicate) == ("ignored", 2, True)
        late = app.send("order", "c", "ACCEPT", idempotency_key="early")
        assert (late.outcome, late.duplicate) == ("ignored", False)
        assert [e.outcome for e in app.history("order", "c").items] == ["started", "cancelled", "ignored",
                                                                         "ignored"]
        assert app.get("order", "c").queued == 0


def test_an_ended_instance_cannot_be_paused_and_ignores_events(tmp_path: Path) -> None:
    with open_app(tmp_path / "o.db", VirtualClock(), order_chart()) as app:
        app.create("order", "c")
        app.cancel("order", "c")
        with pytest.raises(ConflictError, match="order/c is cancelled; only active instances can be paused"):
            app.pause("order", "c")
        assert app.send("order", "c", "ACCEPT").outcome == "ignored"
        assert app.get("order", "c").queued == 0


# -- 4. a child cancelled by a caller tells its parent ----------------------------------------------

WATCHER = scxml("""
<datamodel><data id="error" expr="None"/></datamodel>
<state id="waiting">
  <invoke id="job" src="machine:child"><param name="amount" expr="1"/></invoke>
  <transition event="error.invoke.job" target="orphaned"><assign location="error" expr="_event.data"/></transition>
  <transition event="STOP" target="stopped"/>
</state>
<state id="orphaned"/><state id="stopped"/>""", name="watcher", initial="waiting")


def test_a_child_cancelled_by_a_caller_raises_error_invoke_in_its_parent(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), child_chart(), WATCHER) as app:
        app.create("watcher", "w")
        app.cancel("child", "watcher/w/job")
        inst = app.get("watcher", "w")  # applied before cancel() returned
        assert inst.state == ("orphaned",)
        assert inst.context["error"]["id"] == "watcher/w/job"
        assert "cancelled" in inst.context["error"]["message"]
        [entry] = [e for e in app.history("watcher", "w").items if e.event and e.event["name"] ==
                   "error.invoke.job"]
        assert entry.event is not None and entry.event["invokeid"] == "job"
        assert entry.cause == "child/watcher/w/job#1"


def test_a_paused_parent_gets_the_child_cancellation_when_resumed(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), child_chart(), WATCHER) as app:
        app.create("watcher", "w")
        app.pause("watcher", "w")
        app.cancel("child", "watcher/w/job")
        assert app.get("watcher", "w").queued == 1
        assert app.resume("watcher", "w").state == ("orphaned",)


def test_a_child_cancelled_with_its_invoking_state_does_not_report(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), child_chart(), parent_chart(), WATCHER) as app:
        app.create("watcher", "w")
        app.send("watcher", "w", "STOP")
        assert app.get("child", "watcher/w/job").status == "cancelled"
        assert names(app, "watcher", "w")[-1] == "STOP"
        app.create("parent", "p")  # a parent with no handler: the error is recorded as ignored
        app.cancel("child", "parent/p/job")
        assert app.history("parent", "p").items[-1].outcome == "ignored"


# -- 5. resume() applies up to the per-command budget; the worker the rest ----------------------------

def test_resume_applies_up_to_the_budget_and_the_worker_the_rest_in_order(tmp_path: Path) -> None:
    with open_app(tmp_path / "o.db", VirtualClock(), order_chart(), synchronous="OFF") as app:
        app.create("order", "o")
        app.pause("order", "o")
        for i in range(1200):
            app.send("order", "o", {"type": "NOTE", "i": i})
        inst = app.resume("order", "o")
        assert (inst.paused, inst.queued, len(inst.context["seen"])) == (False, 200, 1000)
        app.send("order", "o", {"type": "NOTE", "i": "late"})  # arrives behind the rest
        app.run_until_idle()
        inst = app.get("order", "o")
        assert inst.queued == 0
        assert inst.context["seen"] == [*range(1200), "late"]


# -- 6. a heartbeat lease has a margin ---------------------------------------------------------------

def test_a_heartbeat_lease_lasts_twice_the_interval(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, RETRYING) as app:
        app.service("charge", lambda task: task.attempt, retry=RetryPolicy(heartbeat=5, jitter=0))
        app.create("pay", "p1")
        [task] = app.runtime.writer.call(lambda unit: commands.claim(
            unit, owner="slow", services=["charge"], limit=1, rng=random.Random(0)))
        assert task.lease_until == clock.now() + 10
        clock.advance(7)  # a beat 2 s late: the task is still this worker's
        assert app.run_until_idle() == 0
        assert app.runtime.writer.call(lambda unit: commands.heartbeat(unit, task, "slow"))
        clock.advance(9.5)  # 9.5 s after that beat: still held
        assert app.run_until_idle() == 0
        clock.advance(0.5)  # two intervals without a beat: another worker takes it over
        app.run_until_idle()
        inst = app.get("pay", "p1")
        assert (inst.state, inst.context["result"]) == (("paid",), 2)
        assert not app.runtime.writer.call(lambda unit: commands.heartbeat(unit, task, "slow"))


# A child whose start loops (v == 1) fails; with v == 2 it starts. The parent counts its entries into W.
LOOPY = scxml("""<datamodel><data id="v" expr="0"/></datamodel>
<state id="a"><transition cond="v == 1" target="b"/></state>
<state id="b"><transition cond="v == 1" target="a"/></state>""", name="loopy", initial="a")
REENTERING = scxml("""<datamodel><data id="n" expr="0"/></datamodel>
<state id="idle"><transition event="ENTER" target="W"/></state>
<state id="W">
  <onentry><assign location="n" expr="n + 1"/></onentry>
  <invoke id="job" src="machine:loopy"><param name="v" expr="n"/></invoke>
  <transition event="RESTART" target="W"/>
  <transition event="error.execution" target="broken"/>
</state>
<state id="broken"/>""", name="reenter", initial="idle")


def test_a_failed_start_of_a_cancelled_invocation_does_not_reach_the_next_one(tmp_path: Path) -> None:
    with open_app(tmp_path / "s.db", VirtualClock(), LOOPY, REENTERING) as app:
        app.create("reenter", "x")
        app.pause("reenter", "x")
        app.send("reenter", "x", "ENTER")  # invocation 1 fails to start: its error.execution queues
        app.send("reenter", "x", "RESTART")  # leaves W (cancelling invocation 1) and starts invocation 2
        inst = app.resume("reenter", "x")
        assert (inst.state, inst.context["n"]) == (("W",), 2)
        assert {i.id: i.status for i in app.list("loopy").items} == {"reenter/x/job": "active"}
        assert "error.execution" not in names(app, "reenter", "x")
