"""Counting what Interlock asks of PostgreSQL (bench only): statements and round trips.

psycopg has no statement hook and ``pg_stat_statements`` needs a server restart, so :func:`counting`
wraps psycopg's cursor methods in this process for the duration of a block. Every ``execute`` is one
statement and one round trip; an ``executemany`` is as many statements as rows but one round trip
(psycopg pipelines it); either is no round trip when sent inside a pipeline the caller opened, whose
``sync`` is the round trip (counted when the pipeline block is left); ``BEGIN``/``COMMIT``/``ROLLBACK``, which
the store sends through libpq directly (``postgres_tx.command``), are one of each (a ``COMMIT`` with the
``NOTIFY`` in its message, ``postgres_tx.commit``, two statements and one round trip), as is every
``SAVEPOINT``/``RELEASE`` of a ``transaction()`` block (two per block). Connections listed in ``ignore`` are not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class Tally:
    statements: int = 0
    round_trips: int = 0
    by_text: Counter[str] = field(default_factory=Counter)  # the first words of each statement
    ignore: set[int] = field(default_factory=set)  # id() of connections not to count

    def note(self, conn: Any, query: Any, statements: int, round_trips: int = 1) -> None:
        if id(conn) in self.ignore:
            return
        self.statements += statements
        self.round_trips += round_trips
        text = query.decode() if isinstance(query, bytes) else str(query)
        words = " ".join(line.strip() for line in text.splitlines() if line.strip() and
                         not line.strip().startswith("--"))
        self.by_text[words[:60] or "(empty: the pool's connection check)"] += statements


@contextmanager
def counting() -> Iterator[Tally]:
    """Count every statement run through psycopg (any connection of this process) inside the block."""
    from interlock.storage import postgres_tx

    tally = Tally()
    cursor, transaction, connection = psycopg.Cursor, psycopg.Transaction, psycopg.Connection
    command, commit = postgres_tx.command, postgres_tx.commit
    execute, executemany, enter, pipeline = cursor.execute, cursor.executemany, transaction.__enter__, connection.pipeline

    def counted_execute(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        piped = self.connection._pipeline is not None
        tally.note(self.connection, query, 1, 0 if piped else 1)
        return execute(self, query, params, **kw)

    def counted_executemany(self: Any, query: Any, params_seq: Any, **kw: Any) -> Any:
        rows = list(params_seq)
        piped = self.connection._pipeline is not None  # sent with others; their sync is the round trip
        tally.note(self.connection, query, len(rows), 0 if piped else 1)
        return executemany(self, query, rows, **kw)

    @contextmanager
    def counted_pipeline(self: Any) -> Iterator[Any]:
        with pipeline(self) as block:
            yield block
        if id(self) not in tally.ignore:  # leaving the block syncs it
            tally.round_trips += 1

    def counted_command(conn: Any, text: bytes, *, check: bool = True) -> None:
        tally.note(conn, text, 1)
        command(conn, text, check=check)

    def counted_commit(conn: Any, notify: bytes) -> None:  # two statements in one message
        tally.note(conn, b"COMMIT", 1)
        tally.note(conn, notify, 1, 0)
        commit(conn, notify)

    def counted_enter(self: Any) -> Any:
        if id(self.connection) not in tally.ignore:  # BEGIN/SAVEPOINT now, COMMIT/RELEASE at exit
            tally.statements += 2
            tally.round_trips += 2
            tally.by_text["BEGIN/COMMIT or SAVEPOINT/RELEASE"] += 2
        return enter(self)

    cursor.execute, cursor.executemany = counted_execute, counted_executemany  # type: ignore[method-assign]
    transaction.__enter__ = counted_enter  # type: ignore[method-assign]
    connection.pipeline = counted_pipeline  # type: ignore[method-assign,assignment]
    postgres_tx.command, postgres_tx.commit = counted_command, counted_commit
    try:
        yield tally
    finally:
        cursor.execute, cursor.executemany = execute, executemany  # type: ignore[method-assign]
        transaction.__enter__ = enter  # type: ignore[method-assign]
        connection.pipeline = pipeline  # type: ignore[method-assign]
        postgres_tx.command, postgres_tx.commit = command, commit


def per_workflow(url: str, count: int = 50) -> Tally:
    """Statements of ``count`` 3-step workflows run one after another (worker rounds included)."""
    from bench import durable_workflow as workflow_side

    app = workflow_side.app_for(url)
    try:
        for i in range(5):  # warm-up: the pool's connections, the worker's threads
            workflow_side.one(app, f"warm-{i}")
        with counting() as tally:  # Interlock.wait's reads of the instance included
            for i in range(count):
                workflow_side.one(app, f"w-{i}")
    finally:
        app.close()
    return tally


def per_event(url: str, count: int = 200, *, at_once: int = 1) -> Tally:
    """Statements of ``count`` FLIPs to 100 switches, sent ``at_once`` at a time (1: each alone)."""
    import asyncio

    from bench import durable_machines as machines
    from interlock.app import Interlock

    with Interlock(url, worker=False) as app:
        app.register(machines.switch())
        for i in range(100):
            app.create("switch", f"s{i}")

        async def send(n: int) -> None:
            for k in range(0, n, at_once):
                await asyncio.gather(*(app.aio.send("switch", f"s{(k + j) % 100}", "FLIP")
                                       for j in range(min(at_once, n - k))))

        asyncio.run(send(at_once * 4))  # warm-up
        with counting() as tally:
            asyncio.run(send(count))
    return tally


def statement_lines(server: str, *, workflows: int = 50, events: int = 200) -> list[str]:
    from bench.postgres_scratch import scratch_database

    lines = ["statements  what Interlock asks of PostgreSQL (counted in psycopg; BEGIN and COMMIT included)"]
    with scratch_database(server) as name:
        tally = per_workflow(f"{server}/{name}", workflows)
    lines.append(f"statements  per 3-step workflow (one at a time): {tally.statements / workflows:.1f} statements, "
                 f"{tally.round_trips / workflows:.1f} round trips")
    lines += [f"statements      {n / workflows:5.1f}  {text}" for text, n in tally.by_text.most_common()]
    for at_once in (1, 64):
        with scratch_database(server) as name:
            tally = per_event(f"{server}/{name}", events if at_once == 1 else events * 10, at_once=at_once)
        sent = events if at_once == 1 else events * 10
        lines.append(f"statements  per event ({at_once} in flight): {tally.statements / sent:.2f} statements, "
                     f"{tally.round_trips / sent:.2f} round trips")
        if at_once == 1:
            lines += [f"statements      {n / sent:5.2f}  {text}" for text, n in tally.by_text.most_common()]
    return lines
