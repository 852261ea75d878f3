"""Invoked machines become child instances; sends between instances keep their order."""

from __future__ import annotations

from pathlib import Path

from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import (
    child_chart,
    open_app,
    parent_chart,
    receiver_chart,
    sender_chart,
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
