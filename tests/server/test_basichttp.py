"""The SCXML Basic HTTP Event I/O Processor's receiving side on a real server (SCXML C.2):
``POST /v1/basichttp/{machine}/{name}``."""

from __future__ import annotations

from tests.server.support import Server


def test_a_form_post_is_an_event_named_by_scxmleventname_with_the_other_fields_as_data(
        server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d1"})
    sent = c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN", "by": "alice", "n": "1"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["outcome"] == "applied" and sent.json()["instance"]["state"] == ["door.open"]
    [entry] = c.get("/v1/machines/door/instances/d1/history", params={"after": 0}).json()["items"]
    event = entry["event"]
    assert event["name"] == "OPEN" and event["data"] == {"by": "alice", "n": "1"}
    assert event["origintype"] == "http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor"
    assert event["raw"].startswith("POST /v1/basichttp/door/d1 HTTP/1.1\r\n")
    assert event["raw"].endswith("\r\n\r\n_scxmleventname=OPEN&by=alice&n=1")


def test_without_a_name_the_event_is_http_post_and_a_json_body_is_its_data(server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d1"})
    sent = c.post("/v1/basichttp/door/d1", json={"total": 3})
    assert sent.status_code == 200 and sent.json()["outcome"] == "ignored"  # the door has no HTTP.POST
    text = c.post("/v1/basichttp/door/d1?_scxmleventname=OPEN", content=b"some content",
                  headers={"Content-Type": "text/plain"})
    assert text.json()["outcome"] == "applied"
    events = [e["event"] for e in c.get("/v1/machines/door/instances/d1/history",
                                         params={"after": 0}).json()["items"]]
    assert [(e["name"], e.get("data")) for e in events] == [("HTTP.POST", {"total": 3}),
                                                           ("OPEN", "some content")]


def test_a_repeated_post_with_the_same_idempotency_key_applies_once(server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d1"})
    headers = {"Idempotency-Key": "door/d1#3.0"}
    first = c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN"}, headers=headers)
    again = c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN"}, headers=headers)
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    assert again.json()["instance"]["context"]["opened"] == 1


def test_credentials_never_reach_raw_and_an_unknown_instance_is_404(sqlite_url: str, tmp_path: object) -> None:
    from pathlib import Path

    from tests.server.support import READER, WRITER, bearer, running

    with running(sqlite_url, dev=False, log=Path(str(tmp_path)) / "server.log") as server:
        writer_key = server.key(*WRITER)
        writer = bearer(writer_key)
        c = server.client
        assert c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN"}).status_code == 401
        missing = c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN"}, headers=writer)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found.instance"
        reader = c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN"},
                        headers=bearer(server.key(*READER)))
        assert reader.status_code == 403 and reader.json()["error"]["code"] == "auth.scope.missing"
        c.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer)
        c.post(f"/v1/basichttp/door/d1?access_token={writer_key}&x=1", data={"_scxmleventname": "OPEN"},
               headers=writer)  # a query's access_token is credentials too, however misplaced
        [entry] = c.get("/v1/machines/door/instances/d1/history", params={"after": 0},
                        headers=bearer(server.key("admin"))).json()["items"]  # raw as stored
    assert writer_key not in str(entry["event"]["raw"]) and "authorization" not in entry["event"]["raw"]
    assert entry["event"]["raw"].startswith("POST /v1/basichttp/door/d1?x=1 HTTP/1.1")


def test_a_senders_idempotency_key_and_headers_are_not_in_raw_for_other_readers(sqlite_url: str,
                                                                                 tmp_path: object) -> None:
    """The history shows another caller's idempotency key as null, but the Basic HTTP event's raw text,
    shown to every reader, held it among the request's headers: it is not stored there now. The other
    headers a sender sends (a partner's token, forwarding addresses) are stored, for admins: a reader
    who is not admin gets no ``raw`` at all."""
    from pathlib import Path

    from tests.server.support import READER, WRITER, bearer, running

    with running(sqlite_url, dev=False, log=Path(str(tmp_path)) / "server.log") as server:
        writer, reader = bearer(server.key(*WRITER)), bearer(server.key(*READER))
        c = server.client
        assert c.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer).status_code == 201
        sent = c.post("/v1/basichttp/door/d1", data={"_scxmleventname": "OPEN"},
                      headers={**writer, "Idempotency-Key": "writers-own-request-id",
                               "X-Api-Token": "partner-secret"})
        assert sent.status_code == 200, sent.text
        [entry] = c.get("/v1/machines/door/instances/d1/history", params={"after": 0},
                        headers=reader).json()["items"]
        [stored] = c.get("/v1/machines/door/instances/d1/history", params={"after": 0},
                         headers=bearer(server.key("admin"))).json()["items"]
    assert entry["idempotency_key"] is None and entry["event"]["raw"] is None
    assert entry["event"]["name"] == "OPEN"
    assert "writers-own-request-id" not in stored["event"]["raw"] and "partner-secret" in stored["event"]["raw"]
