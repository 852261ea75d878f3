"""Invocations over their whole life: stale results, failed starts, cancelled children, leases; and
pause/resume/cancel at their edges."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.errors import NotFoundError
from interlock.runtime import commands
from interlock.runtime.clock import VirtualClock
from interlock.runtime.retry import RetryPolicy
from tests.runtime.durable_support import open_app, order_chart, scxml

# A state that invokes a service and can be entered again (RETRY): each entry is a new invocation "pay".
RETRYING = scxml("""
<datamodel><data id="result" expr="None"/></datamodel>
<state id="paying">
  <invoke id="pay" src="service:charge"/>
  <transition event="RETRY" target="paying"/>
  <transition event="done.invoke.pay" target="paid"><assign location="result" expr="_event.data"/></transition>
</state><state id="paid"/>""", name="pay", initial="paying")

def names(app: Interlock, machine: str, id: str) -> list[str | None]:
    return [e.event["name"] if e.event else None for e in app.history(machine, id).items]


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


def test_an_ended_instance_that_is_paused_again_still_ignores_events(tmp_path: Path) -> None:
    with open_app(tmp_path / "o.db", VirtualClock(), order_chart()) as app:
        app.create("order", "c")
        app.cancel("order", "c")
        app.pause("order", "c")
        assert app.send("order", "c", "ACCEPT").outcome == "ignored"
        assert app.get("order", "c").queued == 0


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
