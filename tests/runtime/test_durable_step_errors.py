"""A guard or action that fails at run time leaves a trace: on the history entry, in the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from interlock import load_document
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app

PAY = load_document({"id": "pay", "initial": "idle", "context": {"total": 0}, "states": {
    "idle": {"on": {"PAY": {"guard": "event.amount > 10", "target": "paid"},
                    "ADD": {"actions": {"assign": {"total": "context.total + event.amount"}}}}},
    "paid": {}}})


def test_a_failing_guard_is_recorded_on_the_ignored_step_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with open_app(tmp_path / "g.db", VirtualClock(), PAY) as app:
        app.create("pay", "p1")
        with caplog.at_level(logging.WARNING, logger="interlock.runtime"):
            assert app.send("pay", "p1", {"type": "PAY", "amt": 20}).outcome == "ignored"
        entry = app.history("pay", "p1").items[1]
        assert entry.outcome == "ignored"
        assert entry.error == ("error.execution: guard 'event.amount > 10': EvaluationError: 'event.amount "
                               "> 10': the event 'PAY' has no field or data key 'amount'")
        [record] = caplog.records
        assert record.getMessage() == f"step 1 of pay/p1 (ignored 'PAY') raised errors:\n{entry.error}"
        assert app.send("pay", "p1", {"type": "PAY", "amount": 20}).outcome == "applied"
        assert app.history("pay", "p1").items[2].error is None


def test_a_failing_assignment_is_recorded_and_an_xstate_shaped_event_gets_the_hint(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with open_app(db, VirtualClock(), PAY) as app:
        app.create("pay", "p1")
        assert app.send("pay", "p1", {"type": "ADD", "data": {"amount": 5}}).outcome == "applied"
    with open_app(db, VirtualClock(), PAY) as app:  # as stored
        entry = app.history("pay", "p1").items[1]
        assert entry.error is not None
        first, hint = entry.error.splitlines()
        assert first.startswith("error.execution: EvaluationError: 'context.total + event.amount'")
        assert hint.startswith("hint: the event's fields are under 'data'")
        assert "event.data.data.FIELD" in hint
        assert app.get("pay", "p1").context == {"total": 0}
