"""An instance's ``queued`` is the number of events in its inbox, whatever added or removed them: sends
while paused, a timer that fired while paused, a ``<cancel>`` that drops a fired timer's event, a cancel
of the instance. The store keeps the count (storage/store.py); this reads it back against the table."""

from __future__ import annotations

from pathlib import Path

from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart, query_store


def _inbox(path: Path) -> int:
    return int(query_store(path, "SELECT COUNT(*) FROM inbox")[0][0])  # type: ignore[call-overload]


def test_queued_counts_the_inbox_through_pause_timers_cancel_and_resume(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    clock = VirtualClock(100.0)
    with open_app(db, clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")  # arms the 5 s expiry timer
        app.pause("order", "o1")
        assert app.send("order", "o1", "KEEP").outcome == "queued"
        clock.advance(6)
        app.run_until_idle()  # the timer fires into the paused instance's inbox
        assert (app.get("order", "o1").queued, _inbox(db)) == (2, 2)
        inst = app.resume("order", "o1")  # KEEP's <cancel> drops the fired EXPIRE from the inbox
        assert (inst.queued, inst.state, _inbox(db)) == (0, ("accepted",), 0)
        assert [e.event["name"] for e in app.history("order", "o1").items[1:] if e.event] == ["ACCEPT", "KEEP"]
        app.pause("order", "o1")
        for _ in range(3):
            app.send("order", "o1", "SHIP")
        assert (app.get("order", "o1").queued, _inbox(db)) == (3, 3)
        inst = app.cancel("order", "o1")
        assert (inst.queued, inst.status, _inbox(db)) == (0, "cancelled", 0)
