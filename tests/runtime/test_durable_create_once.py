"""A new instance's row is encoded once and written once when its first macrostep leaves it as inserted
(runtime/apply.py, ``create``); a start that changes it afterwards (its instance finished at once, or it
queued an event for itself) is written again, as before. Every store: the row's ``revision`` counts the
writes after the insert."""

from __future__ import annotations

from pathlib import Path

from interlock import machine
from interlock.app import Interlock
from interlock.runtime.clock import VirtualClock
from interlock.storage.store import InstanceRow
from tests.runtime.durable_support import open_app, order_chart, scxml


def _row(app: Interlock, machine_name: str, id: str) -> InstanceRow:
    with app.runtime.read() as tx:
        row = tx.get_instance(machine_name, id)
    assert row is not None
    return row


def test_a_start_that_leaves_the_row_as_inserted_writes_it_once(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1", input={"n": 2, "tags": ("a", "b")})
        row = _row(app, "order", "o1")
        assert (row.status, row.step, row.queued, row.revision) == ("active", 0, 0, 0)
        assert row.snapshot["context"] == {"n": 2, "seen": [], "tags": ["a", "b"]}  # as a restart reads it
        assert app.get("order", "o1").context["tags"] == ["a", "b"]
        app.send("order", "o1", "ACCEPT")  # the cached row goes on from the revision it was inserted at
        assert _row(app, "order", "o1").revision == 1
        assert app.get("order", "o1").context["n"] == 3


def test_a_start_that_finishes_the_instance_writes_its_end(tmp_path: Path) -> None:
    instant = machine({"id": "instant", "initial": "end", "context": {"v": 1},
                       "states": {"end": {"type": "final", "output": {"v": "context.v"}}}})
    with open_app(tmp_path / "d.db", VirtualClock(), instant) as app:
        ended = app.execute("instant", "i1")
        assert (ended.status, ended.output) == ("done", {"v": 1})
        row = _row(app, "instant", "i1")
        assert (row.status, row.step, row.revision) == ("done", 0, 1)


def test_a_start_that_queues_an_event_for_itself_writes_the_count(tmp_path: Path) -> None:
    chart = scxml("""
<state id="a"><onentry><send event="GO"/></onentry><transition event="GO" target="b"/></state>
<state id="b"/>""", name="selfsend", initial="a")
    with open_app(tmp_path / "e.db", VirtualClock(), chart) as app:
        created = app.create("selfsend", "s1")
        assert created.state == ("b",)  # the queued GO was applied in the same write
        row = _row(app, "selfsend", "s1")
        assert (row.step, row.queued) == (1, 0)
