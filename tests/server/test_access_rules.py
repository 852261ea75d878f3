"""Per-machine authorize rules over HTTP, as a matrix on one real server (SQLite, outside development
mode): identities (the owner's JWT, another user's, a manager's, a service API key, an admin key) x
operations (read, history, sends of each event, cancel) x states (draft, review). Each cell runs on its own
instance; every refusal is a 403 with its reason code, every permission granted (docs/auth.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from tests.server.support import WRITER, Server, bearer, running

SECRET = "a-rules-secret-long-enough-for-hs512-" * 2
BASE = "/v1/machines/expense/instances"
EXPENSE = (Path(__file__).parents[2] / "examples" / "expense.yaml").read_text()
OK = "ok"
REFUSED, FAILED, MISSING = "auth.rule.refused", "auth.rule.failed", "auth.rule.missing"
IDENTITIES = ("owner", "other", "manager", "service", "admin")
# (operation, state) -> what each identity in IDENTITIES gets
MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    ("read", "draft"): (OK, REFUSED, OK, REFUSED, OK),
    ("read", "review"): (OK, REFUSED, OK, REFUSED, OK),
    ("history", "review"): (OK, REFUSED, OK, REFUSED, OK),
    ("EDIT", "draft"): (OK, REFUSED, REFUSED, REFUSED, OK),
    ("EDIT", "review"): (REFUSED, REFUSED, REFUSED, REFUSED, OK),  # EDIT only in draft
    ("SUBMIT", "draft"): (OK, REFUSED, REFUSED, REFUSED, OK),
    ("APPROVE", "review"): (REFUSED, REFUSED, OK, REFUSED, OK),
    ("REJECT", "review"): (MISSING, MISSING, MISSING, MISSING, OK),  # no rule: admins only
    ("cancel", "draft"): (FAILED, FAILED, OK, FAILED, OK),  # no role claim: the rule fails, and refuses
}


def token(sub: str, **claims: Any) -> dict[str, str]:
    payload = {"sub": sub, "exp": int(time.time()) + 3600, "scope": "read events:write instances:write", **claims}
    return bearer(jwt.encode(payload, SECRET, algorithm="HS256"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, dict[str, str]]]]:
    tmp: Path = tmp_path_factory.mktemp("rules")
    with running(f"sqlite:///{tmp / 'r.db'}", dev=False, log=tmp / "s.log",
                 env={"INTERLOCK_JWT_SECRET": SECRET, "INTERLOCK_JWT_SCOPES_CLAIM": "scope"}) as server:
        admin = bearer(server.key("admin"))
        uploaded = server.client.put("/v1/machines/expense/versions/1", content=EXPENSE,
                                     headers={**admin, "content-type": "application/yaml"})
        assert uploaded.status_code == 201, uploaded.text
        identities = {"owner": token("alice"), "other": token("bob"), "manager": token("mia", role="manager"),
                      "service": bearer(server.key(*WRITER)), "admin": admin}
        yield server, identities


def call(client: httpx.Client, headers: dict[str, str], operation: str, name: str) -> httpx.Response:
    if operation == "read":
        return client.get(f"{BASE}/{name}", headers=headers)
    if operation == "history":
        return client.get(f"{BASE}/{name}/history", headers=headers)
    if operation == "cancel":
        return client.post(f"{BASE}/{name}/cancel", headers=headers)
    return client.post(f"{BASE}/{name}/events", json={"type": operation, "amount": 7}, headers=headers)


@pytest.mark.parametrize("cell", sorted(MATRIX))
@pytest.mark.parametrize("identity", IDENTITIES)
def test_the_rules_matrix(server: tuple[Server, dict[str, dict[str, str]]], identity: str,
                          cell: tuple[str, str]) -> None:
    srv, identities = server
    operation, state = cell
    name = f"{identity}-{operation}-{state}"
    admin = identities["admin"]
    created = srv.client.post(BASE, json={"name": name, "input": {"owner": "alice", "amount": 5}}, headers=admin)
    assert created.status_code == 201, created.text
    if state == "review":
        assert srv.client.post(f"{BASE}/{name}/events", json={"type": "SUBMIT"}, headers=admin).status_code == 200
    before = srv.client.get(f"{BASE}/{name}", headers=admin).json()
    answer = call(srv.client, identities[identity], operation, name)
    expected = MATRIX[cell][IDENTITIES.index(identity)]
    if expected == OK:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == expected, error
    assert "expense/" + name in error["message"]
    after = srv.client.get(f"{BASE}/{name}", headers=admin).json()
    assert (after["step"], after["state"], after["status"]) == (before["step"], before["state"], before["status"])


def test_create_list_and_a_refused_send_without_waiting(server: tuple[Server, dict[str, dict[str, str]]]) -> None:
    srv, ids = server
    mine = {"name": "bobs-own", "input": {"owner": "bob"}}
    assert srv.client.post(BASE, json={**mine, "input": {"owner": "alice"}}, headers=ids["other"]).json()[
        "error"]["code"] == REFUSED  # bob may not create alice's claim
    assert srv.client.post(BASE, json=mine, headers=ids["other"]).status_code == 201
    listed = srv.client.get(BASE, params={"limit": 500}, headers=ids["other"]).json()
    assert [i["id"] for i in listed["items"]] == ["bobs-own"]  # only what bob may read
    assert len(srv.client.get(BASE, params={"limit": 500}, headers=ids["manager"]).json()["items"]) > 1
    refused = srv.client.post(f"{BASE}/bobs-own/events?wait=false", json={"type": "APPROVE"}, headers=ids["other"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == REFUSED
    accepted = srv.client.post(f"{BASE}/bobs-own/events?wait=false", json={"type": "EDIT", "amount": 3},
                               headers=ids["other"])
    assert accepted.status_code == 202, accepted.text


def test_an_answer_shows_no_more_than_the_caller_may_read(server: tuple[Server, dict[str, dict[str, str]]]) -> None:
    srv, ids = server
    admin = ids["admin"]
    assert srv.client.post(BASE, json={"name": "alices-claim", "input": {"owner": "alice"}}, headers=admin).status_code == 201
    assert srv.client.post(f"{BASE}/alices-claim/pause", headers=admin).status_code == 200
    queued = srv.client.post(f"{BASE}/alices-claim/events", json={"type": "APPROVE"}, headers=ids["other"])
    assert queued.status_code == 200 and queued.json()["outcome"] == "queued"
    assert queued.json()["instance"] is None  # bob may not read alice's claim: the answer does not show it
    own = srv.client.post(f"{BASE}/alices-claim/events", json={"type": "EDIT", "amount": 1}, headers=ids["owner"])
    assert own.json()["instance"]["context"]["owner"] == "alice"
    created = srv.client.post(BASE, json={"name": "made-by-key", "input": {"owner": "key-x"}}, headers=ids["manager"])
    assert created.status_code == 403  # mia is not the owner
    gone = srv.client.get(f"{BASE}/alices-claim", headers=ids["other"])
    assert gone.status_code == 403 and "draft" not in gone.text  # no state in the refusal


def test_live_changes_follow_the_read_rule(server: tuple[Server, dict[str, dict[str, str]]]) -> None:
    from tests.server.test_live import subscribed

    srv, ids = server
    admin = ids["admin"]
    for name, owner in (("live-alice", "alice"), ("live-bob", "bob")):
        assert srv.client.post(BASE, json={"name": name, "input": {"owner": owner}}, headers=admin).status_code == 201
    stream = srv.client.get(f"{BASE}/live-alice/stream", headers=ids["other"])
    assert stream.status_code == 403 and stream.json()["error"]["code"] == REFUSED
    with subscribed(srv, {"subscribe": {"machine": "expense", "instances": ["live-alice", "live-bob"]}},
                    additional_headers=ids["other"]) as ws:
        for name in ("live-alice", "live-bob"):
            sent = srv.client.post(f"{BASE}/{name}/events", json={"type": "EDIT", "amount": 2}, headers=admin)
            assert sent.status_code == 200
        first = json.loads(ws.recv(timeout=30))
        assert (first["id"], first["step"], first["instance"]["context"]["owner"]) == ("live-bob", 1, "bob")


VAULT = """
id: vault
version: "1"
initial: idle
context: {owner: null, _pin: s3cret-pin}
authorize:
  create: "owner == claims.sub"
  read: "owner == claims.sub"
  send:
    USE: "owner == claims.sub"
    CHECK: "int(context['_pin']) > 0"
states:
  idle:
    "on":
      USE: {actions: {assign: {tries: "int(context['_pin'])"}}}
      CHECK: idle
"""


def test_a_history_error_shows_its_kind_but_no_private_value_to_who_is_not_admin(
        server: tuple[Server, dict[str, dict[str, str]]]) -> None:
    """A step's error and a queued event's refusal quote what failed (a ValueError naming the value, a
    rule's failure): the owner may read the history, the private ``_pin`` is for admins only."""
    srv, ids = server
    admin, alice = ids["admin"], ids["owner"]
    base = "/v1/machines/vault/instances"
    uploaded = srv.client.put("/v1/machines/vault/versions/1", content=VAULT,
                              headers={**admin, "content-type": "application/yaml"})
    assert uploaded.status_code == 201, uploaded.text
    assert srv.client.post(base, json={"name": "v1", "input": {"owner": "alice"}}, headers=alice).status_code == 201
    assert srv.client.post(f"{base}/v1/events", json={"type": "USE"}, headers=alice).status_code == 200
    assert srv.client.post(f"{base}/v1/pause", headers=admin).status_code == 200
    queued = srv.client.post(f"{base}/v1/events", json={"type": "CHECK"}, headers=alice)  # its rule fails when taken
    assert queued.json()["outcome"] == "queued", queued.text
    assert srv.client.post(f"{base}/v1/resume", headers=admin).status_code == 200
    seen = srv.client.get(f"{base}/v1/history", headers=alice)
    assert seen.status_code == 200 and "s3cret" not in seen.text, seen.text
    assert [(e["outcome"], e["error"]) for e in seen.json()["items"][1:]] == [
        ("applied", "error.execution: EvaluationError"), ("refused", "rule.failed")]
    full = srv.client.get(f"{base}/v1/history", headers=admin).json()["items"]
    assert all("s3cret-pin" in str(e["error"]) for e in full[1:])  # admins see what failed, and why


def test_an_older_version_without_rules_is_no_way_around_the_newest_ones(
        server: tuple[Server, dict[str, dict[str, str]]]) -> None:
    """Rules added in version 2: bob may not create alice's claim, so he may not create it at version 1
    (no rules) either, where he would then approve it himself. Admins may; a version with rules may be
    chosen."""
    srv, ids = server
    admin, bob = ids["admin"], ids["other"]
    ruled = EXPENSE.replace('version: "1"', 'version: "2"')  # root state id expense, machine claims
    bare = ruled.replace('version: "2"', 'version: "1"').split("authorize:")[0] + "states:" + ruled.split("states:", 1)[1]
    for version, text in (("1", bare), ("2", ruled)):
        put = srv.client.put(f"/v1/machines/claims/versions/{version}", content=text,
                             headers={**admin, "content-type": "application/yaml"})
        assert put.status_code == 201, put.text
    base = "/v1/machines/claims/instances"
    claim = {"name": "c1", "input": {"owner": "alice", "amount": 1000}, "version": "1"}
    refused = srv.client.post(base, json=claim, headers=bob)  # an uploaded machine: its newest rules only
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.create.version", refused.text
    assert srv.client.get(f"{base}/c1", headers=admin).status_code == 404  # nothing was created
    own = srv.client.post(base, json={**claim, "name": "c2", "input": {"owner": "bob"}, "version": "2"}, headers=bob)
    assert own.status_code == 201 and own.json()["version"] == "2", own.text
    assert srv.client.post(base, json=claim, headers=admin).status_code == 201


def test_the_history_of_an_instance_at_a_version_another_process_uploaded(tmp_path: Path) -> None:
    """Two servers on one database: version 2 uploaded through the second; the first, which has only
    version 1, loads version 2 to decide the read rule for alice's history (it answered 404 before)."""
    env = {"INTERLOCK_JWT_SECRET": SECRET, "INTERLOCK_JWT_SCOPES_CLAIM": "scope"}
    db = f"sqlite:///{tmp_path / 'two.db'}"
    with running(db, dev=False, log=tmp_path / "a.log", env=env) as first, \
            running(db, dev=False, log=tmp_path / "b.log", env=env) as second:
        admin, alice = bearer(first.key("admin")), token("alice")
        yaml = {**admin, "content-type": "application/yaml"}
        assert first.client.put("/v1/machines/expense/versions/1", content=EXPENSE, headers=yaml).status_code == 201
        assert first.client.post(BASE, json={"name": "old", "input": {"owner": "alice"}}, headers=alice).status_code == 201
        newer = EXPENSE.replace('version: "1"', 'version: "2"')
        assert second.client.put("/v1/machines/expense/versions/2", content=newer, headers=yaml).status_code == 201
        made = second.client.post(BASE, json={"name": "new", "input": {"owner": "alice"}}, headers=alice)
        assert made.status_code == 201 and made.json()["version"] == "2", made.text
        history = first.client.get(f"{BASE}/new/history", headers=alice)
        assert history.status_code == 200, history.text
        assert first.client.get(f"{BASE}/new/history", headers=token("bob")).status_code == 403


def claims_version(version: str, *, rules: bool) -> str:
    """A machine whose key-verified webhook creates an instance and approves it; version 2 adds rules."""
    document: dict[str, Any] = {
        "id": "claims", "version": version, "initial": "draft", "context": {"owner": None},
        "states": {"draft": {"on": {"APPROVE": "done"}}, "done": {"type": "final"}},
        "webhooks": {"in": {"verify": "key", "instance": "query.id", "create": True, "event": "'APPROVE'"}}}
    if rules:
        document["authorize"] = {"create": "owner == claims.sub", "read": "owner == claims.sub",
                                 "send": {"APPROVE": "false"}}
    return json.dumps(document)


def test_a_webhook_creates_at_the_newest_version_whatever_a_process_loaded_first(tmp_path: Path) -> None:
    """A fresh process that loads version 1 first (a reader asks for its definition) kept it as the
    machine's default: its webhook then created instances at version 1, without the rules version 2 added,
    for a key the rules refuse. Nor may a process that loaded version 1 before another uploaded version 2
    keep using version 1's hooks."""
    env = {"INTERLOCK_JWT_SECRET": SECRET, "INTERLOCK_JWT_SCOPES_CLAIM": "scope"}
    db = f"sqlite:///{tmp_path / 'hooks.db'}"
    with running(db, dev=False, log=tmp_path / "a.log", env=env) as first:
        admin, service, reader = bearer(first.key("admin")), bearer(first.key(*WRITER)), bearer(first.key("read"))
        uploads = {**admin, "content-type": "application/json"}
        for version in ("1", "2"):
            put = first.client.put(f"/v1/machines/claims/versions/{version}", headers=uploads,
                                   content=claims_version(version, rules=version == "2"))
            assert put.status_code == 201, put.text
    with running(db, dev=False, log=tmp_path / "b.log", env=env) as fresh:
        assert fresh.client.get("/v1/machines/claims/versions/1", headers=reader).status_code == 200
        hooked = fresh.client.post("/v1/hooks/claims/in?id=x1", json={}, headers=service)
        assert hooked.status_code == 403 and hooked.json()["error"]["code"] == "auth.rule.refused", hooked.text
        assert fresh.client.get("/v1/machines/claims/instances/x1", headers=admin).status_code == 404
        bare = claims_version("1", rules=False).replace('"claims"', '"later"')
        assert fresh.client.put("/v1/machines/later/versions/1", content=bare, headers=uploads).status_code == 201
        assert fresh.client.post("/v1/hooks/later/in?id=y1", json={}, headers=service).status_code == 200
        with running(db, dev=False, log=tmp_path / "c.log", env=env) as other:
            ruled = claims_version("2", rules=True).replace('"claims"', '"later"')
            assert other.client.put("/v1/machines/later/versions/2", content=ruled, headers=uploads).status_code == 201
        hooked = fresh.client.post("/v1/hooks/later/in?id=y2", json={}, headers=service)
        assert hooked.status_code == 403 and hooked.json()["error"]["code"] == "auth.rule.refused", hooked.text
