"""Every store passes the same contract: each test here runs once per store URL (a SQLite file, and a
fresh PostgreSQL database; see tests/postgres_support.py for when PostgreSQL is skipped)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interlock.storage import open_store
from interlock.storage.store import Store
from tests.postgres_support import fresh_database

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'contract.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def open_connection(store_url: str) -> Iterator[Opener]:
    """Opens another store on the same database: another connection, as another process would have."""
    opened: list[Store] = []

    def opener() -> Store:
        store = open_store(store_url)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


@pytest.fixture
def store(open_connection: Opener) -> Store:
    return open_connection()
