"""The one error format, the limits, and who may call what (a server outside development mode, with API
keys of its database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.support import READER, WRITER, Server, running


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["status"] == status and error["code"] == code and error["message"]
    assert isinstance(error["details"], list)
    return dict(error)


def test_requests_the_server_cannot_read_get_the_error_format(sqlite_url: str, tmp_path: Path) -> None:
    with running(sqlite_url, log=tmp_path / "s.log", env={"INTERLOCK_MAX_BODY_BYTES": "2048"}) as server:
        c = server.client
        _error(c.get("/v1/nowhere"), 404, "not_found.route")
        answer = c.delete("/v1/machines")
        _error(answer, 405, "request.method_not_allowed")
        assert "GET" in answer.headers["allow"]
        headers = {"Content-Type": "application/json"}
        _error(c.post("/v1/machines/door/instances", content=b"{nope", headers=headers), 400,
               "request.malformed")
        _error(c.post("/v1/machines/door/instances", content=b"[1]", headers=headers), 400,
               "request.malformed")
        _error(c.post("/v1/machines/door/instances", content=b"name=x",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}), 415, "request.media_type")
        _error(c.post("/v1/machines/door/instances", json={"name": "x", "extra": 1}), 400, "request.malformed")
        _error(c.post("/v1/machines/door/instances", json={"name": "x", "input": 3}), 400, "request.malformed")
        _error(c.post("/v1/machines/door/instances", json={"name": "x" * 3000}), 413, "request.too_large")
        chunks = (b"{" + b" " * 1024 for _ in range(3))  # no Content-Length: counted as it streams
        _error(c.post("/v1/machines/door/instances", content=chunks, headers=headers), 413, "request.too_large")
        _error(c.post("/v1/machines/door/instances", json={"name": "bad\nname"}), 400, "request.malformed")
        _error(c.post("/v1/machines/door/instances", json={"name": "d", "version": "9"}), 404,
               "not_found.version")
        c.post("/v1/machines/door/instances", json={"name": "d"})
        _error(c.post("/v1/machines/door/instances/d/events", content=b'{"type": "x", "v": NaN}',
                      headers=headers), 400,
               "request.malformed")
        _error(c.post("/v1/machines/door/instances/d/events", json={"type": "error.x"}), 422, "event.rejected")
        _error(c.post("/v1/machines/door/instances/d/events", params={"wait": "maybe"}, json={"type": "OPEN"}),
               400, "request.malformed")
        # a send's refusals (the direct path, server/events.py): the same checks, in the same order
        send = "/v1/machines/door/instances/d/events"
        _error(c.post(send, content=b"{nope", headers=headers), 400, "request.malformed")
        _error(c.post(send, content=b"[1]", headers=headers), 400, "request.malformed")
        _error(c.post(send, content=b"type=OPEN", headers={"Content-Type": "text/plain"}), 415, "request.media_type")
        _error(c.post(send, content=b"", headers=headers), 400, "request.malformed")
        _error(c.post(send, json={"type": "OPEN", "pad": "x" * 3000}), 413, "request.too_large")
        _error(c.post(send, content=(b"{" + b" " * 1024 for _ in range(3)), headers=headers), 413, "request.too_large")
        _error(c.post("/v1/machines/door/instances/nobody/events", json={"type": "OPEN"}), 404, "not_found.instance")
        _error(c.post("/v1/machines/ghost/instances/d/events", json={"type": "OPEN"}), 404, "not_found.machine")
        _error(c.put(send, json={"type": "OPEN"}), 405, "request.method_not_allowed")
        assert c.post(send + "/", json={"type": "OPEN"}).status_code == 307  # the router's redirect, as before
        accepted = c.post(send, params={"wait": "0"}, json={"type": "OPEN"})
        assert (accepted.status_code, accepted.json()) == (202, {"accepted": True})
        assert accepted.headers["content-type"] == "application/json"
        applied = c.post(send, params={"wait": "TRUE"}, json={"type": "NOTHING"})
        assert applied.status_code == 200 and applied.json()["instance"]["id"] == "d"
        assert int(applied.headers["content-length"]) == len(applied.content)
        _error(c.get("/v1/machines/door/versions/7"), 404, "not_found.version")
        _error(c.get("/v1/machines/ghost"), 404, "not_found.machine")


def test_a_client_over_its_rate_is_told_when_to_retry(sqlite_url: str, tmp_path: Path) -> None:
    with running(sqlite_url, log=tmp_path / "s.log", env={"INTERLOCK_RATE": "0.5",
                                                          "INTERLOCK_BURST": "4"}) as server:
        # the readiness probe (support.py) took one of the 4
        answers = [server.client.get("/v1/machines") for _ in range(5)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        limited = answers[3]
        _error(limited, 429, "rate.limited")
        assert int(limited.headers["retry-after"]) >= 1


def test_websocket_handshakes_count_against_the_rate_too(sqlite_url: str, tmp_path: Path) -> None:
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with running(sqlite_url, log=tmp_path / "s.log", env={"INTERLOCK_RATE": "0.5",
                                                          "INTERLOCK_BURST": "3"}) as server:
        url = server.url.replace("http://", "ws://") + "/v1/subscribe"
        for _ in range(2):  # the readiness probe took one of the 3
            with connect(url) as ws:
                ws.send(json.dumps({"subscribe": {"machine": "door"}}))
                assert "subscribed" in json.loads(ws.recv(timeout=30))
        with connect(url) as ws:
            error = json.loads(ws.recv(timeout=30))["error"]
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
        assert error["code"] == "rate.limited" and "retry after" in error["message"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert closed.value.rcvd.reason.startswith("rate.limited")


def test_an_instance_with_a_full_queue_is_busy(sqlite_url: str, tmp_path: Path) -> None:
    with running(sqlite_url, log=tmp_path / "s.log", env={"INTERLOCK_MAX_QUEUED": "2"}) as server:
        c, base = server.client, "/v1/machines/door/instances"
        assert c.post(base, json={"name": "d1"}).status_code == 201
        assert c.post(f"{base}/d1/pause").status_code == 200
        assert [c.post(f"{base}/d1/events", json={"type": "OPEN"}).json()["outcome"] for _ in range(2)] == [
            "queued", "queued"]
        busy = c.post(f"{base}/d1/events", json={"type": "CLOSE"})
        _error(busy, 429, "instance.busy")
        assert busy.headers["retry-after"] == "1" and "door/d1 has 2 events waiting" in busy.json()["error"]["message"]
        assert c.post(f"{base}/d1/resume").json()["queued"] == 0


@pytest.fixture
def guarded(sqlite_url: str, tmp_path: Path) -> Iterator[Server]:
    with running(sqlite_url, dev=False, log=tmp_path / "s.log") as server:
        yield server


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_outside_development_mode_every_call_needs_credentials_and_its_scope(guarded: Server) -> None:
    c = guarded.client
    reader, writer, admin = guarded.key(*READER), guarded.key(*WRITER), guarded.key("admin")
    missing = c.get("/v1/machines")
    _error(missing, 401, "auth.credentials.missing")
    assert missing.headers["www-authenticate"] == "Bearer"
    _error(c.get("/v1/machines", headers=_as("ilk_000000000000_guess")), 401, "auth.key.unknown")
    _error(c.get("/v1/machines", headers=_as(reader[:-1] + "x")), 401, "auth.key.unknown")  # its id, not its secret
    _error(c.get("/v1/machines", headers=_as("ilk_short")), 401, "auth.key.malformed")
    _error(c.get("/v1/machines", headers=_as("wrong")), 401, "auth.token.not_accepted")  # no JWT configured
    _error(c.get("/v1/machines", headers={"Authorization": f"Basic {reader}"}), 401, "auth.credentials.malformed")
    assert c.get("/v1/health").status_code == 200  # health needs no credentials
    assert c.get("/v1/machines", headers=_as(reader)).status_code == 200
    _error(c.post("/v1/machines/door/instances", json={"name": "d"}, headers=_as(reader)), 403,
           "auth.scope.missing")
    created = c.post("/v1/machines/door/instances", json={"name": "d"}, headers=_as(writer))
    assert created.status_code == 201
    assert created.json()["context"] == {"opened": 0}  # the private _secret is for admins
    _error(c.get("/v1/machines/door/instances/d/context", headers=_as(writer)), 403, "auth.scope.missing")
    full = c.get("/v1/machines/door/instances/d/context", headers=_as(admin)).json()
    assert full == {"context": {"opened": 0, "_secret": "hidden"}}
    _error(c.put("/v1/machines/t/versions/1", content="initial: a\nstates: {a: {}}",
                 headers={"Content-Type": "application/yaml", **_as(reader)}), 403, "auth.scope.missing")


def test_development_mode_serves_only_this_machines_own_programs(server: Server) -> None:
    """No credentials act as admin in development mode, but not for a page of another site (its Origin)
    nor through a foreign host name pointed at loopback (DNS rebinding: its Host)."""
    c = server.client
    assert c.get("/v1/machines").status_code == 200
    assert c.get("/v1/machines", headers={"Origin": "http://localhost:5173"}).status_code == 200
    assert c.get("/v1/machines", headers={"Host": f"[::1]:{server.port}"}).status_code == 200
    rebound = _error(c.get("/v1/machines", headers={"Host": "attacker.example"}), 401, "auth.dev.not_local")
    assert "attacker.example" in str(rebound["message"])
    _error(c.post("/v1/machines/door/instances", json={"name": "d1"},
                  headers={"Origin": "https://attacker.example"}), 401, "auth.dev.not_local")
    _error(c.get("/v1/machines", headers={"Origin": "null"}), 401, "auth.dev.not_local")
    assert c.get("/v1/machines/door/instances/d1").status_code == 404  # nothing was created


def test_a_websocket_from_a_page_of_another_site_is_refused_in_development_mode(server: Server) -> None:
    import json

    from websockets.sync.client import connect

    url = server.url.replace("http://", "ws://") + "/v1/subscribe"
    with connect(url, origin="https://attacker.example") as ws:  # its origin is refused before anything else
        ws.send(json.dumps({"subscribe": {"machine": "door"}}))
        assert json.loads(ws.recv(timeout=30))["error"]["code"] == "auth.origin.refused"
    with connect(url, origin="http://127.0.0.1:3000") as ws:
        ws.send(json.dumps({"subscribe": {"machine": "door"}}))
        assert "subscribed" in json.loads(ws.recv(timeout=30))


def test_made_up_credentials_share_their_address_rate(sqlite_url: str, tmp_path: Path) -> None:
    """Credentials that no response accepted do not get a bucket of their own: a client cannot multiply
    its rate by sending a new made-up key with every request. Accepted ones get their own."""
    env = {"INTERLOCK_RATE": "0.5", "INTERLOCK_BURST": "4"}
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        # the readiness probe (support.py) took one of the address's 4
        made_up = [server.client.get("/v1/machines", headers=_as(f"made-up-{n}")).status_code
                   for n in range(4)]
    assert made_up == [401, 401, 401, 429]
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        reader = server.key(*READER)
        # the first answer accepts the key (the address pays for it); then the key has 4 of its own
        accepted = [server.client.get("/v1/machines", headers=_as(reader)).status_code
                    for _ in range(6)]
        assert server.client.get("/v1/machines", headers=_as("made-up")).status_code == 401  # address: 1 left
    assert accepted == [200, 200, 200, 200, 200, 429]


def test_made_up_credentials_on_a_public_route_share_their_address_rate(sqlite_url: str, tmp_path: Path) -> None:
    """A route that asks nobody who they are (the health check, the API document) answers made-up
    credentials with 200: that accepted them, and each new made-up word bought a bucket of its own.
    Only credentials that authenticated a caller leave the address's bucket now."""
    env = {"INTERLOCK_RATE": "0.5", "INTERLOCK_BURST": "4"}
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        # the readiness probe took one of the address's 4; each word's first request is the address's too
        answers = [server.client.get(path, headers=_as(f"made-up-{n}")).status_code
                   for n in range(3) for path in ("/v1/health", "/openapi.json")]
    assert answers == [200, 200, 200, 429, 429, 429]


def test_made_up_credentials_on_a_route_that_reads_none_buy_no_bucket(sqlite_url: str, tmp_path: Path) -> None:
    """A route that never verifies credentials (/v1/health, an unknown route) answered 200 or 404, which
    accepted any made-up Authorization header as a client of its own: a client sending a new made-up
    word every few requests had no rate limit there (each one cost its address a single request)."""
    env = {"INTERLOCK_RATE": "0.5", "INTERLOCK_BURST": "4"}
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        # the readiness probe (support.py) took one of the address's 4
        answers = [server.client.get(path, headers=_as("made-up")).status_code
                   for path in ("/v1/health", "/v1/nowhere", "/v1/health", "/v1/health")]
    assert answers == [200, 404, 200, 429]


def test_two_authorization_headers_are_refused(sqlite_url: str, tmp_path: Path) -> None:
    """The rate limit keys a client by its last Authorization header, the server authenticated the first:
    a valid key first and made-up words last bought a fresh bucket per made-up word. Either order is
    refused now, on every route (the send's fast path too), and buys nothing."""
    env = {"INTERLOCK_RATE": "0.5", "INTERLOCK_BURST": "4"}
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        reader, writer = server.key(*READER), server.key(*WRITER)
        twice = [("Authorization", f"Bearer {reader}"), ("Authorization", "Bearer made-up")]
        _error(server.client.get("/v1/machines", headers=twice), 401, "auth.credentials.twice")
        _error(server.client.get("/v1/machines", headers=twice[::-1]), 401, "auth.credentials.twice")
        sent = server.client.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"},
                                  headers=[("Authorization", f"Bearer {writer}")] * 2)
        _error(sent, 401, "auth.credentials.twice")
        # the readiness probe and the three refusals took the address's 4: made-up words got no bucket
        _error(server.client.get("/v1/machines", headers=twice), 429, "rate.limited")


def test_a_nul_character_is_malformed_input_on_both_stores(server: Server) -> None:
    """PostgreSQL text cannot hold NUL: a machine name, key id or cursor with %00 in the URL, or a create's
    version holding it, was a 503 storage.failed there (a server failure, which clients retry) and a 404
    or 200 on SQLite; a machine whose state id holds it was uploaded, then every create was a 503."""
    c = server.client
    for url in ("/v1/machines/%00/instances", "/v1/machines/door/instances?cursor=%00",
                "/v1/machines/door/instances?tag=a%00", "/v1/keys/%00", "/v1/keys?cursor=%00"):
        answer = c.get(url) if not url.startswith("/v1/keys/") else c.delete(url)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "request.malformed", (url, answer.text)
    made = c.post("/v1/machines/door/instances", json={"name": "d1", "version": "1\u0000"})
    assert made.status_code == 400 and "NUL" in made.json()["error"]["message"], made.text
    document = '{"initial": "a\\u0000", "states": {"a\\u0000": {"tags": ["t"]}, "b": {"tags": ["t\\u0000"]}}}'
    uploaded = c.put("/v1/machines/nul/versions/1", content=document, headers={"Content-Type": "application/json"})
    assert uploaded.status_code == 422, uploaded.text
    assert [d["path"] for d in uploaded.json()["error"]["details"]] == ["states.a\u0000", "states.b.tags"]
