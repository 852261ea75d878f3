"""Writes are plain values (runtime/writes.py): the API and the worker submit the same commands, and
each answers with a named result."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from interlock.core.events import Event
from interlock.errors import ConflictError
from interlock.runtime import writes
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart


def test_a_command_is_frozen_comparable_data() -> None:
    send = writes.Send("order", "o1", Event("ACCEPT"), idempotency_key="k")
    assert send == writes.Send("order", "o1", Event("ACCEPT"), idempotency_key="k")
    assert send != writes.Send("order", "o1", Event("ACCEPT"))
    assert dataclasses.asdict(writes.Pause("order", "o1")) == {"machine": "order", "id": "o1", "caller": None}
    with pytest.raises(dataclasses.FrozenInstanceError):
        send.machine = "other"  # type: ignore[misc]


def test_commands_submitted_to_the_writer_answer_with_named_results(tmp_path: Path) -> None:
    clock = VirtualClock(100.0)
    with open_app(tmp_path / "w.db", clock, order_chart()) as app:
        writer = app.runtime.writer
        created = writer.call(writes.Create("order", "o1", {"n": 5}))
        assert isinstance(created, writes.Written)
        assert (created.instance.machine, created.instance.id, created.instance.step) == ("order", "o1", 0)
        sent = writer.call(writes.Send("order", "o1", Event("ACCEPT"), idempotency_key="req-1"))
        assert (sent.outcome, sent.step, sent.duplicate) == ("applied", 1, False)
        again = writer.call(writes.Send("order", "o1", Event("ACCEPT"), idempotency_key="req-1"))
        assert (again.outcome, again.step, again.duplicate) == ("applied", 1, True)
        assert writer.call(writes.Pause("order", "o1")).instance.paused is True
        assert writer.call(writes.Send("order", "o1", Event("SHIP"))).outcome == "queued"
        writer.call(writes.Resume("order", "o1"))
        # the API reads what the commands wrote: one write path
        inst = app.get("order", "o1")
        assert (inst.status, inst.step, inst.context["n"]) == ("done", 2, 6)
        with pytest.raises(ConflictError, match="already done"):
            writer.call(writes.Cancel("order", "o1"))


def test_a_work_round_fires_due_timers_as_a_command(tmp_path: Path) -> None:
    clock = VirtualClock(100.0)
    with open_app(tmp_path / "t.db", clock, order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT")  # schedules EXPIRE in 5 s
        idle = app.runtime.writer.call(writes.WorkRound("me", (), 0, 10))
        assert idle == writes.RoundDone(0, [])
        clock.advance(5)
        fired = app.runtime.writer.call(writes.WorkRound("me", (), 0, 10))
        assert fired.done >= 1 and fired.tasks == []
        assert app.get("order", "o1").state == ("expired",)
