"""schemathesis against /openapi.json of a real server (development mode, SQLite): no answer is a 5xx,
and every answer matches the document (status, content type, body schema). Bounded: a few examples per
operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.server.support import Server


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    server = Server(f"sqlite:///{folder / 'fuzz.db'}", log=folder / "server.log")
    try:
        toggle = "initial: off\nstates:\n  off: {on: {FLIP: on}}\n  on: {on: {FLIP: off}}\n"
        server.client.put("/v1/machines/toggle/versions/1", content=toggle,
                          headers={"Content-Type": "application/yaml"})
        server.client.post("/v1/machines/door/instances", json={"name": "d1"})
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(fuzzed_server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")


def test_every_answer_matches_the_openapi_document(api: Any) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate()

        check()
