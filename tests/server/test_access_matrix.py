"""Who may do what, as a matrix on one real server (SQLite, outside development mode): identities (admin
key, read key, writer key, an end user's JWT, no credentials) x operations (create, read, list, send,
history). Every refusal is refused with its code, every permission granted. The door machine has no
authorize rules, so this matrix is the scopes'; test_access_rules.py is the matrix of a machine's rules."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.server.support import READER, WRITER, Server, bearer, running

SECRET = "a-matrix-secret-long-enough-for-hs512-" * 2
Operation = Callable[[httpx.Client, dict[str, str], str], httpx.Response]
BASE = "/v1/machines/door/instances"

OPERATIONS: dict[str, Operation] = {
    "create": lambda c, h, n: c.post(BASE, json={"name": f"{n}-new"}, headers=h),
    "read": lambda c, h, n: c.get(f"{BASE}/{n}", headers=h),
    "list": lambda c, h, n: c.get(BASE, headers=h),
    "send": lambda c, h, n: c.post(f"{BASE}/{n}/events", json={"type": "OPEN"}, headers=h),
    "history": lambda c, h, n: c.get(f"{BASE}/{n}/history", headers=h),
    "context": lambda c, h, n: c.get(f"{BASE}/{n}/context", headers=h),
}
GRANTED = {
    "admin": set(OPERATIONS),
    "writer": {"create", "read", "list", "send", "history"},
    "reader": {"read", "list", "history"},
    "user": {"read", "list", "send", "history"},  # a JWT's default scopes: read, events:write
    "nobody": set(),
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, dict[str, str]]]]:
    tmp: Path = tmp_path_factory.mktemp("matrix")
    with running(f"sqlite:///{tmp / 'm.db'}", dev=False, log=tmp / "s.log",
                 env={"INTERLOCK_JWT_SECRET": SECRET}) as server:
        token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
        identities = {"admin": bearer(server.key("admin")), "writer": bearer(server.key(*WRITER)),
                      "reader": bearer(server.key(*READER)), "user": bearer(token), "nobody": {}}
        yield server, identities


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("identity", sorted(GRANTED))
def test_the_matrix(guarded: tuple[Server, dict[str, dict[str, str]]], identity: str, operation: str) -> None:
    server, identities = guarded
    name = f"{identity}-{operation}"
    assert server.client.post(BASE, json={"name": name}, headers=identities["admin"]).status_code == 201
    answer = OPERATIONS[operation](server.client, identities[identity], name)
    if operation in GRANTED[identity]:
        assert answer.status_code in (200, 201), answer.text
        if operation == "read":
            assert ("_secret" in answer.json()["context"]) == (identity == "admin")  # the private part
        if operation == "history":  # the start's context change: the private part for admins only
            start = answer.json()["items"][0]["context_change"]["set"]
            assert ("_secret" in start, "opened" in start) == (identity == "admin", True)
    elif identity == "nobody":
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "auth.credentials.missing"
    else:
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "auth.scope.missing", answer.text
