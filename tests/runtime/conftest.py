"""The durable runtime's suites run over every store: each test of a ``test_durable_*`` module runs on
SQLite and on PostgreSQL (``open_app`` in durable_support.py opens the store of the current run).
A test that looks inside the SQLite file is marked ``sqlite_only``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from interlock.storage import open_store
from tests.postgres_support import empty, fresh_database, require_postgres
from tests.runtime import durable_support

STORES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: looks inside the SQLite file; runs on SQLite only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames and metafunc.module.__name__.rpartition(".")[2].startswith(
            "test_durable_"):
        metafunc.parametrize("store_kind", STORES, indirect=True)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One migrated database for the runtime suites (emptied before each test)."""
    require_postgres()
    with fresh_database() as url:
        open_store(url).close()
        yield url


@pytest.fixture(autouse=True)
def store_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    kind: str = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        if request.node.get_closest_marker("sqlite_only"):
            pytest.skip("looks inside the SQLite file")
        url = request.getfixturevalue("postgres_database")
        empty(url)
        durable_support.POSTGRES_URL = url
    try:
        yield kind
    finally:
        durable_support.POSTGRES_URL = None
