"""Waiting for an instance to end: ``Interlock.wait`` and ``AsyncInterlock.wait``, on every store."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import MappingProxyType

import pytest

from interlock.app import Interlock
from interlock.auth.principal import Principal
from interlock.errors import ConflictError, ForbiddenError, NotFoundError, StorageError
from interlock.frontends.document import load_document
from interlock.runtime.clock import SystemClock, VirtualClock
from interlock.runtime.model import Instance
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task
from tests.runtime.durable_support import open_app, order_chart, scxml, store_url

# a workflow whose task's result ends it
CHARGE = """
<datamodel><data id="result" expr="None"/></datamodel>
<state id="paying">
  <invoke id="pay" src="service:charge"><param name="amount" expr="10"/></invoke>
  <transition event="done.invoke.pay" target="paid"><assign location="result" expr="_event.data"/></transition>
</state>
<final id="paid"><donedata><param name="receipt" expr="result"/></donedata></final>
"""
SLEEPY = 60.0  # poll: a waiter woken by nothing but the poller would wait this long


def waiting(app: Interlock, machine: str, id: str, **options: object) -> tuple[threading.Thread, list[object]]:
    """``app.wait`` on a thread of its own; what it returned or raised lands in the list."""
    got: list[object] = []

    def run() -> None:
        try:
            got.append(app.wait(machine, id, **options))  # type: ignore[arg-type]
        except Exception as exc:
            got.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, got


def test_wait_returns_the_instance_as_its_last_step_committed_it(tmp_path: Path) -> None:
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart(), poll=SLEEPY) as app:
        app.create("order", "o1")
        thread, got = waiting(app, "order", "o1", timeout=30)
        app.send("order", "o1", "ACCEPT")
        assert got == []  # accepted is not the end: the waiter still waits
        app.send("order", "o1", "SHIP")
        thread.join(20)
        [instance] = got
        assert isinstance(instance, Instance)
        assert (instance.status, instance.state, instance.output) == ("done", ("shipped",), {"n": 1})


def test_wait_follows_a_workflow_through_its_tasks(tmp_path: Path) -> None:
    """A task's result, run by the worker after the commit, is what ends the instance here."""
    release = threading.Event()

    def charge(task: Task) -> dict[str, int]:
        release.wait(30)
        return {"charged": task.input["amount"]}

    chart = scxml(CHARGE, name="payment", initial="paying")
    with open_app(tmp_path / "w.db", SystemClock(), chart, poll=SLEEPY) as app:
        app.service("charge", charge, retry=RetryPolicy(attempts=1, jitter=0.0))
        app.create("payment", "p1")
        with pytest.raises(TimeoutError, match=r"payment/p1 has not ended after 0.05 s \(state \['paying'\]\)"):
            app.wait("payment", "p1", timeout=0.05)
        thread, got = waiting(app, "payment", "p1", timeout=30)
        release.set()
        thread.join(20)
        [instance] = got
        assert isinstance(instance, Instance)
        assert (instance.status, instance.output) == ("done", {"receipt": {"charged": 10}})


def test_an_instance_that_has_ended_is_returned_at_once(tmp_path: Path) -> None:
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        app.cancel("order", "o1")
        assert app.wait("order", "o1", timeout=0).status == "cancelled"
        assert app.wait("order", "o1").status == "cancelled"


def test_wait_refuses_what_it_cannot_wait_for(tmp_path: Path) -> None:
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart()) as app:
        with pytest.raises(NotFoundError, match="no instance 'nobody' of machine 'order'"):
            app.wait("order", "nobody", timeout=1)
        app.create("order", "o1")
        with pytest.raises(ValueError, match="timeout must be a finite number of seconds >= 0"):
            app.wait("order", "o1", timeout=-1)
        with pytest.raises(ValueError, match="finite"):
            app.wait("order", "o1", timeout=float("nan"))
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None, not str"):
            app.wait("order", "o1", timeout="5")  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            app.wait("order", "o1", timeout=0)
        assert app.get("order", "o1").status == "active"
        assert not app.runtime.endings._waiting  # every waiter left its place


def test_an_end_committed_by_another_app_on_the_database_is_found_by_the_poller(tmp_path: Path) -> None:
    """Two apps on one database stand for two processes: the one that ends the instance wakes no waiter
    of the other, whose poller reads the watched instances every ``poll`` seconds."""
    url = store_url(tmp_path / "w.db")
    with Interlock(url, clock=VirtualClock(), poll=0.05) as watcher, Interlock(url, clock=VirtualClock()) as actor:
        watcher.register(order_chart())
        actor.register(order_chart())
        actor.create("order", "o1")
        thread, got = waiting(watcher, "order", "o1", timeout=30)
        actor.send("order", "o1", "ACCEPT")
        actor.send("order", "o1", "SHIP")
        thread.join(20)
        [instance] = got
        assert isinstance(instance, Instance) and instance.output == {"n": 1}


def test_an_end_committed_by_another_app_wakes_a_waiter_without_waiting_for_the_poll(tmp_path: Path) -> None:
    """The poller looks for other apps' commits (``Store.others_committed``) between its timed reads: a
    waiter whose app polls only every minute is woken by another app's end at once. The 30 s timeout is
    half that minute: only the look can answer in time."""
    url = store_url(tmp_path / "w.db")
    with Interlock(url, clock=VirtualClock(), poll=SLEEPY) as watcher, Interlock(url, clock=VirtualClock()) as actor:
        watcher.register(order_chart())
        actor.register(order_chart())
        for name in ("o1", "o2"):  # twice: the poller keeps looking after its first wake
            actor.create("order", name)
            thread, got = waiting(watcher, "order", name, timeout=30)
            while ("order", name) not in watcher.runtime.endings._waiting:
                threading.Event().wait(0.01)
            actor.send("order", name, "ACCEPT")
            actor.send("order", name, "SHIP")
            thread.join(40)
            [instance] = got
            assert isinstance(instance, Instance) and instance.output == {"n": 1}, instance


def test_an_apps_own_commits_do_not_make_its_poller_read(tmp_path: Path) -> None:
    """While a waiter waits, the app's own commits (here: 30 events to other instances) wake the poller's
    looks but not its reads: only another app's commit or the ``poll`` does."""
    reads: list[int] = []
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart(), poll=SLEEPY) as app:
        ended_rows = app.runtime.endings._read_ended
        app.runtime.endings._read_ended = lambda keys: reads.append(len(keys)) or ended_rows(keys)
        app.create("order", "watched")
        thread, got = waiting(app, "order", "watched", timeout=30)
        for n in range(30):
            app.create("order", f"busy{n}")
            app.send("order", f"busy{n}", "ACCEPT")
            threading.Event().wait(0.01)  # the poller looks between commits
        app.send("order", "watched", "ACCEPT")
        app.send("order", "watched", "SHIP")
        thread.join(40)
        assert isinstance(got[0], Instance) and got[0].output == {"n": 1}
        assert reads in ([], [1])  # woken by its own commit; the poller's first look reads (it cannot tell)


def test_async_wait_many_at_once(tmp_path: Path) -> None:
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart(), poll=SLEEPY) as app:
        aio = app.aio

        async def run() -> list[Instance]:
            await asyncio.gather(*(aio.create("order", f"o{i}") for i in range(20)))
            waits = [asyncio.ensure_future(aio.wait("order", f"o{i}", timeout=30)) for i in range(20)]
            await asyncio.sleep(0)
            for i in range(20):
                await aio.send("order", f"o{i}", "ACCEPT")
                if i % 2:
                    await aio.send("order", f"o{i}", "SHIP")
                else:
                    await aio.cancel("order", f"o{i}")
            return list(await asyncio.wait_for(asyncio.gather(*waits), 20))  # woken, not by a reread

        ended = asyncio.run(run())
        assert [i.status for i in ended] == ["cancelled", "done"] * 10
        assert [i.id for i in ended] == [f"o{i}" for i in range(20)]

        async def too_soon() -> None:
            await aio.create("order", "late")
            await aio.wait("order", "late", timeout=0.05)

        with pytest.raises(TimeoutError, match="order/late has not ended"):
            asyncio.run(too_soon())
        assert not app.runtime.endings._waiting


def test_execute_creates_and_waits_for_the_result(tmp_path: Path) -> None:
    def charge(task: Task) -> dict[str, int]:
        return {"charged": task.input["amount"]}

    chart = scxml(CHARGE, name="payment", initial="paying")
    with open_app(tmp_path / "w.db", SystemClock(), chart, poll=SLEEPY) as app:
        app.service("charge", charge, retry=RetryPolicy(attempts=1, jitter=0.0))
        got = app.execute("payment", "p1", timeout=20)
        assert (got.status, got.output, got.step) == ("done", {"receipt": {"charged": 10}}, 1)
        assert app.get("payment", "p1") == got
        with pytest.raises(ConflictError):
            app.execute("payment", "p1", timeout=20)

        async def many() -> list[Instance]:
            return list(await asyncio.wait_for(asyncio.gather(
                *(app.aio.execute("payment", f"a{i}", timeout=20) for i in range(10))), 20))

        assert [i.output for i in asyncio.run(many())] == [{"receipt": {"charged": 10}}] * 10
        assert not app.runtime.endings._waiting


def test_execute_that_times_out_leaves_the_instance_running(tmp_path: Path) -> None:
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart()) as app:
        with pytest.raises(TimeoutError, match=r"order/o1 has not ended after 0.05 s .*it runs on"):
            app.execute("order", "o1", timeout=0.05)
        assert app.get("order", "o1").state == ("placed",)
        app.send("order", "o1", "ACCEPT")
        app.send("order", "o1", "SHIP")
        assert app.wait("order", "o1", timeout=0).output == {"n": 1}


def test_closing_the_app_wakes_its_waiters_at_once(tmp_path: Path) -> None:
    app = Interlock(store_url(tmp_path / "w.db"), clock=VirtualClock(), poll=SLEEPY)
    app.register(order_chart())
    app.create("order", "o1")
    thread, got = waiting(app, "order", "o1")
    box: list[object] = []

    def in_a_loop() -> None:
        async def run() -> None:
            try:
                await app.aio.wait("order", "o1")
            except Exception as exc:
                box.append(exc)
        asyncio.run(run())

    other = threading.Thread(target=in_a_loop)
    other.start()
    while len(app.runtime.endings._waiting.get(("order", "o1"), ())) < 2:
        threading.Event().wait(0.01)
    app.close()
    thread.join(20)
    other.join(20)
    assert [type(e).__name__ for e in got + box] == ["StorageError", "StorageError"]
    assert "closed" in str(got[0])
    with pytest.raises(StorageError, match="closed"):
        app.wait("order", "o1")


def test_a_waiter_whose_event_loop_was_closed_does_not_stop_the_writer(tmp_path: Path) -> None:
    with open_app(tmp_path / "w.db", VirtualClock(), order_chart(), poll=SLEEPY) as app:
        app.create("order", "o1")
        loop = asyncio.new_event_loop()
        pending = loop.create_task(app.aio.wait("order", "o1"))
        loop.run_until_complete(asyncio.sleep(0.05))  # the waiter watches
        loop.close()  # with the wait still pending
        assert not pending.done()
        app.send("order", "o1", "ACCEPT")
        app.send("order", "o1", "SHIP")  # ends it: the dead loop's waiter cannot be woken
        assert app.create("order", "o2", timeout=10).state == ("placed",)  # the writer lives on
        assert not app.runtime.endings._waiting


def test_execute_applies_the_read_rule_to_an_instance_that_ends_in_its_create(tmp_path: Path) -> None:
    doc = {"id": "job", "version": "1", "initial": "run",
           "context": {"owner": None, "secret": "s3cr3t"},
           "authorize": {"create": True, "read": "context.owner == claims.sub"},
           "states": {"run": {"always": [{"target": "finished"}]},
                      "finished": {"type": "final", "output": {"secret": "context.secret"}}}}
    bob = Principal("token", "bob", frozenset({"read", "instances:write"}), MappingProxyType({"sub": "bob"}))
    with open_app(tmp_path / "w.db", VirtualClock(), load_document(doc)) as app:
        with pytest.raises(ForbiddenError):
            app.execute("job", "j1", input={"owner": "alice"}, caller=bob)
        assert app.get("job", "j1").status == "done"  # created, and ended in its create
        assert app.execute("job", "j2", input={"owner": "bob"}, caller=bob).output == {"secret": "s3cr3t"}
        assert not app.runtime.endings._waiting
