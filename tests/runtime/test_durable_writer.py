"""The writer's shortcuts keep the contract: rows cached between transactions, events that pass
through an inbox within one transaction, batches without savepoints (see runtime/writer.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart, query_store


def _inbox_rows(path: Path) -> int:
    return int(query_store(path, "SELECT COUNT(*) FROM inbox")[0][0])  # type: ignore[call-overload]


def test_two_apps_on_one_file_see_each_others_steps(tmp_path: Path) -> None:
    """Each app's writer caches rows; a commit by the other connection must invalidate them."""
    clock = VirtualClock(100.0)
    with open_app(tmp_path / "a.db", clock, order_chart()) as one, \
            open_app(tmp_path / "a.db", clock, order_chart()) as two:
        one.create("order", "o1")
        for i in range(6):
            app = one if i % 2 == 0 else two
            result = app.send("order", "o1", {"type": "NOTE", "i": i})
            assert (result.outcome, result.step) == ("applied", i + 1)
        assert one.get("order", "o1").context["seen"] == list(range(6))
        steps = [e.step for e in two.history("order", "o1").items]
        assert steps == list(range(7))


def test_two_apps_racing_for_the_same_instances_apply_every_event_once(tmp_path: Path) -> None:
    """Many threads of two apps (two connections, as two processes) send to the same three instances at
    once: the compare-and-set (and, on PostgreSQL, the row locks) make every event apply exactly once,
    in a gap-free history, whichever app wins each race."""
    import threading

    clock = VirtualClock(100.0)
    with open_app(tmp_path / "r.db", clock, order_chart()) as one, \
            open_app(tmp_path / "r.db", clock, order_chart()) as two:
        for n in range(3):
            one.create("order", f"o{n}")

        def send(app: Interlock, first: int) -> None:
            for i in range(first, first + 40):
                app.send("order", f"o{i % 3}", {"type": "NOTE", "i": i})

        threads = [threading.Thread(target=send, args=(app, k * 40))
                   for k, app in enumerate([one, two, one, two])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for n in range(3):
            seen = one.get("order", f"o{n}").context["seen"]
            assert sorted(seen) == [i for i in range(160) if i % 3 == n]
            steps = [e.step for e in two.history("order", f"o{n}", limit=1000).items]
            assert steps == list(range(len(seen) + 1))


def test_changing_a_returned_instance_does_not_change_the_stored_one(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(100.0), order_chart()) as app:
        inst = app.create("order", "o1")
        inst.context["seen"].append("mine")
        inst.context["n"] = 99
        after = app.send("order", "o1", {"type": "NOTE", "i": 1}).instance
        assert after.context == {"n": 0, "seen": [1]}


def test_a_poison_event_in_the_inbox_fails_alone(tmp_path: Path) -> None:
    with open_app(tmp_path / "p.db", VirtualClock(100.0), order_chart()) as app:
        app.create("order", "o1")
        app.pause("order", "o1")
        assert app.send("order", "o1", "BREAK").outcome == "queued"
        assert app.send("order", "o1", "ACCEPT").outcome == "queued"
        inst = app.resume("order", "o1")
        assert (inst.state, inst.queued, inst.context["n"]) == (("accepted",), 0, 1)
        entries = app.history("order", "o1").items[1:]
        outcomes = [(e.outcome, e.event["name"]) for e in entries]
        # the instance is told, after what was already queued (this chart does not handle it)
        assert outcomes == [("failed", "BREAK"), ("applied", "ACCEPT"), ("ignored", "error.execution")]
        assert "not JSON" in (entries[0].error or "")
        notice = entries[2].event["data"]
        assert (notice["event"], notice["step"]) == ("BREAK", 1)
        assert "the step of event 'BREAK' failed and was not applied" in notice["message"]


def test_a_failing_command_in_a_batch_leaves_the_others_applied(tmp_path: Path) -> None:
    async def run(app: Interlock) -> list[object]:
        aio = app.aio
        sends = [aio.send("order", f"o{i}", "BREAK" if i == 3 else "ACCEPT") for i in range(8)]
        return await asyncio.gather(*sends, return_exceptions=True)

    with open_app(tmp_path / "b.db", VirtualClock(100.0), order_chart()) as app:
        for i in range(8):
            app.create("order", f"o{i}")
        results = asyncio.run(run(app))
        assert "not JSON" in str(results[3])
        assert [getattr(r, "outcome", None) for i, r in enumerate(results) if i != 3] == ["applied"] * 7
        assert app.get("order", "o3").step == 0  # the failed send changed nothing
        assert all(app.get("order", f"o{i}").state == ("accepted",) for i in range(8) if i != 3)


def test_events_applied_in_their_own_transaction_never_touch_the_inbox_table(tmp_path: Path) -> None:
    with open_app(tmp_path / "i.db", VirtualClock(100.0), order_chart()) as app:
        app.create("order", "o1")
        result = app.send("order", "o1", "CHAIN")  # CHAIN sends NOTE to itself: via the inbox
        assert result.instance.context["seen"] == ["chained"]
        assert _inbox_rows(tmp_path / "i.db") == 0
        app.pause("order", "o1")
        app.send("order", "o1", "CHAIN")  # queued while paused: stored
        assert _inbox_rows(tmp_path / "i.db") == 1
    with open_app(tmp_path / "i.db", VirtualClock(100.0), order_chart()) as app:
        inst = app.resume("order", "o1")
        assert (inst.context["seen"], inst.queued) == (["chained", "chained"], 0)
        assert _inbox_rows(tmp_path / "i.db") == 0


def test_the_state_index_follows_every_step(tmp_path: Path) -> None:
    clock = VirtualClock(100.0)
    with open_app(tmp_path / "x.db", clock, order_chart()) as app:
        for i in range(4):
            app.create("order", f"o{i}")
        for i in range(3):
            app.send("order", f"o{i}", "ACCEPT")
        app.send("order", "o0", "SHIP")
        clock.advance(6)
        app.run_until_idle()  # o1 and o2 expire
        by_state = {s: [i.id for i in app.list("order", state=s)] for s in
                    ("placed", "accepted", "expired", "shipped")}
        assert by_state == {"placed": ["o3"], "accepted": [], "expired": ["o1", "o2"], "shipped": ["o0"]}


def test_instances_this_process_cannot_run_do_not_starve_the_ones_it_can(tmp_path: Path) -> None:
    """Another service's machine (or a version not deployed here) with events waiting shares the file:
    the worker must still drain the instances it runs, whatever their names sort after."""
    from interlock import machine

    other = machine({"id": "aaa", "initial": "s", "states": {"s": {"on": {"E": {}}}}})
    db = tmp_path / "s.db"
    with open_app(db, VirtualClock(), other) as app:
        for i in range(250):
            app.create("aaa", f"a{i:03}")
            app.pause("aaa", f"a{i:03}")
            app.send("aaa", f"a{i:03}", "E")
    with open_app(db, VirtualClock(), order_chart()) as app:  # runs "order" only
        for i in range(250):
            app.resume("aaa", f"a{i:03}")  # ready, but not for this process
        app.create("order", "o1")
        app.pause("order", "o1")
        for i in range(1_100):
            app.send("order", "o1", {"type": "NOTE", "i": i})
        assert app.resume("order", "o1").queued == 100  # the budget of one command: the worker the rest
        app.run_until_idle()
        inst = app.get("order", "o1")
        assert (inst.queued, len(inst.context["seen"])) == (0, 1_100)
        assert app.get("aaa", "a000").queued == 1  # left for a process that runs it


def test_events_left_on_an_ended_instance_are_drained_by_a_process_without_its_version(
        tmp_path: Path) -> None:
    """An ended instance needs no chart to record events as ignored: any process drains them."""
    db = tmp_path / "e.db"
    with open_app(db, VirtualClock(), order_chart("1")) as app:
        app.create("order", "o1")
        app.pause("order", "o1")
        app.send("order", "o1", "ACCEPT")
        app.send("order", "o1", "SHIP")  # the instance ends here
        for i in range(1_100):
            app.send("order", "o1", {"type": "NOTE", "i": i})
        inst = app.resume("order", "o1")
        assert inst.status == "done" and inst.queued > 0  # the budget of one command ran out
    with open_app(db, VirtualClock(), order_chart("2")) as app:  # runs version 2 only
        app.run_until_idle()
        inst = app.get("order", "o1")
        assert (inst.queued, inst.version) == (0, "1")
        assert app.history("order", "o1", after=inst.step - 1).items[0].outcome == "ignored"


def test_an_async_send_that_outlasts_its_timeout_raises_timeout_and_is_still_applied(tmp_path: Path) -> None:
    held = threading.Event()
    with open_app(tmp_path / "t.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        busy = app.runtime.writer.submit(lambda unit: held.wait(10))  # the writer is busy until released

        async def send_with_timeout() -> None:
            with pytest.raises(TimeoutError):
                await app.aio.send("order", "o1", {"type": "NOTE", "i": 1}, timeout=0.05)
            assert (await app.aio.send("order", "o1", {"type": "NOTE", "i": 2}, timeout=None)).step == 2

        async def release_later() -> None:
            await asyncio.sleep(0.2)
            held.set()

        async def main() -> None:
            await asyncio.gather(send_with_timeout(), release_later())

        asyncio.run(main())
        assert busy.result(5) is True
        assert app.get("order", "o1").context["seen"] == [1, 2]  # the send that timed out was applied


def test_a_send_that_outlasts_its_timeout_raises_timeout_and_is_still_applied(tmp_path: Path) -> None:
    held = threading.Event()
    with open_app(tmp_path / "t.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        busy = app.runtime.writer.submit(lambda unit: held.wait(10))  # the writer is busy until released
        with pytest.raises(TimeoutError):
            app.send("order", "o1", {"type": "NOTE", "i": 1}, timeout=0.05)
        held.set()
        assert app.send("order", "o1", {"type": "NOTE", "i": 2}, timeout=None).step == 2
        assert busy.result(5) is True
        assert app.get("order", "o1").context["seen"] == [1, 2]  # the send that timed out was applied


def test_a_failing_command_raises_its_own_error_in_the_caller(tmp_path: Path) -> None:
    def refuse(unit: object) -> None:
        raise LookupError("refused by the command")

    with open_app(tmp_path / "t.db", VirtualClock(), order_chart()) as app:
        with pytest.raises(LookupError, match="refused by the command"):
            app.runtime.writer.call(refuse)
        app.create("order", "o1")  # the writer goes on
        assert app.get("order", "o1").status == "active"
