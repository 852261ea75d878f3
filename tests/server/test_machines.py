"""Uploading machine versions (YAML, JSON, SCXML), reading them back with their diagram, and two server
processes on one database serving each other's uploads."""

from __future__ import annotations

import json
from pathlib import Path

from interlock.storage import open_store
from interlock.storage.store import DefinitionRow
from tests.server.support import Server, running

YAML = {"Content-Type": "application/yaml"}
TOGGLE = """
initial: off
states:
  off: {on: {FLIP: on}}
  on: {on: {FLIP: off}}
"""
TOGGLE_CHANGED = TOGGLE.replace("FLIP: off", "FLIP: on")
SCXML_NULL = """<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="null" initial="a">
  <state id="a"><transition event="GO" target="b"/></state>
  <state id="b"><transition event="BACK" cond="In('b')" target="a"/></state>
</scxml>"""


def test_an_upload_is_created_once_repeated_as_200_and_a_change_is_409(server: Server) -> None:
    c = server.client
    first = c.put("/v1/machines/toggle/versions/1", content=TOGGLE, headers=YAML)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["name"], body["version"], body["format"], body["source"]) == ("toggle", "1", "yaml", "upload")
    assert body["definition"] == TOGGLE and "FLIP" in body["diagram"]["mermaid"]
    assert c.put("/v1/machines/toggle/versions/1", content=TOGGLE, headers=YAML).status_code == 200
    changed = c.put("/v1/machines/toggle/versions/1", content=TOGGLE_CHANGED, headers=YAML)
    assert changed.status_code == 409 and changed.json()["error"]["code"] == "conflict.version"
    assert c.put("/v1/machines/toggle/versions/2", content=TOGGLE_CHANGED, headers=YAML).status_code == 201
    machine = c.get("/v1/machines/toggle").json()
    assert machine == {"name": "toggle", "versions": ["1", "2"], "latest": "2"}
    created = c.post("/v1/machines/toggle/instances", json={"name": "t"}).json()
    assert created["version"] == "2" and created["state"] == ["toggle.off"]
    pinned = c.post("/v1/machines/toggle/instances", json={"name": "t1", "version": "1"}).json()
    assert pinned["version"] == "1"
    assert c.get("/v1/machines/toggle/versions/1").json()["definition"] == TOGGLE
    listed = c.get("/v1/machines").json()
    assert [m["name"] for m in listed["items"]] == ["door", "toggle"] and listed["next"] is None
    assert listed["items"][0]["versions"] == ["1"]
    assert c.get("/v1/machines/door/versions/1").json()["source"] == "app"


def test_every_problem_of_an_invalid_upload_is_reported_with_its_path(server: Server) -> None:
    bad = "initial: nowhere\nstates:\n  a: {on: {GO: missing}}\n  b: {entry: {assign: {x: 'import os'}}}\n"
    answer = server.client.put("/v1/machines/bad/versions/1", content=bad, headers=YAML)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "definition.invalid" and len(error["details"]) >= 2
    paths = {d["path"] for d in error["details"]}
    assert "initial" in paths and any(p.startswith("states.a.on.GO") for p in paths)
    assert all(d["message"] for d in error["details"])
    assert server.client.get("/v1/machines/bad").status_code == 404
    named = server.client.put("/v1/machines/bad/versions/1", content="name: other\n" + TOGGLE, headers=YAML)
    assert named.status_code == 422 and named.json()["error"]["details"][0]["path"] == "name"


def test_json_and_safe_scxml_uploads_run_and_python_scxml_is_refused(server: Server) -> None:
    c = server.client
    doc = '{"initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}}'
    assert c.put("/v1/machines/j/versions/1", content=doc,
                 headers={"Content-Type": "application/json"}).status_code == 201
    xml = {"Content-Type": "application/scxml+xml"}
    ok = c.put("/v1/machines/s/versions/1", content=SCXML_NULL, headers=xml)
    assert ok.status_code == 201, ok.text
    assert c.post("/v1/machines/s/instances", json={"name": "x"}).json()["state"] == ["a"]
    moved = c.post("/v1/machines/s/instances/x/events", json={"type": "GO"}).json()
    assert moved["outcome"] == "applied" and moved["instance"]["state"] == ["b"]
    python = SCXML_NULL.replace('datamodel="null"', 'datamodel="python"').replace(
        "In('b')", "__import__('os').system('true')")
    refused = c.put("/v1/machines/p/versions/1", content=python, headers=xml)
    assert refused.status_code == 422
    details = refused.json()["error"]["details"]
    assert {d["path"] for d in details} >= {"scxml@datamodel"}
    assert any(d["path"].endswith("@cond") for d in details)
    assert "Python" in refused.json()["error"]["message"] or "python" in str(details)
    script = SCXML_NULL.replace('<state id="a">', '<state id="a"><onentry><script>x=1</script></onentry>')
    assert c.put("/v1/machines/p/versions/1", content=script, headers=xml).status_code == 422
    entity = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' + SCXML_NULL
    assert c.put("/v1/machines/p/versions/1", content=entity, headers=xml).status_code == 422
    wrong = c.put("/v1/machines/p/versions/1", content=doc, headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415 and wrong.json()["error"]["code"] == "request.media_type"


def test_a_machine_uploaded_through_one_process_is_served_by_another(store_url: str, tmp_path: Path) -> None:
    with running(store_url, log=tmp_path / "a.log") as a, running(store_url, log=tmp_path / "b.log") as b:
        assert b.client.get("/v1/machines/toggle").status_code == 404
        assert a.client.put("/v1/machines/toggle/versions/1", content=TOGGLE, headers=YAML).status_code == 201
        created = b.client.post("/v1/machines/toggle/instances", json={"name": "t"})
        assert created.status_code == 201, created.text
        assert a.client.put("/v1/machines/toggle/versions/2", content=TOGGLE_CHANGED,
                            headers=YAML).status_code == 201
        a.client.post("/v1/machines/toggle/instances", json={"name": "t2"})  # v2, created by A
        sent = b.client.post("/v1/machines/toggle/instances/t2/events", json={"type": "FLIP"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["instance"]["version"] == "2" and sent.json()["instance"]["state"] == ["toggle.on"]
        assert b.client.get("/v1/machines/toggle").json()["versions"] == ["1", "2"]
        conflict = b.client.put("/v1/machines/toggle/versions/2", content=TOGGLE, headers=YAML)
        assert conflict.status_code == 409


def test_a_create_retried_through_a_process_that_has_not_loaded_its_version(store_url: str, tmp_path: Path) -> None:
    """The retry answers the instance the first create made, at the version it was made with, which the
    second process loads (it had only seen 1, and the newest is 3 by then)."""
    with running(store_url, log=tmp_path / "a.log") as a, running(store_url, log=tmp_path / "b.log") as b:
        assert a.client.put("/v1/machines/toggle/versions/1", content=TOGGLE, headers=YAML).status_code == 201
        assert b.client.post("/v1/machines/toggle/instances", json={"name": "t1"}).status_code == 201
        assert a.client.put("/v1/machines/toggle/versions/2", content=TOGGLE_CHANGED, headers=YAML).status_code == 201
        key = {"Idempotency-Key": "make-t2"}
        made = a.client.post("/v1/machines/toggle/instances", json={"name": "t2"}, headers=key)
        assert made.status_code == 201 and made.json()["version"] == "2"
        three = TOGGLE.replace("off: {on: {FLIP: on}}", "off: {on: {FLIP: on, STAY: off}}")
        assert a.client.put("/v1/machines/toggle/versions/3", content=three, headers=YAML).status_code == 201
        again = b.client.post("/v1/machines/toggle/instances", json={"name": "t2"}, headers=key)
        assert again.status_code == 201, again.text
        assert (again.json()["version"], again.json()["state"]) == ("2", ["toggle.off"])


def _distinct_guards(count: int) -> str:
    """A machine of ``count`` states, each with a guard and an assignment of its own: over the code
    budget (``MAX_GENERATED_CODE``) from some 1,600."""
    states = {f"s{i}": {"on": {"GO": {"target": f"s{(i + 1) % count}", "guard": f"count < {i} and event.by > {i}",
                                      "actions": {"assign": {"count": f"count + {i}"}}}}} for i in range(count)}
    return json.dumps({"initial": "s0", "context": {"count": 0}, "states": states})


def test_a_stored_version_over_the_code_budget_still_loads(store_url: str, tmp_path: Path) -> None:
    """The code budget came after uploads the store keeps: a version accepted then must still run (its
    instances are pinned to it), so a stored version loads without it; a new upload meets it."""
    big = _distinct_guards(1700)
    store = open_store(store_url)
    try:
        with store.write() as tx:  # as a server before the budget kept it
            tx.save_definition(DefinitionRow("big", "1", "json", big, 100.0))
    finally:
        store.close()
    with running(store_url, log=tmp_path / "a.log") as server:
        created = server.client.post("/v1/machines/big/instances", json={"name": "b"})
        assert created.status_code == 201, created.text
        assert created.json()["state"] == ["big.s0"]
        refused = server.client.put("/v1/machines/big/versions/2", content=big,
                                    headers={"content-type": "application/json"})
        assert refused.status_code == 422 and "characters of Python" in refused.text
