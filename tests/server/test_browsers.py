"""What a web page needs to use the API from a browser, against a real server: CORS for the origins the
server allows, and credentials for the live routes where browsers cannot set an ``Authorization`` header
(a WebSocket's subscribe message, an ``EventSource``'s ``?access_token=``), kept out of the access log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from interlock.server.config import ServerConfig
from tests.server.support import READER, WRITER, Server, bearer, running

APP = "https://app.example.com"


@pytest.fixture
def guarded(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    with running(sqlite_url, dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_CORS_ORIGINS": f"{APP},http://localhost:5173"}) as server:
        yield server


def test_a_page_of_an_allowed_origin_may_call_the_api_and_read_its_refusals(guarded: Server) -> None:
    c = guarded.client
    preflight = c.options("/v1/machines/door/instances/d1/events", headers={
        "Origin": APP, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert all(h in allowed for h in ("authorization", "content-type", "idempotency-key"))
    assert "POST" in preflight.headers["access-control-allow-methods"]
    writer = bearer(guarded.key(*WRITER))
    created = c.post("/v1/machines/door/instances", json={"name": "d1"}, headers={**writer, "Origin": APP})
    assert created.status_code == 201 and created.headers["access-control-allow-origin"] == APP
    refused = c.get("/v1/machines/door/instances/d1", headers={"Origin": APP})  # no credentials
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == APP
    assert "retry-after" in refused.headers.get("access-control-expose-headers", "").lower()


def test_a_page_of_another_origin_gets_no_cors_headers(guarded: Server, sqlite_url: str, tmp_path: Path) -> None:
    other = "https://evil.example.net"
    preflight = guarded.client.options("/v1/machines", headers={"Origin": other,
                                                                "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
    error = preflight.json()["error"]
    assert error["code"] == "cors.refused" and "origin" in error["message"] and other in error["message"]
    odd = guarded.client.options("/v1/machines", headers={"Origin": APP, "Access-Control-Request-Method": "GET",
                                                          "Access-Control-Request-Headers": "x-secret"})
    assert odd.status_code == 400 and "refused: headers" in odd.json()["error"]["message"]
    answer = guarded.client.get("/v1/health", headers={"Origin": other})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


def test_without_cors_origins_no_page_may_call_it(sqlite_url: str, tmp_path: Path) -> None:
    with running(sqlite_url, dev=False, log=tmp_path / "server.log") as server:
        answer = server.client.get("/v1/health", headers={"Origin": APP})
        assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
        preflight = server.client.options("/v1/machines", headers={"Origin": APP,
                                                                   "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_are_checked_when_the_server_starts() -> None:
    with pytest.raises(ValueError, match=r"not an origin.*https://app\.example\.com"):
        ServerConfig(cors_origins=("https://app.example.com/",))
    with pytest.raises(ValueError, match="not an origin"):
        ServerConfig(cors_origins=("app.example.com",))
    assert ServerConfig(cors_origins=("*", "http://localhost:5173")).cors_origins == ("*", "http://localhost:5173")


def ws_url(server: Server) -> str:
    return server.url.replace("http://", "ws://") + "/v1/subscribe"


def test_a_websocket_subscriber_may_send_its_credentials_in_the_subscribe_message(guarded: Server) -> None:
    reader, writer = guarded.key(*READER), bearer(guarded.key(*WRITER))
    with connect(ws_url(guarded), additional_headers={"Origin": APP}) as ws:
        ws.send(json.dumps({"subscribe": {"machine": "door"}, "authorization": f"Bearer {reader}"}))
        assert "subscribed" in json.loads(ws.recv(timeout=30))
        guarded.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer)
        change = json.loads(ws.recv(timeout=30))
    assert change["id"] == "d1" and change["instance"]["context"] == {"opened": 0}  # a reader's view


@pytest.mark.parametrize(("message", "headers", "code"), [
    ({"authorization": "Bearer {forged}"}, {}, "auth.key.unknown"),
    ({"authorization": "Basic dXNlcjpwYXNz"}, {}, "auth.credentials.malformed"),
    ({"authorization": 42}, {}, "request.malformed"),
    ({"authorization": "x" * 9000}, {}, "request.malformed"),
    ({"authorization": "Bearer {reader}"}, {"Authorization": "Bearer {reader}"}, "auth.credentials.twice"),
])
def test_credentials_in_a_subscribe_message_are_verified(guarded: Server, message: dict, headers: dict,
                                                         code: str) -> None:
    reader = guarded.key(*READER)
    forged = reader[:-6] + ("000000" if not reader.endswith("000000") else "111111")
    message = {k: v.format(reader=reader, forged=forged) if isinstance(v, str) else v for k, v in message.items()}
    headers = {k: v.format(reader=reader) for k, v in headers.items()}
    with connect(ws_url(guarded), additional_headers=headers) as ws:
        ws.send(json.dumps({"subscribe": {"machine": "door"}, **message}))
        error = json.loads(ws.recv(timeout=30))["error"]
    assert error["code"] == code, error
    assert reader not in json.dumps(error)


def test_an_event_source_may_pass_its_key_as_access_token_which_the_log_never_shows(guarded: Server) -> None:
    reader, writer = guarded.key(*READER), bearer(guarded.key(*WRITER))
    guarded.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer)
    url = f"/v1/machines/door/instances/d1/stream?access_token={reader}"
    with guarded.client.stream("GET", url, headers={"Origin": APP}) as response:
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == APP
        first = next(line for line in response.iter_lines() if line.startswith("event:"))
    assert first == "event: instance"
    bad = guarded.client.get("/v1/machines/door/instances/d1/stream?access_token=nope")
    assert bad.status_code == 401
    twice = guarded.client.get(url, headers=bearer(reader))
    assert twice.status_code == 401 and twice.json()["error"]["code"] == "auth.credentials.twice"
    log = guarded.output()
    assert "access_token=[redacted]" in log and reader not in log


@pytest.mark.parametrize("name", ["access%5Ftoken", "%61ccess_token", "access%5ftoken"])
def test_an_access_token_whose_name_is_percent_encoded_is_redacted_too(guarded: Server, name: str) -> None:
    reader, writer = guarded.key(*READER), bearer(guarded.key(*WRITER))
    guarded.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer)
    url = f"/v1/machines/door/instances/d1/stream?after=0&{name}={reader}"
    with guarded.client.stream("GET", url) as response:
        assert response.status_code == 200  # the server decodes the name, as any query parameter's
    assert reader not in guarded.output()


def test_an_access_token_on_the_websocket_url_stays_out_of_the_log(guarded: Server) -> None:
    reader = guarded.key(*READER)  # not how the WebSocket takes credentials, but a client may try it
    with connect(f"{ws_url(guarded)}?access_token={reader}") as ws:
        ws.send(json.dumps({"subscribe": {"machine": "door"}}))
        assert json.loads(ws.recv(timeout=30))["error"]["code"] == "auth.credentials.missing"
    assert "access_token=[redacted]" in guarded.output() and reader not in guarded.output()


def test_access_token_given_twice_in_the_query_is_refused(guarded: Server) -> None:
    reader, writer = guarded.key(*READER), bearer(guarded.key(*WRITER))
    guarded.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer)
    twice = guarded.client.get(f"/v1/machines/door/instances/d1/stream?access_token=nope&access_token={reader}")
    assert twice.status_code == 401 and twice.json()["error"]["code"] == "auth.credentials.twice"
    assert reader not in twice.text


def test_cors_origins_must_be_written_as_browsers_send_them() -> None:
    for origin in ("https://App.example.com", "https://app.example.com:443", "http://localhost:80"):
        with pytest.raises(ValueError, match="not an origin"):
            ServerConfig(cors_origins=(origin,))
    assert ServerConfig(cors_origins=("http://[::1]:5173",)).cors_origins == ("http://[::1]:5173",)


def test_in_development_mode_any_origin_allowed_by_cors_still_needs_credentials(sqlite_url: str) -> None:
    evil = "https://evil.example.net"
    with running(sqlite_url, dev=True, env={"INTERLOCK_CORS_ORIGINS": "*"}) as server:
        preflight = server.client.options("/v1/machines", headers={"Origin": evil,
                                                                   "Access-Control-Request-Method": "GET"})
        assert preflight.headers["access-control-allow-origin"] == "*"  # CORS lets the page ask...
        read = server.client.get("/v1/machines", headers={"Origin": evil})  # ...the developer's admin: no
        assert read.status_code == 401 and read.json()["error"]["code"] == "auth.dev.not_local"
        assert "access-control-allow-credentials" not in read.headers
        with connect(ws_url(server), additional_headers={"Origin": evil}) as ws:
            ws.send(json.dumps({"subscribe": {"machine": "door"}}))
            assert json.loads(ws.recv(timeout=30))["error"]["code"] == "auth.dev.not_local"


def test_credentials_sent_after_the_subscription_end_it(guarded: Server) -> None:
    reader = guarded.key(*READER)
    with connect(ws_url(guarded)) as ws:
        ws.send(json.dumps({"subscribe": {"machine": "door"}, "authorization": f"Bearer {reader}"}))
        assert "subscribed" in json.loads(ws.recv(timeout=30))
        ws.send(json.dumps({"authorization": f"Bearer {reader}"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert reader not in closed.value.rcvd.reason


def test_a_websocket_from_a_page_cors_does_not_allow_is_refused(guarded: Server) -> None:
    reader = guarded.key(*READER)
    message = json.dumps({"subscribe": {"machine": "door"}, "authorization": f"Bearer {reader}"})
    with connect(ws_url(guarded), additional_headers={"Origin": "https://evil.example.net"}) as ws:
        ws.send(message)
        error = json.loads(ws.recv(timeout=30))["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert error["code"] == "auth.origin.refused" and "cors_origins" in error["message"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    for allowed in (APP, guarded.url):  # an origin of cors_origins, and the server's own pages
        with connect(ws_url(guarded), additional_headers={"Origin": allowed}) as ws:
            ws.send(message)
            assert "subscribed" in json.loads(ws.recv(timeout=30))


def test_in_development_mode_pages_of_this_machine_may_call_it_without_settings(sqlite_url: str) -> None:
    page, evil = "http://localhost:5173", "https://evil.example.net"  # a front end's dev server
    with running(sqlite_url, dev=True) as server:
        preflight = server.client.options("/v1/machines/door/instances", headers={
            "Origin": page, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == page
        created = server.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers={"Origin": page})
        assert created.status_code == 201 and created.headers["access-control-allow-origin"] == page
        with connect(ws_url(server), additional_headers={"Origin": page}) as ws:
            ws.send(json.dumps({"subscribe": {"machine": "door"}}))
            assert "subscribed" in json.loads(ws.recv(timeout=30))
        other = server.client.get("/v1/machines", headers={"Origin": evil})
        assert "access-control-allow-origin" not in other.headers
        with connect(ws_url(server), additional_headers={"Origin": evil}) as ws:
            ws.send(json.dumps({"subscribe": {"machine": "door"}}))
            assert json.loads(ws.recv(timeout=30))["error"]["code"] == "auth.origin.refused"


def test_an_unexpected_failure_is_answered_with_the_cors_headers_and_logged(sqlite_url: str, tmp_path: Path) -> None:
    """A 500 (here an authenticator with a bug) carries the CORS headers, so the page can read the
    error instead of the browser reporting a CORS failure; the failure is logged as before."""
    log = tmp_path / "server.log"
    with running(sqlite_url, dev=True, log=log, env={"INTERLOCK_CORS_ORIGINS": APP,
                                                     "INTERLOCK_TEST_FAILING_AUTH": "1"}) as server:
        failed = server.client.get("/v1/machines", headers={"Origin": APP, "Authorization": "Bearer fail",
                                                            "Connection": "close"})  # uvicorn closes it
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "internal"
        assert failed.headers["access-control-allow-origin"] == APP
        refused = server.client.get("/v1/machines", headers={"Origin": APP, "Authorization": "Bearer other"})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == APP
        assert server.client.get("/v1/machines").status_code == 200  # the server goes on serving
    assert "the test authenticator failed on purpose" in log.read_text()
