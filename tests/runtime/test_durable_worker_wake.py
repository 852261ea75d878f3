"""When the background worker wakes: on work a commit created (and on its poll), never on its own
empty rounds; a command that runs out of its event budget wakes it to apply the rest at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from interlock.app import Interlock
from interlock.storage.store import WriteTx
from tests.runtime.durable_support import receiver_chart, scxml, sender_chart


def _counting_writes(app: Interlock) -> list[int]:
    """Count the write transactions the store opens (the real store does the work)."""
    store = app.runtime.store
    real = store.write
    count = [0]

    def write() -> AbstractContextManager[WriteTx]:
        count[0] += 1
        return real()

    store.write = write  # type: ignore[method-assign]
    return count


def _app(path: Path, poll: float) -> Interlock:
    app = Interlock(f"sqlite:///{path}", poll=poll)
    app.register(sender_chart())
    app.register(receiver_chart())
    return app


def test_an_idle_worker_runs_one_round_per_poll_not_one_per_commit(tmp_path: Path) -> None:
    app = _app(tmp_path / "idle.db", poll=0.25)
    try:
        app.create("receiver", "r1")  # the first write starts the worker
        time.sleep(0.3)
        writes = _counting_writes(app)
        time.sleep(1.0)
        # about four polls; a worker woken by its own rounds' commits ran thousands of empty rounds
        assert writes[0] <= 12
    finally:
        app.close()


def _until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_events_past_a_commands_budget_are_applied_without_waiting_for_the_poll(tmp_path: Path) -> None:
    app = _app(tmp_path / "burst.db", poll=3600.0)  # only a wake-up can bring the worker back in time
    try:
        app.create("sender", "s1")
        app.create("receiver", "r1")
        app.send("sender", "s1", {"type": "BURST", "count": 1500, "to": "r1"})
        assert _until(lambda: app.get("receiver", "r1").queued == 0, 60.0)
        assert app.get("receiver", "r1").context["got"] == list(range(1500))
    finally:
        app.close()


THREE_STEPS = """
<state id="s1"><invoke id="a" src="service:step"><param name="n" expr="1"/></invoke>
  <transition event="done.invoke.a" target="s2"/></state>
<state id="s2"><invoke id="b" src="service:step"><param name="n" expr="2"/></invoke>
  <transition event="done.invoke.b" target="s3"/></state>
<state id="s3"><invoke id="c" src="service:step"><param name="n" expr="3"/></invoke>
  <transition event="done.invoke.c" target="end"/></state>
<final id="end"/>
"""


def _workflow_app(path: Path, concurrency: int) -> Interlock:
    app = Interlock(f"sqlite:///{path}", poll=3600.0, concurrency=concurrency)
    app.register(scxml(THREE_STEPS, name="workflow", initial="s1"))
    app.service("step", lambda task: task.input["n"])
    return app


def test_a_workflow_takes_one_transaction_per_step_and_one_to_start(tmp_path: Path) -> None:
    """create (which claims step 1 for the worker's free threads), then each result committed with the
    claim of the next step: no worker round, and a task claimed where it was created wakes nobody."""
    app = _workflow_app(tmp_path / "w.db", concurrency=4)
    try:
        app.create("workflow", "warm")  # starts the worker
        assert _until(lambda: app.get("workflow", "warm").status == "done", 60.0)
        writes = _counting_writes(app)
        app.create("workflow", "w1")
        assert _until(lambda: app.get("workflow", "w1").status == "done", 60.0)
        assert writes[0] == 4
    finally:
        app.close()


def test_tasks_waiting_for_a_busy_worker_run_when_a_thread_frees_up(tmp_path: Path) -> None:
    app = _workflow_app(tmp_path / "busy.db", concurrency=2)  # fewer threads than workflows
    try:
        for i in range(12):
            app.create("workflow", f"w{i}")
        assert _until(lambda: all(app.get("workflow", f"w{i}").status == "done" for i in range(12)), 60.0)
    finally:
        app.close()


def test_the_history_records_invoke_effects_as_the_engine_describes_them(tmp_path: Path) -> None:
    from interlock.core.effects import InvokeEffect

    app = _workflow_app(tmp_path / "h.db", concurrency=2)
    try:
        app.create("workflow", "w1")
        assert _until(lambda: app.get("workflow", "w1").status == "done", 60.0)
        effects = [e for entry in app.history("workflow", "w1").items for e in entry.effects]
    finally:
        app.close()
    started = [e for e in effects if e["kind"] == "invoke"]
    assert started == [InvokeEffect(i, f"s{n}", "scxml", "service:step", None, {"n": n}).to_json()
                       for n, i in ((1, "a"), (2, "b"), (3, "c"))]


def test_close_leaves_no_task_claimed_and_not_run(tmp_path: Path) -> None:
    """A task the writer claims for the worker just before close() still runs (or was never claimed):
    none is left leased, where the next process would have to wait for its lease to expire and then
    count the attempt as lost."""
    import sqlite3

    path = tmp_path / "close.db"
    for i in range(15):
        app = _workflow_app(path, concurrency=4)
        app.start()
        app.create("workflow", f"w{i}")  # its first step is claimed in this very transaction
        app.close()
        with sqlite3.connect(path) as db:
            leased = db.execute("SELECT key FROM tasks WHERE status = 'running'").fetchall()
        assert leased == []
