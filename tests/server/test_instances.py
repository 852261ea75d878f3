"""Instances and events through the HTTP API of a real server."""

from __future__ import annotations

from tests.server.support import Server


def test_an_instance_is_created_moved_by_events_and_read_back(server: Server) -> None:
    c = server.client
    created = c.post("/v1/machines/door/instances", json={"name": "d1", "input": {"opened": 5}})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "d1" and body["state"] == ["door.closed"] and body["tags"] == ["shut"]
    assert body["context"] == {"opened": 5, "_secret": "hidden"}  # dev mode acts as admin
    assert body["done"] is False and body["version"] == "1"
    sent = c.post("/v1/machines/door/instances/d1/events", json={"type": "OPEN"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["outcome"] == "applied" and sent.json()["instance"]["state"] == ["door.open"]
    assert sent.json()["instance"]["context"]["opened"] == 6
    read = c.get("/v1/machines/door/instances/d1").json()
    assert read["state"] == ["door.open"] and read["step"] == 1


def test_a_taken_name_is_409_and_an_unknown_instance_404(server: Server) -> None:
    c = server.client
    assert c.post("/v1/machines/door/instances", json={"name": "d1"}).status_code == 201
    taken = c.post("/v1/machines/door/instances", json={"name": "d1"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict.instance"
    missing = c.get("/v1/machines/door/instances/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found.instance"
    unknown = c.post("/v1/machines/nomachine/instances", json={"name": "x"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found.machine"
    slashed = c.post("/v1/machines/door/instances", json={"name": "d1/history"})
    assert slashed.status_code == 400 and slashed.json()["error"]["details"][0]["path"] == "name"
    assert "'/'" in slashed.json()["error"]["message"]
    for dots in (".", ".."):  # /instances/.. is /machines/door once a client or proxy resolves it
        dotted = c.post("/v1/machines/door/instances", json={"name": dots})
        assert dotted.status_code == 400 and dotted.json()["error"]["details"][0]["path"] == "name", dotted.text


def test_a_create_retried_with_its_idempotency_key_is_201_with_the_instance_as_it_is_now(server: Server) -> None:
    c = server.client
    first = c.post("/v1/machines/door/instances", json={"name": "d2"}, headers={"Idempotency-Key": "new-d2"})
    assert first.status_code == 201 and first.json()["step"] == 0
    c.post("/v1/machines/door/instances/d2/events", json={"type": "OPEN"})
    again = c.post("/v1/machines/door/instances", json={"name": "d2"}, headers={"Idempotency-Key": "new-d2"})
    assert again.status_code == 201, again.text
    assert (again.json()["state"], again.json()["step"]) == (["door.open"], 1)
    other = c.post("/v1/machines/door/instances", json={"name": "d2"}, headers={"Idempotency-Key": "another"})
    assert other.status_code == 409 and "no retry" in other.json()["error"]["message"]
    reused = c.post("/v1/machines/door/instances/d2/events", json={"type": "CLOSE"},
                    headers={"Idempotency-Key": "new-d2"})
    assert reused.status_code == 409 and "already used for the create" in reused.json()["error"]["message"]
    assert [e["outcome"] for e in c.get("/v1/machines/door/instances/d2/history").json()["items"]] == [
        "started", "applied"]


def test_listing_filters_and_pages_with_a_cursor(server: Server) -> None:
    c = server.client
    for name in ("a", "b", "c", "d", "e"):
        assert c.post("/v1/machines/door/instances", json={"name": name}).status_code == 201
    c.post("/v1/machines/door/instances/b/events", json={"type": "OPEN"})
    first = c.get("/v1/machines/door/instances", params={"limit": 2}).json()
    assert [i["id"] for i in first["items"]] == ["a", "b"] and first["next"] == "b"
    second = c.get("/v1/machines/door/instances", params={"limit": 2, "cursor": first["next"]}).json()
    assert [i["id"] for i in second["items"]] == ["c", "d"]
    last = c.get("/v1/machines/door/instances", params={"limit": 2, "after": second["next"]}).json()
    assert [i["id"] for i in last["items"]] == ["e"] and last["next"] is None
    opened = c.get("/v1/machines/door/instances", params={"state": "door.open"}).json()
    assert [i["id"] for i in opened["items"]] == ["b"]
    shut = c.get("/v1/machines/door/instances", params={"tag": "shut"}).json()
    assert [i["id"] for i in shut["items"]] == ["a", "c", "d", "e"]
    bad = c.get("/v1/machines/door/instances", params={"status": "failed"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "request.malformed"
    assert c.get("/v1/machines/door/instances", params={"limit": 0}).status_code == 400
    assert c.get("/v1/machines/door/instances", params={"limit": "x"}).status_code == 400


def test_history_pages_and_idempotent_sends(server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d"})
    key = {"Idempotency-Key": "req-1"}
    once = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"}, headers=key).json()
    again = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"}, headers=key).json()
    assert once["duplicate"] is False and again["duplicate"] is True and again["step"] == once["step"]
    assert again["instance"]["context"]["opened"] == 1
    ignored = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN", "by": "me"}).json()
    assert ignored["outcome"] == "ignored"
    c.post("/v1/machines/door/instances/d/events", json={"type": "CLOSE"})
    page = c.get("/v1/machines/door/instances/d/history", params={"limit": 2}).json()
    assert [e["step"] for e in page["items"]] == [0, 1] and page["next"] == "1"
    assert page["items"][1]["idempotency_key"] == "req-1" and page["items"][1]["event"]["name"] == "OPEN"
    rest = c.get("/v1/machines/door/instances/d/history", params={"cursor": page["next"]}).json()
    assert [(e["step"], e["outcome"]) for e in rest["items"]] == [(2, "ignored"), (3, "applied")]
    assert rest["items"][0]["event"]["data"] == {"by": "me"} and rest["next"] is None


def test_an_event_sent_without_waiting_is_accepted_then_applied(server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d"})
    accepted = c.post("/v1/machines/door/instances/d/events", params={"wait": "false"}, json={"type": "OPEN"})
    assert accepted.status_code == 202 and accepted.json() == {"accepted": True}
    after = c.post("/v1/machines/door/instances/d/events", json={"type": "CLOSE"}).json()
    assert after["outcome"] == "applied" and after["instance"]["step"] == 2  # OPEN was applied first
    refused = c.post("/v1/machines/door/instances/d/events", params={"wait": "false"},
                     json={"type": "done.invoke"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "event.rejected"


def test_pause_resume_cancel_and_the_admin_reads(server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d"})
    assert c.post("/v1/machines/door/instances/d/pause").json()["paused"] is True
    queued = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"}).json()
    assert queued["outcome"] == "queued" and queued["instance"]["queued"] == 1
    resumed = c.post("/v1/machines/door/instances/d/resume").json()
    assert resumed["paused"] is False and resumed["state"] == ["door.open"]
    assert c.get("/v1/machines/door/instances/d/context").json() == {"context": {"opened": 1,
                                                                                 "_secret": "hidden"}}
    for kind in ("timers", "tasks", "children"):
        assert c.get(f"/v1/machines/door/instances/d/{kind}").json() == {"items": [], "next": None}
    assert c.get("/v1/machines/door/instances/nope/timers").status_code == 404
    cancelled = c.post("/v1/machines/door/instances/d/cancel").json()
    assert cancelled["status"] == "cancelled"
    late = c.post("/v1/machines/door/instances/d/events", json={"type": "CLOSE"})
    assert late.status_code == 200 and late.json()["outcome"] == "ignored"  # recorded, not applied
    locked = c.post("/v1/machines/door/instances", json={"name": "e"})
    assert locked.status_code == 201
    c.post("/v1/machines/door/instances/e/events", json={"type": "OPEN"})
    final = c.post("/v1/machines/door/instances/e/events", json={"type": "LOCK"}).json()["instance"]
    assert final["done"] is True and final["status"] == "done"


def test_health_names_the_version_and_the_schema(server: Server, store_url: str) -> None:
    import interlock
    from interlock.storage.queries import migrations

    engine = "sqlite" if store_url.startswith("sqlite") else "postgres"  # each numbers its own migrations
    health = server.client.get("/v1/health").json()
    assert health == {"status": "ok", "version": interlock.__version__,
                      "schema": migrations(engine)[-1][0], "live_subscribers": 0}


def test_a_read_can_wait_for_the_instance_to_end(server: Server) -> None:
    """``?wait=ended`` is a long poll: answered when the instance ends (here by events sent meanwhile)
    or after ``?timeout=`` seconds with the instance as it is then."""
    import threading

    c = server.client
    assert c.post("/v1/machines/door/instances", json={"name": "d1"}).status_code == 201
    early = c.get("/v1/machines/door/instances/d1", params={"wait": "ended", "timeout": "0.2"})
    assert early.status_code == 200 and early.json()["status"] == "active"
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.append(c.get(
        "/v1/machines/door/instances/d1", params={"wait": "ended", "timeout": 20}).json()))
    reader.start()
    c.post("/v1/machines/door/instances/d1/events", json={"type": "OPEN"})
    c.post("/v1/machines/door/instances/d1/events", json={"type": "LOCK"})
    reader.join(25)
    assert [(b["status"], b["state"], b["done"]) for b in got] == [("done", ["door.locked"], True)]
    for params in ({"wait": "soon"}, {"wait": "ended", "timeout": "-1"}, {"wait": "ended", "timeout": "x"},
                   {"wait": "ended", "timeout": "nan"}, {"wait": "ended", "timeout": "31"}):
        bad = c.get("/v1/machines/door/instances/d1", params=params)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "request.malformed", params
    missing = c.get("/v1/machines/door/instances/nope", params={"wait": "ended", "timeout": 1})
    assert missing.status_code == 404
