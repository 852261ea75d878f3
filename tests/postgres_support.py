"""PostgreSQL for tests: a server to use, or a clear skip (a failure when CI is set).

The server is ``INTERLOCK_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432``, trust auth).
Each test gets a database of its own (a unique name, dropped afterwards), or, for the runtime suites, one
database per test session emptied before each test (creating a database costs ~0.3 s).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

SERVER = os.environ.get("INTERLOCK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
TABLES = ("instances", "instance_index", "history", "inbox", "timers", "tasks", "machines",
          "machine_definitions")
_reachable: bool | None = None


def require_postgres() -> str:
    """The server URL (no database), or skip the test (fail under CI) when it is not reachable."""
    global _reachable
    if _reachable is None:
        try:
            psycopg.connect(f"{SERVER}/postgres", connect_timeout=3).close()
            _reachable = True
        except psycopg.Error:
            _reachable = False
    if not _reachable:
        message = (f"PostgreSQL is not reachable at {SERVER} (set INTERLOCK_TEST_POSTGRES, or start it: "
                   "pg_ctlcluster 15 main start)")
        if os.environ.get("CI"):
            pytest.fail(message + "; CI is set, so the PostgreSQL tests must run")
        pytest.skip(message)
    return SERVER


def _admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql.encode())


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database (its URL); dropped afterwards, connections and all."""
    require_postgres()
    name = f"interlock_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty(url: str) -> None:
    """Remove every row of a migrated Interlock database (the schema stays)."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('instances')").fetchone()
        if exists and exists[0] is not None:
            conn.execute(f"TRUNCATE {', '.join(TABLES)}".encode())
            conn.execute(b"UPDATE interlock_feed SET position = 0")
