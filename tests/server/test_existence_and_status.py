"""What the answers of a machine with rules tell a caller the rules refuse (docs/auth.md, "What a refusal
tells"): every route on an instance answers 404 for an instance that does not exist and 403 for one the
rules refuse, in that order; a caller allowed to control an instance but not to read it learns its status
and paused flag (the control's answer and its 409 say them), and nothing else. Real server, SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.server.support import Server, bearer, running

SECRET = "an-existence-secret-long-enough-for-hs256-" * 2
RULED = """
initial: a
context: {owner: null}
authorize:
  create: "owner == claims.sub"
  read: "owner == claims.sub"
  control: "claims.get('role') == 'operator'"
  send: {GO: "owner == claims.sub"}
states:
  a: {"on": {GO: b}}
  b: {"on": {GO: a}}
"""
BASE = "/v1/machines/ruled/instances"
ROUTES = [("GET", ""), ("GET", "/history"), ("GET", "/stream"), ("POST", "/events"), ("POST", "/pause"),
          ("POST", "/resume"), ("POST", "/cancel")]


def token(sub: str, **claims: Any) -> dict[str, str]:
    payload = {"sub": sub, "exp": int(time.time()) + 3600,
               "scope": "read events:write instances:write", **claims}
    return bearer(jwt.encode(payload, SECRET, algorithm="HS256"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp: Path = tmp_path_factory.mktemp("existence")
    with running(f"sqlite:///{tmp / 'e.db'}", dev=False, log=tmp / "s.log",
                 env={"INTERLOCK_JWT_SECRET": SECRET, "INTERLOCK_JWT_SCOPES_CLAIM": "scope"}) as server:
        admin = bearer(server.key("admin"))
        assert server.client.put("/v1/machines/ruled/versions/1", content=RULED,
                                 headers={**admin, "content-type": "application/yaml"}).status_code == 201
        created = server.client.post(BASE, json={"name": "mine", "input": {"owner": "alice"}},
                                     headers=token("alice"))
        assert created.status_code == 201, created.text
        yield server


def _call(client: httpx.Client, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    body = {"json": {"type": "GO"}} if url.endswith("/events") else {}
    return client.request(method, url, headers=headers, **body)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "suffix"), ROUTES, ids=[f"{m} {s or '/'}" for m, s in ROUTES])
def test_an_instance_that_does_not_exist_is_404_one_the_rules_refuse_403(
        server: Server, method: str, suffix: str) -> None:
    stranger = token("mallory")
    missing = _call(server.client, method, f"{BASE}/nobody{suffix}", stranger)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found.instance"), missing.text
    refused = _call(server.client, method, f"{BASE}/mine{suffix}", stranger)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"].startswith("auth.rule."), refused.text


def test_a_controller_who_may_not_read_learns_status_and_paused_only(server: Server) -> None:
    operator = token("olga", role="operator")
    paused = server.client.post(f"{BASE}/mine/pause", headers=operator)
    assert paused.status_code == 200, paused.text
    assert paused.json() == {"machine": "ruled", "id": "mine", "version": "1", "status": "active",
                             "paused": True}
    again = server.client.post(f"{BASE}/mine/pause", headers=operator)
    assert again.status_code == 200 and again.json()["paused"] is True  # a repeat changes nothing
    assert server.client.get(f"{BASE}/mine", headers=operator).status_code == 403
    assert server.client.post(f"{BASE}/mine/cancel", headers=operator).json()["status"] == "cancelled"
    ended = server.client.post(f"{BASE}/mine/cancel", headers=operator)
    assert ended.status_code == 409, ended.text
    assert "cancelled" in ended.json()["error"]["message"]  # the status, as the answer before said it
    assert "alice" not in ended.text and "owner" not in ended.text


@pytest.mark.parametrize(("method", "suffix"), ROUTES, ids=[f"{m} {s or '/'}" for m, s in ROUTES])
def test_a_caller_the_rules_refuse_learns_nothing_of_an_ended_instance(
        server: Server, method: str, suffix: str) -> None:
    name = f"gone-{method}-{suffix.strip('/')}"
    assert server.client.post(BASE, json={"name": name, "input": {"owner": "alice"}},
                              headers=token("alice")).status_code == 201
    assert server.client.post(f"{BASE}/{name}/cancel", headers=token("olga", role="operator")).status_code == 200
    refused = _call(server.client, method, f"{BASE}/{name}{suffix}", token("mallory"))
    assert refused.status_code == 403, refused.text
    assert "cancelled" not in refused.text and "ended" not in refused.json()["error"]["message"], refused.text
