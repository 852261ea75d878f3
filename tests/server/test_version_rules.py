"""A caller who is not admin creates instances of an uploaded machine only at a version with the newest
version's authorize section: an admin who tightened the rules in a new version closed the older versions
to callers, over HTTP, from Python (``create(caller=, version=)``) and for an uploaded machine's invokes
(docs/auth.md, "Versions"). Real server on loopback, SQLite; the embedded API on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from interlock.app import Interlock
from interlock.auth.principal import Principal
from interlock.errors import ForbiddenError
from interlock.server.catalog import Catalog
from tests.server.support import WRITER, Server, bearer, running

TIGHT = """
initial: a
context: {owner: null}
authorize:
  create: "owner == claims.sub"
  read: "owner == claims.sub"
  send: {GO: "owner == claims.sub"}
states:
  a: {"on": {GO: b}}
  b: {"on": {GO: a}}
"""
LOOSE = TIGHT.replace('create: "owner == claims.sub"', "create: true")  # version 1: anyone creates any claim
RESTATED = TIGHT.replace('  b: {"on": {GO: a}}', '  b: {"on": {GO: a}}\n  c: {}')  # the same rules, a state more
BUYER = """
initial: idle
states:
  idle: {"on": {BUY: buying}}
  buying:
    invoke: {id: claim, src: "machine:claim@1", input: {owner: "'mallory'"}, onError: failed}
  failed: {}
"""
YAML = {"content-type": "application/yaml"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str], dict[str, str], str]]:
    """``claim``: version 1 (create: true) and 2 (create only one's own claim) by an admin, 3 (version 2's
    rules, a state more) by a writer."""
    tmp: Path = tmp_path_factory.mktemp("versions")
    with running(f"sqlite:///{tmp / 'v.db'}", dev=False, log=tmp / "s.log") as server:
        admin, key = bearer(server.key("admin")), server.key(*WRITER)
        writer = bearer(key)
        for version, text, who in (("1", LOOSE, admin), ("2", TIGHT, admin), ("3", RESTATED, writer)):
            put = server.client.put(f"/v1/machines/claim/versions/{version}", content=text, headers={**who, **YAML})
            assert put.status_code == 201, put.text
        yield server, admin, writer, "key:" + key.split("_")[1]


def _create(server: Server, headers: dict[str, str], name: str, owner: str, version: str | None) -> Any:
    body: dict[str, Any] = {"name": name, "input": {"owner": owner}}
    if version is not None:
        body["version"] = version
    return server.client.post("/v1/machines/claim/instances", json=body, headers=headers)


def test_a_caller_may_not_create_at_an_older_version_with_weaker_rules(
        served: tuple[Server, dict[str, str], dict[str, str], str]) -> None:
    server, admin, writer, sub = served
    refused = _create(server, writer, "c1", "alice", "1")  # version 1 would let it create alice's claim
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "auth.create.version" and "version '3'" in error["message"], error
    assert server.client.get("/v1/machines/claim/instances/c1", headers=admin).status_code == 404
    assert _create(server, writer, "c1", "alice", "3").json()["error"]["code"] == "auth.rule.refused"
    for name, version in (("c2", "2"), ("c3", "3"), ("c4", None)):  # the newest rules: its own claims
        created = _create(server, writer, name, sub, version)
        assert created.status_code == 201, created.text
        assert created.json()["version"] == (version or "3")
    assert _create(server, admin, "c5", "alice", "1").status_code == 201  # an admin may choose any


def test_an_uploaded_machine_may_not_invoke_an_older_version_with_weaker_rules(
        served: tuple[Server, dict[str, str], dict[str, str], str]) -> None:
    server, admin, writer, _sub = served
    put = server.client.put("/v1/machines/buyer/versions/1", content=BUYER, headers={**writer, **YAML})
    assert put.status_code == 201, put.text
    assert server.client.post("/v1/machines/buyer/instances", json={"name": "b"}, headers=writer).status_code == 201
    sent = server.client.post("/v1/machines/buyer/instances/b/events", json={"type": "BUY"}, headers=writer)
    assert sent.status_code == 200, sent.text
    buyer = server.client.get("/v1/machines/buyer/instances/b", headers=admin).json()
    assert buyer["state"] == ["buyer.failed"], buyer
    history = server.client.get("/v1/machines/buyer/instances/b/history", headers=admin).json()["items"]
    error = history[-1]["event"]
    assert error["name"] == "error.invoke.claim", error
    assert "rules are not those of the machine's newest version ('3')" in error["data"]["message"], error
    children = server.client.get("/v1/machines/claim/instances", headers=admin).json()["items"]
    assert not [i for i in children if i["id"].startswith("b")], children  # no child was created


def test_the_embedded_api_refuses_an_older_version_with_weaker_rules(tmp_path: Path) -> None:
    mallory = Principal("token", "mallory", frozenset({"read", "instances:write"}),
                        MappingProxyType({"sub": "mallory"}))
    with Interlock(f"sqlite:///{tmp_path / 'e.db'}") as app:
        catalog = Catalog(app)
        for version, text in (("1", LOOSE), ("2", TIGHT)):
            asyncio.run(catalog.put("claim", version, "yaml", text))
        with pytest.raises(ForbiddenError) as refused:
            app.create("claim", "c1", input={"owner": "alice"}, version="1", caller=mallory)
        assert refused.value.reason == "create.version" and "version '2'" in str(refused.value)
        assert app.create("claim", "c2", input={"owner": "mallory"}, version="2", caller=mallory).version == "2"
        assert app.create("claim", "c3", input={"owner": "alice"}, version="1").version == "1"  # trusted code
