"""The writer on PostgreSQL reads a batch's rows with one ``FOR UPDATE SKIP LOCKED``: a command whose row
another writer holds waits for a later batch, and the rest of its batch commits without it. A row a step
reads on its way (an instance it sends to) held elsewhere makes that command wait the same way."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from interlock.app import Interlock
from interlock.storage.postgres import PostgresStore
from tests.postgres_support import fresh_database
from tests.runtime.durable_support import order_chart, receiver_chart, sender_chart


def test_a_command_whose_row_another_writer_holds_waits_and_the_others_commit() -> None:
    with fresh_database() as url:
        app = Interlock(url, worker=False)
        other = PostgresStore(url)
        try:
            app.register(order_chart())
            for id in ("o1", "o2"):
                app.create("order", id)
            box: dict[str, Any] = {}
            with other.write() as tx:  # another process holds o1's row until this block commits
                assert [r.id for r in tx.lock_instances([("order", "o1")]).rows] == ["o1"]
                held = threading.Thread(target=lambda: box.update(sent=app.send("order", "o1", {
                    "type": "NOTE", "i": 1})))
                held.start()
                free = app.send("order", "o2", {"type": "NOTE", "i": 2})
                assert (free.outcome, free.step) == ("applied", 1)
                assert held.is_alive()  # still waiting for o1
            held.join()
            assert (box["sent"].outcome, box["sent"].step) == ("applied", 1)
            assert app.get("order", "o1").context["seen"] == [1]
            assert [e.step for e in app.history("order", "o1").items] == [0, 1]
        finally:
            other.close()
            app.close()


def test_a_step_that_reaches_a_held_instance_waits_and_the_rest_of_its_batch_commits() -> None:
    """The sender's step delivers to a receiver another writer holds (its row is locked NOWAIT and the
    lock is not granted): that command lost a race, the batch runs again without it, and it is applied
    once the receiver is free, with every event it sent."""
    with fresh_database() as url:
        app = Interlock(url, worker=False)
        other = PostgresStore(url)
        try:
            for chart in (sender_chart(), receiver_chart(), order_chart()):
                app.register(chart)
            app.create("sender", "s1")
            app.create("receiver", "r1")
            app.create("order", "o1")

            async def both() -> list[Any]:
                aio = app.aio
                burst = aio.send("sender", "s1", {"type": "BURST", "count": 3, "to": "r1"})
                note = aio.send("order", "o1", {"type": "NOTE", "i": 7})
                return list(await asyncio.gather(burst, note))

            box: dict[str, Any] = {}
            with other.write() as tx:  # another process holds the receiver's row
                assert [r.id for r in tx.lock_instances([("receiver", "r1")]).rows] == ["r1"]
                runner = threading.Thread(target=lambda: box.update(sent=asyncio.run(both())))
                runner.start()
                for _ in range(3000):  # the note commits while r1 is held (30 s at most: not a timing)
                    if app.get("order", "o1").step == 1:
                        break
                    runner.join(0.01)
                assert app.get("order", "o1").step == 1
                assert runner.is_alive() and app.get("sender", "s1").step == 0
            runner.join()
            burst, note = box["sent"]
            assert (burst.outcome, burst.step, note.outcome, note.step) == ("applied", 1, "applied", 1)
            assert app.get("receiver", "r1").context["got"] == [0, 1, 2]
            assert [e.step for e in app.history("sender", "s1").items] == [0, 1]
        finally:
            other.close()
            app.close()
