"""Tasks: invoked services run after commit with retries, timeouts, heartbeats and leases."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.runtime import commands
from interlock.runtime.clock import VirtualClock
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task
from tests.runtime.durable_support import open_app, payment_chart, store_url

NO_JITTER = RetryPolicy(attempts=3, backoff=2.0, jitter=0.0)


def events(app: Interlock, id: str = "p1") -> list[str]:
    return [e.event["name"] for e in app.history("payment", id).items if e.event]


def test_a_task_result_arrives_as_done_invoke(tmp_path: Path) -> None:
    seen: list[Task] = []

    def charge(task: Task) -> dict[str, int]:
        seen.append(task)
        return {"charged": task.input["amount"]}

    with open_app(tmp_path / "t.db", VirtualClock(), payment_chart()) as app:
        app.service("charge", charge, retry=NO_JITTER)
        app.create("payment", "p1")
        assert seen == []  # nothing runs inside the transaction
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert (inst.state, inst.context["result"]) == (("paid",), {"charged": 10})
        [task] = seen
        assert (task.key, task.attempt, task.invokeid) == ("payment/p1#0.0", 1, "pay")
        assert events(app) == ["done.invoke.pay"]


def test_failures_are_retried_with_backoff_then_succeed(tmp_path: Path) -> None:
    clock = VirtualClock()
    attempts: list[int] = []

    def flaky(task: Task) -> str:
        attempts.append(task.attempt)
        if task.attempt < 3:
            raise ConnectionError("card network down")
        return "ok"

    with open_app(tmp_path / "t.db", clock, payment_chart()) as app:
        app.service("charge", flaky, retry=NO_JITTER)
        app.create("payment", "p1")
        app.run_until_idle()
        assert attempts == [1]
        clock.advance(1.9)
        app.run_until_idle()
        assert attempts == [1]  # the first backoff is 2 s
        clock.advance(0.1)
        app.run_until_idle()
        clock.advance(4)  # the second is 4 s
        app.run_until_idle()
        assert attempts == [1, 2, 3]
        assert app.get("payment", "p1").state == ("paid",)


def test_the_final_failure_is_an_error_event_the_chart_handles(tmp_path: Path) -> None:
    clock = VirtualClock()

    def broken(task: Task) -> None:
        raise ValueError(f"declined (attempt {task.attempt})")

    with open_app(tmp_path / "t.db", clock, payment_chart()) as app:
        app.service("charge", broken, retry=RetryPolicy(attempts=2, backoff=1, jitter=0))
        app.create("payment", "p1")
        app.run_until_idle()
        clock.advance(1)
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert inst.state == ("failed",)
        assert inst.context["error"]["attempts"] == 2
        assert "declined (attempt 2)" in inst.context["error"]["message"]


def test_an_attempt_that_runs_past_its_timeout_fails(tmp_path: Path) -> None:
    def slow(task: Task) -> str:
        time.sleep(2)
        return "late"

    with open_app(tmp_path / "t.db", VirtualClock(), payment_chart()) as app:
        app.service("charge", slow, retry=RetryPolicy(attempts=1, timeout=0.05))
        app.create("payment", "p1")
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert inst.state == ("failed",)
        assert "timed out" in inst.context["error"]["message"]


def test_a_task_whose_worker_died_is_retried_after_its_lease(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, payment_chart()) as app:
        app.service("charge", lambda task: task.attempt, retry=RetryPolicy(attempts=3, lease=30))
        app.create("payment", "p1")
        # another worker claims the task and dies without reporting
        claimed = app.runtime.writer.call(lambda unit: commands.claim(
            unit, owner="dead-worker", services=["charge"], limit=5, rng=random.Random(0)))
        assert [t.attempt for t in claimed] == [1]
        assert app.run_until_idle() == 0  # still leased
        clock.advance(30)
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert (inst.state, inst.context["result"]) == (("paid",), 2)


def test_a_lost_lease_on_the_last_attempt_is_a_final_failure(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, payment_chart()) as app:
        app.service("charge", lambda task: "never", retry=RetryPolicy(attempts=1, lease=5))
        app.create("payment", "p1")
        app.runtime.writer.call(lambda unit: commands.claim(
            unit, owner="dead-worker", services=["charge"], limit=5, rng=random.Random(0)))
        clock.advance(5)
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert inst.state == ("failed",)
        assert "lease expired" in inst.context["error"]["message"]


def test_a_result_after_the_invoking_state_exited_is_dropped(tmp_path: Path) -> None:
    clock = VirtualClock()
    with open_app(tmp_path / "t.db", clock, payment_chart()) as app:
        app.service("charge", lambda task: "ok")
        app.create("payment", "p1")
        claimed = app.runtime.writer.call(lambda unit: commands.claim(
            unit, owner="w", services=["charge"], limit=5, rng=random.Random(0)))
        app.send("payment", "p1", "ABORT")  # exits "paying": the task is cancelled
        from interlock.runtime.tasks import Attempt

        verdict = app.runtime.writer.call(lambda unit: commands.complete(
            unit, claimed[0], "w", Attempt(True, "ok"), random.Random(0)))
        assert verdict == "stale"
        assert app.get("payment", "p1").state == ("aborted",)
        assert events(app) == ["ABORT"]


def test_heartbeats_and_async_services(tmp_path: Path) -> None:
    beats: list[int] = []

    async def charge(task: Task) -> dict[str, int]:
        await asyncio.sleep(0)
        task.heartbeat()
        beats.append(task.attempt)
        return {"async": 1}

    with open_app(tmp_path / "t.db", VirtualClock(), payment_chart()) as app:
        app.service("charge", charge, retry=RetryPolicy(heartbeat=5))
        app.create("payment", "p1")
        app.run_until_idle()
        assert beats == [1]
        assert app.get("payment", "p1").context["result"] == {"async": 1}


def test_async_services_run_when_the_app_is_driven_from_async_code(tmp_path: Path) -> None:
    async def charge(task: Task) -> int:
        await asyncio.sleep(0)
        return 7

    async def drive(app: Interlock) -> None:
        await app.aio.create("payment", "p1")
        app.run_until_idle()  # from inside a running event loop

    with open_app(tmp_path / "a.db", VirtualClock(), payment_chart()) as app:
        app.service("charge", charge)
        asyncio.run(drive(app))
        assert app.get("payment", "p1").context["result"] == 7


@pytest.mark.parametrize("lease", [0, -5])
def test_a_lease_must_be_positive(lease: float) -> None:
    with pytest.raises(ValueError, match="lease must be positive"):
        RetryPolicy(lease=lease)


def test_an_invoke_of_an_unknown_service_raises_error_execution(tmp_path: Path) -> None:
    with open_app(tmp_path / "t.db", VirtualClock(), payment_chart()) as app:
        app.create("payment", "p1")
        [event] = [e.event for e in app.history("payment", "p1").items if e.event]
        assert event["name"] == "error.execution"
        assert "app.service('charge', fn)" in event["data"]["message"]


def test_the_background_worker_runs_tasks(tmp_path: Path) -> None:
    with Interlock(store_url(tmp_path / 'w.db'), poll=0.05) as app:
        app.register(payment_chart())
        app.service("charge", lambda task: "ok")
        app.create("payment", "p1")
        deadline = time.monotonic() + 10  # a bound for a stuck worker, not a timing assertion
        while app.get("payment", "p1").state != ("paid",) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert app.get("payment", "p1").state == ("paid",)


def test_a_dedicated_worker_runs_work_already_in_the_database_without_writing(tmp_path: Path) -> None:
    """A dedicated worker process registers its machines and services, starts, and never sends."""
    from interlock.runtime.clock import SystemClock

    db = tmp_path / "r.db"
    with Interlock(store_url(db), worker=False, clock=SystemClock()) as app:
        app.register(payment_chart())
        app.service("charge", lambda task: "never run here")
        app.create("payment", "p1")  # its task waits in the database: no worker ran here
    with Interlock(store_url(db), poll=0.05) as app:
        app.register(payment_chart())
        app.service("charge", lambda task: "ok")
        app.start()  # once everything it runs is registered
        deadline = time.monotonic() + 10  # a bound for a stuck worker, not a timing assertion
        while app.get("payment", "p1").state != ("paid",) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert app.get("payment", "p1").state == ("paid",)


def test_close_tells_a_heartbeating_service_to_stop_and_returns(tmp_path: Path) -> None:
    import threading

    started = threading.Event()

    def forever(task: Task) -> str:
        started.set()
        while True:  # the recommended shape: heartbeat until told the task is lost
            task.heartbeat()
            time.sleep(0.02)

    app = Interlock(store_url(tmp_path / 'c.db'), poll=0.05)
    app.register(payment_chart())
    app.service("charge", forever, retry=RetryPolicy(heartbeat=5))
    closer = threading.Thread(target=app.close, daemon=True)
    try:
        app.create("payment", "p1")
        assert started.wait(10)
    finally:  # close also when the assertion fails: the service stops at its next heartbeat
        closer.start()
    closer.join(10)  # a bound for a hang, not a timing assertion
    assert not closer.is_alive()


def test_retry_policy_validation_and_backoff() -> None:
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        RetryPolicy(attempts=0)
    policy = RetryPolicy(backoff=1, multiplier=3, max_backoff=5, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [1, 3, 5]
    jittered = RetryPolicy(backoff=10, jitter=0.5)
    delays = {jittered.delay(1, random.Random(seed)) for seed in range(20)}
    assert len(delays) > 1 and all(5 <= d <= 15 for d in delays)


def test_services_a_chart_was_built_with_run_as_tasks(tmp_path: Path) -> None:
    from interlock import Interlock, machine

    chart = machine({
        "id": "shop", "initial": "paying", "context": {"receipt": None},
        "states": {
            "paying": {"invoke": {"id": "pay", "src": "charge", "input": {"amount": "12"},
                                  "onDone": {"target": "paid",
                                             "actions": {"assign": {"receipt": "event.data.receipt"}}}}},
            "paid": {"type": "final"},
        },
    }, services={"charge": lambda task: {"receipt": f"r-{task.input['amount']}"}})
    with Interlock(store_url(tmp_path / 'shop.db'), clock=VirtualClock()) as app:
        app.register(chart)
        app.create("shop", "s1")
        app.run_until_idle()
        shop = app.get("shop", "s1")
        assert (shop.status, shop.context["receipt"]) == ("done", "r-12")
