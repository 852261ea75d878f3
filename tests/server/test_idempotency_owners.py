"""Idempotency keys are their callers' own (docs/auth.md, "Machine rules"): a restrained caller's key is
stored as ``["<sub>","<key>"]``; a key of trusted code or an admin that has that form (a webhook's,
mapped from a body another system wrote) must not be taken for it. Real server on loopback, SQLite."""

from __future__ import annotations

from pathlib import Path

from tests.server.support import WRITER, bearer, running


def test_an_admins_key_shaped_like_a_callers_stored_key_is_not_that_callers(tmp_path: Path) -> None:
    with running(f"sqlite:///{tmp_path / 'i.db'}", dev=False, log=tmp_path / "s.log") as server:
        c = server.client
        admin, key = bearer(server.key("admin")), server.key(*WRITER)
        writer = bearer(key)
        assert c.post("/v1/machines/door/instances", json={"name": "d"}, headers=admin).status_code == 201
        shaped = f'["key:{key.split("_")[1]}","k1"]'  # how the writer's key "k1" is stored
        first = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"},
                       headers={**admin, "Idempotency-Key": shaped})
        assert first.status_code == 200 and first.json()["outcome"] == "applied", first.text
        mine = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"},
                      headers={**writer, "Idempotency-Key": "k1"})
        assert mine.status_code == 200, mine.text
        assert mine.json()["duplicate"] is False  # its own request, not the admin's
        assert mine.json()["step"] == first.json()["step"] + 1
        again = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"},
                       headers={**admin, "Idempotency-Key": shaped})
        assert again.json()["duplicate"] is True and again.json()["step"] == first.json()["step"]
        history = c.get("/v1/machines/door/instances/d/history", headers=writer).json()["items"]
        assert [h["idempotency_key"] for h in history] == [None, None, "k1"]  # its own only
