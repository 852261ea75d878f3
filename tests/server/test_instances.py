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
