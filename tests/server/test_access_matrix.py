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


LEAKY = """
id: leaky
initial: idle
context: {_token: s3cr3t, shown: 1}
states:
  idle:
    on:
      GO:
        target: busy
        actions:
          - {log: "'token ' + context['_token']", label: audit}
          - {send: {event: {type: PING, t: "context['_token']", n: "shown"}}}
  busy:
    on:
      PING: {target: done, actions: [{assign: {shown: "int(context['_token'])"}}]}  # fails, quoting it
  done: {type: final, output: {n: shown}}
"""


def test_effects_carry_no_values_to_callers_who_are_not_admin(
        guarded: tuple[Server, dict[str, dict[str, str]]]) -> None:
    """A step's effects are computed from the whole context: their values (a log's, a sent event's data,
    an error's message) are shown to admins only; everyone who may read the history sees what was done,
    and to where."""
    server, identities = guarded
    admin = identities["admin"]
    uploaded = server.client.put("/v1/machines/leaky/versions/1", content=LEAKY,
                                 headers={**admin, "Content-Type": "application/yaml"})
    assert uploaded.status_code in (200, 201), uploaded.text
    assert server.client.post("/v1/machines/leaky/instances", json={"name": "l1"}, headers=admin).status_code == 201
    sent = server.client.post("/v1/machines/leaky/instances/l1/events", json={"type": "GO", "note": "hi"},
                              headers=admin)
    assert sent.status_code == 200 and sent.json()["instance"]["status"] == "done", sent.text
    for identity in ("admin", "reader", "user"):
        answer = server.client.get("/v1/machines/leaky/instances/l1/history", headers=identities[identity])
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        go = next(e for e in items if e["event"] and e["event"]["name"] == "GO")
        ping = next(e for e in items if e["event"] and e["event"]["name"] == "PING")
        assert go["event"]["data"] == {"note": "hi"}  # a caller's event: its data is the caller's input
        log = next(e for e in go["effects"] if e["kind"] == "log")
        send = next(e for e in go["effects"] if e["kind"] == "send")
        assert (log["label"], send["event"]["name"]) == ("audit", "PING")  # what was done: shown to all
        if identity == "admin":
            assert (log["value"], send["event"]["data"]) == ("token s3cr3t", {"t": "s3cr3t", "n": 1})
            assert ping["event"]["data"] == {"t": "s3cr3t", "n": 1}
            assert "s3cr3t" in ping["error"]
        else:
            assert (log["value"], send["event"]["data"], ping["event"]["data"]) == (None, None, None), items
            assert ping["error"] == "error.execution: EvaluationError"  # which error, not its message
            assert "s3cr3t" not in answer.text


def test_only_admins_set_private_context_in_a_create(guarded: tuple[Server, dict[str, dict[str, str]]]) -> None:
    """Keys starting with ``_`` are the machine's own: a caller who is not admin cannot preset them."""
    server, identities = guarded
    refused = server.client.post(BASE, json={"name": "preset", "input": {"opened": 5, "_secret": "mine"}},
                                 headers=identities["writer"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.input.private", refused.text
    assert "'_secret'" in refused.json()["error"]["message"]
    assert server.client.get(f"{BASE}/preset", headers=identities["admin"]).status_code == 404  # nothing made
    public = server.client.post(BASE, json={"name": "public", "input": {"opened": 5}}, headers=identities["writer"])
    assert public.status_code == 201 and public.json()["context"] == {"opened": 5}, public.text
    admin = server.client.post(BASE, json={"name": "preset", "input": {"_secret": "mine"}}, headers=identities["admin"])
    assert admin.status_code == 201 and admin.json()["context"]["_secret"] == "mine", admin.text


def test_a_caller_who_is_not_admin_sees_only_its_own_idempotency_keys_in_the_history(
        guarded: tuple[Server, dict[str, dict[str, str]]]) -> None:
    """Idempotency keys are the callers' request ids: each reader sees its own as it gave it, not others'."""
    server, identities = guarded
    assert server.client.post(BASE, json={"name": "keyed"}, headers=identities["admin"]).status_code == 201
    opened = server.client.post(f"{BASE}/keyed/events", json={"type": "OPEN"},
                                headers={**identities["writer"], "Idempotency-Key": "w-1"})
    closed = server.client.post(f"{BASE}/keyed/events", json={"type": "CLOSE"},
                                headers={**identities["admin"], "Idempotency-Key": "adm-1"})
    assert opened.status_code == 200 and closed.status_code == 200, (opened.text, closed.text)

    def keys(identity: str) -> list[str | None]:
        answer = server.client.get(f"{BASE}/keyed/history", headers=identities[identity])
        assert answer.status_code == 200, answer.text
        return [e["idempotency_key"] for e in answer.json()["items"][1:]]

    assert keys("writer") == ["w-1", None]
    assert keys("reader") == [None, None]
    assert keys("admin")[1] == "adm-1" and keys("admin")[0].endswith('"w-1"]')  # as stored: ["<sub>","w-1"]
