"""Idempotency keys of admins and trusted code that start with ``[`` are stored as ``[null,"<key>"]``
since the change that kept them apart from restrained callers' keys (docs/auth.md, "Idempotency keys");
before, as given. A retry after the upgrade of a request made before it is a duplicate, not a second
request: here the store holds the key as the old code wrote it (rewritten in the database), on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from interlock.runtime.clock import VirtualClock
from tests.runtime import durable_support
from tests.runtime.durable_support import open_app, query_store, receiver_chart


def _as_before(path: Path, table: str, key: str) -> None:
    """Rewrite the stored ``[null,"<key>"]`` to ``<key>``, as the store held it before the change."""
    stored = '[null,"' + key.replace('"', '\\"') + '"]'
    update = f"UPDATE {table} SET idempotency_key = '{key}' WHERE idempotency_key = '{stored}'"
    if durable_support.POSTGRES_URL is not None:
        import psycopg

        with psycopg.connect(durable_support.POSTGRES_URL) as conn:
            conn.execute(update.encode())
    else:
        import sqlite3

        with sqlite3.connect(path) as conn:
            conn.execute(update)
    assert query_store(path, f"SELECT count(*) FROM {table} WHERE idempotency_key = '{key}'") == [(1,)]


def test_a_retry_of_a_request_made_before_the_upgrade_is_a_duplicate(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    with open_app(db, VirtualClock(100.0), receiver_chart()) as app:
        app.create("receiver", "r", idempotency_key="[c1")
        app.send("receiver", "r", {"type": "NUM", "i": 1}, idempotency_key="[k1")
        app.pause("receiver", "r")
        assert app.send("receiver", "r", {"type": "NUM", "i": 2}, idempotency_key="[q1").outcome == "queued"
        _as_before(db, "history", "[c1")
        _as_before(db, "history", "[k1")
        _as_before(db, "inbox", "[q1")
        assert app.create("receiver", "r", idempotency_key="[c1").id == "r"  # the create's retry: no 409
        again = app.send("receiver", "r", {"type": "NUM", "i": 1}, idempotency_key="[k1")
        assert again.duplicate and again.step == 1
        queued = app.send("receiver", "r", {"type": "NUM", "i": 2}, idempotency_key="[q1")
        assert queued.duplicate and queued.outcome == "queued"
        app.resume("receiver", "r")
        assert app.get("receiver", "r").context["got"] == [1, 2]  # each once
