"""The limits of one step in the durable runtime (wall clock, expression budget), over a real SQLite file.

A Python guard that keeps running (sleeping in short slices, as a slow call would) trips the limit: the
step is aborted, its event refused with StepLimitError (raised to the sender, or recorded as ``failed``
for a queued event), nothing it did is kept, and the writer goes on with other events and instances.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from interlock.app import Interlock
from interlock.core.chart import Chart
from interlock.errors import StepLimitError
from interlock.frontends.document import load_document
from interlock.runtime.clock import VirtualClock
from interlock.runtime.watchdog import Watchdog
from tests.runtime.durable_support import open_app


def _slow(context: dict[str, Any], event: Any) -> bool:
    for _ in range(300):  # up to 3 s, in slices: the watchdog's interrupt lands between them
        time.sleep(0.01)
    return True


def _chart() -> Chart:
    return load_document({"id": "job", "initial": "idle", "context": {"n": 0}, "states": {"idle": {"on": {
        "SLOW": {"guard": "slow", "target": "done", "actions": {"assign": {"n": "n + 100"}}},
        "FAST": {"actions": {"assign": {"n": "n + 1"}}}}}, "done": {}}}, guards={"slow": _slow})


def test_a_step_over_the_limit_is_refused_and_the_writer_goes_on(tmp_path: Path) -> None:
    with open_app(tmp_path / "t.db", VirtualClock(100.0), _chart(), step_time_limit=0.2) as app:
        app.create("job", "a")
        app.create("job", "b")
        started = time.monotonic()
        with pytest.raises(StepLimitError, match=r"on event 'SLOW' ran longer than its wall-clock limit of 0\.2 s"):
            app.send("job", "a", "SLOW")
        assert time.monotonic() - started < 2.5  # aborted, not run to its end (3 s)
        assert (app.get("job", "a").state, app.get("job", "a").step) == (("job.idle",), 0)  # nothing kept
        assert app.send("job", "b", "FAST").instance.context["n"] == 1
        assert app.send("job", "a", "FAST").instance.context["n"] == 1


def test_a_queued_event_over_the_limit_is_recorded_as_failed(tmp_path: Path) -> None:
    with open_app(tmp_path / "q.db", VirtualClock(100.0), _chart(), step_time_limit=0.2) as app:
        app.create("job", "a")
        app.pause("job", "a")
        assert app.send("job", "a", "SLOW").outcome == "queued"
        assert app.send("job", "a", "FAST").outcome == "queued"
        inst = app.resume("job", "a")
        assert (inst.state, inst.context["n"], inst.queued) == (("job.idle",), 1, 0)
        entries = app.history("job", "a").items[1:]
        assert [(e.outcome, e.event["name"]) for e in entries] == [
            ("failed", "SLOW"), ("applied", "FAST"), ("ignored", "error.execution")]
        assert "StepLimitError" in (entries[0].error or "") and "wall-clock limit" in (entries[0].error or "")


def test_the_limit_is_configurable_and_can_be_lifted(tmp_path: Path) -> None:
    quick = load_document({"id": "job", "initial": "idle", "states": {"idle": {"on": {
        "GO": {"guard": "nap", "target": "done"}}}, "done": {}}},
        guards={"nap": lambda context, event: time.sleep(0.3) is None})
    with open_app(tmp_path / "n.db", VirtualClock(100.0), quick, step_time_limit=None) as app:
        app.create("job", "a")
        assert app.send("job", "a", "GO").instance.state == ("job.done",)
    with pytest.raises(ValueError, match="step_time_limit must be a positive number"):
        Interlock(f"sqlite:///{tmp_path / 'bad.db'}", clock=VirtualClock(), step_time_limit=0)


def test_a_step_that_swallows_the_interrupt_is_still_refused() -> None:
    def stubborn() -> str:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            with contextlib.suppress(BaseException):  # the point: a callable that swallows everything
                time.sleep(0.01)
        return "finished"

    watchdog = Watchdog(0.1)
    try:
        with pytest.raises(StepLimitError, match=r"wall-clock limit of 0\.1 s"):
            watchdog.run("the step", stubborn)
        assert watchdog.run("the next step", lambda: "fine") == "fine"
    finally:
        watchdog.close()


def test_a_step_over_its_expression_budget_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    loop = load_document({"id": "loop", "initial": "idle", "context": {"n": 0, "xs": list(range(2000))},
                          "states": {"idle": {"on": {"GO": "a", "TICK": {"actions": {"assign": {"n": "n + 1"}}}}},
                                     "a": {"always": {"target": "b", "guard": "len([x for x in xs if x >= 0]) > 0",
                                                      "actions": {"assign": {"n": "n + 1"}}}},
                                     "b": {"always": "a"}}})
    with open_app(tmp_path / "b.db", VirtualClock(100.0), loop) as app:
        app.create("loop", "l")
        with pytest.raises(StepLimitError, match="units of work"):
            app.send("loop", "l", "GO")
        inst = app.get("loop", "l")
        assert (inst.state, inst.step, inst.context["n"]) == (("loop.idle",), 0, 0)
        assert app.send("loop", "l", "TICK").instance.context["n"] == 1
