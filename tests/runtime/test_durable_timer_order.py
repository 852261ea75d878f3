"""Timers due at the same time fire in the order they were scheduled (step, then effect index), as in the
in-memory runner: in one firing batch, across batches, and across steps."""

from __future__ import annotations

from pathlib import Path

from interlock.app import Interlock
from interlock.runtime.clock import VirtualClock
from interlock.runtime.memory import MemoryRunner
from tests.runtime.durable_support import open_app, scxml

# SEND schedules `count` timers (delay `delay` s) in one step; LATE schedules one more, tagged 'late'.
CHART = scxml("""
<datamodel><data id="got" expr="[]"/></datamodel>
<state id="s">
  <transition event="SEND">
    <foreach array="list(range(_event.data['count']))" item="i">
      <send event="T" delayexpr="str(_event.data['delay']) + 's'"><param name="i" expr="i"/></send>
    </foreach>
  </transition>
  <transition event="LATE"><send event="T" delay="1s"><param name="i" expr="'late'"/></send></transition>
  <transition event="T"><assign location="got" expr="got + [_event.data['i']]"/></transition>
</state>""", name="tm", initial="s")


def fired(app: Interlock, id: str = "a") -> list[object]:
    got: list[object] = app.get("tm", id).context["got"]
    return got


def test_twelve_timers_with_the_same_delay_fire_in_the_order_sent(tmp_path: Path) -> None:
    clock = VirtualClock(0)
    with open_app(tmp_path / "t.db", clock, CHART) as app:
        app.create("tm", "a")
        app.send("tm", "a", {"type": "SEND", "count": 12, "delay": 1})
        clock.advance(2)
        app.run_until_idle()
        assert fired(app) == list(range(12))


def test_the_order_holds_across_firing_batches(tmp_path: Path) -> None:
    clock = VirtualClock(0)
    with open_app(tmp_path / "t.db", clock, CHART) as app:
        batch = app.runtime.worker.batch  # the most timers one round fires
        count = batch + 15
        app.create("tm", "a")
        app.send("tm", "a", {"type": "SEND", "count": count, "delay": 1})
        clock.advance(2)
        assert app.runtime.worker.run_once(inline=True) >= batch  # the first batch
        assert fired(app) == list(range(batch))
        app.run_until_idle()
        assert fired(app) == list(range(count))


def test_timers_of_two_steps_due_at_the_same_time_fire_in_the_order_scheduled(tmp_path: Path) -> None:
    """Step 1 schedules 11 timers due at t=2; step 2, a second later, one more due at t=2 as well."""
    clock = VirtualClock(0)
    with open_app(tmp_path / "t.db", clock, CHART) as app:
        for id in ("a", "b"):
            app.create("tm", id)
        app.send("tm", "a", {"type": "SEND", "count": 11, "delay": 2})
        clock.advance(1)
        app.send("tm", "a", "LATE")
        app.send("tm", "b", {"type": "SEND", "count": 3, "delay": 1})
        clock.advance(1)
        app.run_until_idle()
        durable = fired(app)
        assert durable == [*range(11), "late"] and fired(app, "b") == [0, 1, 2]

    runner = MemoryRunner(clock=VirtualClock(0))
    session = runner.start(CHART)
    runner.send(session.id, {"type": "SEND", "count": 11, "delay": 2})
    runner.advance(1)
    runner.send(session.id, "LATE")
    runner.advance(1)
    assert session.context["got"] == durable
