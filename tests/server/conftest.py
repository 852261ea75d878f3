"""Server tests run against a real server process on a free loopback port; the route suites run on
SQLite and on PostgreSQL (``store_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_support import fresh_database
from tests.server.support import Server, running


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[Server]:
    with running(store_url, log=tmp_path / "server.log") as found:
        yield found


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'server.db'}"
