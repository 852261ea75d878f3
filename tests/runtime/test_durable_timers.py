"""Durable timers: fire when due, once, after restarts; cancelled timers never fire; paused queue them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart, store_url


def outcomes(app, name: str = "EXPIRE") -> list[int]:
    return [e.step for e in app.history("order", "o1").items if e.event and e.event["name"] == name]


def test_a_timer_fires_when_due_and_only_once(tmp_path: Path) -> None:
    clock = VirtualClock(1000.0)
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")
        clock.advance(4.9)
        assert app.run_until_idle() == 0
        assert app.get("order", "o1").state == ("accepted",)
        clock.advance(0.2)
        app.run_until_idle()
        assert app.get("order", "o1").state == ("expired",)
        clock.advance(100)
        assert app.run_until_idle() == 0
        assert len(outcomes(app)) == 1
        [fired] = [e for e in app.history("order", "o1").items if e.event and e.event["name"] == "EXPIRE"]
        assert fired.event["sendid"] == "expiry" and fired.cause == "order/o1#1.0"


def test_two_timers_due_at_once_where_the_first_cancels_the_second_fire_the_first(tmp_path: Path) -> None:
    """Both due when the worker looks (a late poll, a restart): one transaction queues both events, the
    first leaves the state and cancels the other, whose event is then removed from the queue again in the
    same transaction. (A write-behind queue emptied so once failed every commit: no timer of the database
    fired again.)"""
    from interlock import load_document

    chart = load_document({"id": "two", "initial": "s", "states": {"s": {"after": {"1s": "t", "2s": "u"}},
                                                                   "t": {}, "u": {}}})
    clock = VirtualClock(1000.0)
    with open_app(tmp_path / "t.db", clock, chart, order_chart()) as app:
        app.create("two", "x")
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")  # another instance's timer, due in the same round
        clock.advance(10)
        app.run_until_idle()
        assert app.get("two", "x").state == ("two.t",)
        assert app.get("order", "o1").state == ("expired",)
        assert app.run_until_idle() == 0


def test_a_cancelled_timer_never_fires(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")
        app.send("order", "o1", "KEEP")
        clock.advance(60)
        app.run_until_idle()
        assert app.get("order", "o1").state == ("accepted",)
        assert outcomes(app) == []


def test_a_timer_fires_after_a_restart_late_but_not_lost(tmp_path: Path) -> None:
    clock = VirtualClock(50.0)
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")
    clock.advance(3600)  # the process was down for an hour
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.run_until_idle()
        assert app.get("order", "o1").state == ("expired",)
        assert len(outcomes(app)) == 1


def test_a_paused_instance_queues_its_timer_until_resumed(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")
        app.pause("order", "o1")
        clock.advance(10)
        app.run_until_idle()
        inst = app.get("order", "o1")
        assert (inst.state, inst.queued) == (("accepted",), 1)
        assert app.resume("order", "o1").state == ("expired",)


def test_cancelling_removes_a_fired_timer_event_still_in_the_queue(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")
        app.pause("order", "o1")
        app.send("order", "o1", "KEEP")  # queued before the timer fires
        clock.advance(10)
        app.run_until_idle()
        assert app.get("order", "o1").queued == 2
        inst = app.resume("order", "o1")  # KEEP cancels "expiry", whose event is queued behind it
        assert (inst.state, inst.queued) == (("accepted",), 0)
        assert outcomes(app) == []


def test_the_background_worker_fires_timers_on_the_wall_clock(tmp_path: Path) -> None:
    from interlock.app import Interlock

    with Interlock(store_url(tmp_path / 'w.db'), poll=0.05) as app:
        app.register(order_chart())
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")
        app.runtime.writer.call(lambda unit: unit.tx.conn.execute("UPDATE timers SET due_at = 0"))
        deadline = time.monotonic() + 10  # a bound for a stuck worker, not a timing assertion
        while app.get("order", "o1").state != ("expired",) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert app.get("order", "o1").state == ("expired",)


@pytest.mark.parametrize("target", ["", "targetexpr=\"'#_scxml_' + _sessionid\"", 'target="instance:canceller/x"'])
def test_cancel_drops_a_fired_timer_queued_in_its_sender_however_it_was_addressed(tmp_path: Path,
                                                                                 target: str) -> None:
    from tests.runtime.durable_support import scxml

    chart = scxml(f"""<datamodel><data id="got" expr="[]"/></datamodel>
<state id="s">
  <transition event="ARM"><send id="t" event="T" delay="1s" {target}/></transition>
  <transition event="STOP"><cancel sendid="t"/></transition>
  <transition event="T"><assign location="got" expr="got + ['T']"/></transition>
</state>""", name="canceller", initial="s")
    clock = VirtualClock()
    with open_app(tmp_path / "c.db", clock, chart) as app:
        app.create("canceller", "x")
        app.send("canceller", "x", "ARM")
        app.pause("canceller", "x")
        app.send("canceller", "x", "STOP")  # queued: it will cancel t
        clock.advance(1)
        app.run_until_idle()  # t fires; its event queues behind STOP
        assert app.resume("canceller", "x").context["got"] == []
