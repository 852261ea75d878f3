"""The /v1/keys routes on a server outside development mode, on SQLite and PostgreSQL: admin only, the
secret shown once, a revoked key refused at once by the process that revoked it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.support import READER, Server, bearer, running


@pytest.fixture
def guarded(store_url: str, tmp_path: Path) -> Iterator[Server]:
    with running(store_url, dev=False, log=tmp_path / "s.log") as server:
        yield server


def test_an_admin_creates_lists_and_revokes_keys(guarded: Server) -> None:
    c, admin = guarded.client, bearer(guarded.key("admin"))
    made = c.post("/v1/keys", json={"scopes": ["read"], "label": "dashboard"}, headers=admin)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["key"].startswith(f"ilk_{body['id']}_") and body["scopes"] == ["read"] and not body["revoked"]
    reader = bearer(body["key"])
    assert c.get("/v1/machines", headers=reader).status_code == 200
    listed = {k["id"]: k for k in c.get("/v1/keys", headers=admin).json()["items"]}
    assert "key" not in listed[body["id"]] and listed[body["id"]]["label"] == "dashboard"
    assert listed[body["id"]]["last_used_at"] is not None
    revoked = c.delete(f"/v1/keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"]
    refused = c.get("/v1/machines", headers=reader)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "auth.key.revoked"


def test_keys_are_the_admins_and_bad_requests_say_why(guarded: Server) -> None:
    c, admin, reader = guarded.client, bearer(guarded.key("admin")), bearer(guarded.key(*READER))
    for answer in (c.get("/v1/keys", headers=reader), c.post("/v1/keys", json={"scopes": ["admin"]}, headers=reader),
                   c.delete("/v1/keys/x", headers=reader)):
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "auth.scope.missing"
    assert c.get("/v1/keys").json()["error"]["code"] == "auth.credentials.missing"
    bad = c.post("/v1/keys", json={"scopes": ["root"]}, headers=admin)
    assert bad.status_code == 400 and "unknown scope(s) 'root'" in bad.json()["error"]["message"]
    assert c.post("/v1/keys", json={"scopes": "read"}, headers=admin).status_code == 400
    long_label = c.post("/v1/keys", json={"scopes": ["read"], "label": "x" * 201}, headers=admin)
    assert long_label.status_code == 400 and long_label.json()["error"]["details"][0]["path"] == "label"
    assert bad.json()["error"]["details"][0]["path"] == "scopes"
    assert c.post("/v1/keys", json={"scopes": ["read"], "owner": "x"}, headers=admin).status_code == 400
    missing = c.delete("/v1/keys/nope", headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found.key"


def test_keys_are_listed_page_by_page_oldest_first(guarded: Server) -> None:
    c, admin = guarded.client, bearer(guarded.key("admin", label="first"))
    made = [c.post("/v1/keys", json={"scopes": ["read"], "label": f"k{n}"}, headers=admin).json()["id"]
            for n in range(4)]
    c.delete(f"/v1/keys/{made[1]}", headers=admin)
    pages, cursor = [], None
    while True:
        answer = c.get("/v1/keys", params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=admin)
        assert answer.status_code == 200, answer.text
        pages.append([k["label"] for k in answer.json()["items"]])
        cursor = answer.json()["next"]
        if cursor is None:
            break
    assert pages == [["first", "k0"], ["k1", "k2"], ["k3"]]  # revoked k1 too; no empty last page
    assert c.get("/v1/keys", headers=admin).json()["next"] is None  # the default page holds all five


def test_a_bad_keys_cursor_or_limit_says_how_to_fix_it(guarded: Server) -> None:
    c, admin = guarded.client, bearer(guarded.key("admin"))
    unknown = c.get("/v1/keys", params={"cursor": "nope"}, headers=admin)
    assert unknown.status_code == 400 and "'next' of the previous page" in unknown.json()["error"]["message"]
    assert unknown.json()["error"]["details"][0]["path"] == "cursor"
    for limit in ("0", "1001", "x"):
        answer = c.get("/v1/keys", params={"limit": limit}, headers=admin)
        assert answer.status_code == 400 and "'limit'" in answer.json()["error"]["message"]
