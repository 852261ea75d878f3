"""schemathesis against /openapi.json of a real server (development mode, SQLite): no answer is a 5xx,
and every answer matches the document (status, content type, body schema). Bounded: a few examples per
operation, and the live routes (a stream that stays open, a WebSocket) are left out of the fuzzing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

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


# Routes schemathesis cannot fuzz, excluded by name: the event stream answers 200 and then stays open
# (a call would wait for it to end), and /v1/subscribe is a WebSocket (a plain GET is no handshake).
# test_live.py drives both; test_the_document_describes_the_live_routes checks their description.
LIVE_ROUTES = ("/v1/machines/{machine}/instances/{name}/stream", "/v1/subscribe")


@pytest.fixture(scope="module")
def document(fuzzed_server: Server) -> dict[str, Any]:
    answer = fuzzed_server.client.get("/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture(scope="module")
def api(fuzzed_server: Server) -> Any:
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json").exclude(path=list(LIVE_ROUTES))


def test_the_document_is_valid_openapi_3_0(document: dict[str, Any]) -> None:
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in OPENAPI_30_VALIDATOR.iter_errors(document)]
    assert errors == []


def test_the_document_describes_the_live_routes(document: dict[str, Any]) -> None:
    stream = document["paths"]["/v1/machines/{machine}/instances/{name}/stream"]["get"]
    assert list(stream["responses"]["200"]["content"]) == ["text/event-stream"]
    params = {(p["in"], p["name"]) for p in stream["parameters"]}
    assert {("path", "machine"), ("path", "name"), ("query", "after"), ("header", "Last-Event-ID")} <= params
    assert set(stream["x-events"]) == {"instance", "change", "dropped"}
    socket = document["paths"]["/v1/subscribe"]["get"]
    assert list(socket["responses"]) == ["101"] and "RFC 6455" in socket["description"]
    messages = {**socket["x-websocket"]["client"], **socket["x-websocket"]["server"]}
    schemas = document["components"]["schemas"]
    for message in messages.values():  # every message's schema is in the document
        assert message["$ref"].removeprefix("#/components/schemas/") in schemas
    assert schemas["Subscribe"]["properties"]["after"]["minimum"] == 0


def test_the_keys_listing_is_paged(document: dict[str, Any]) -> None:
    listing = document["paths"]["/v1/keys"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"cursor", "limit"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiKeyPage")


def test_the_fuzzed_operations_leave_out_only_the_live_routes(api: Any, document: dict[str, Any]) -> None:
    fuzzed = {result.ok().path for result in api.get_all_operations()}
    assert fuzzed == set(document["paths"]) - set(LIVE_ROUTES)


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
