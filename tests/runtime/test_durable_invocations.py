"""Invocations over their whole life: stale results, failed starts, cancelled children, leases; and
pause/resume/cancel at their edges."""

from __future__ import annotations

import random
from pathlib import Path

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
