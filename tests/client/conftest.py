"""The client's tests talk to a real server process on a free loopback port (tests/server/support.py),
serving the door and payment machines from tests/server/machines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.support import DOOR, Server, running

PAYMENT = DOOR.parent / "payment.yaml"
MACHINES = f"{DOOR},{PAYMENT}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A development-mode server (requests without credentials act as admin)."""
    with running(f"sqlite:///{tmp_path / 'client.db'}", log=tmp_path / "server.log",
                 env={"INTERLOCK_LOAD": MACHINES}) as found:
        yield found


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Server]:
    """A server that wants API keys (``keyed.key(*scopes)`` creates one)."""
    with running(f"sqlite:///{tmp_path / 'keyed.db'}", dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_LOAD": MACHINES}) as found:
        yield found
