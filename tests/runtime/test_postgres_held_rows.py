"""The writer on PostgreSQL reads a batch's rows with one ``FOR UPDATE SKIP LOCKED``: a command whose row
another writer holds waits for a later batch, and the rest of its batch commits without it."""

from __future__ import annotations

import threading
from typing import Any

from interlock.app import Interlock
from interlock.storage.postgres import PostgresStore
from tests.postgres_support import fresh_database
from tests.runtime.durable_support import order_chart


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
