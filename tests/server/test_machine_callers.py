"""Machines uploaded with a ``machines:write`` key meet other machines' rules (docs/auth.md, "Machines as
callers"), on a real server with real keys, on SQLite and PostgreSQL: the trusted app serves ``orders``
(PAY only from the owner), ``ordersx`` (PAY also from machine ``x``), ``plain`` (no rules) and
``appsender`` (a trusted machine that pays); a writer key uploads ``x``, which pays and invokes orders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import WRITER, Server, bearer, running

TARGET = """
id: {name}
initial: open
context: {{owner: null, paid: false}}
{rules}
states:
  open:
    "on":
      PAY: {{target: paid, actions: {{assign: {{paid: "True"}}}}}}
  paid: {{}}
"""
RULES = {
    "orders": 'authorize: {create: "owner == claims.sub", read: true, send: {PAY: "owner == claims.sub"}}',
    "ordersx": ('authorize: {create: "owner == claims.sub", read: true, send: {PAY: "owner == claims.sub or '
                "(caller.kind == 'instance' and caller.machine == 'x')\"}}"),
    "plain": "",
}
SENDER = """
initial: idle
states:
  idle:
    "on":
      PAY_ORDERS: {actions: {send: {event: PAY, to: "instance:orders/o1"}}}
      PAY_ORDERSX: {actions: {send: {event: PAY, to: "instance:ordersx/o1"}}}
      PAY_PLAIN: {actions: {send: {event: PAY, to: "instance:plain/o1"}}}
      BUY: buying
  buying:
    invoke: {id: order, src: "machine:orders", input: {owner: "'mallory'"}, onError: failed}
  failed: {}
"""


@pytest.fixture
def served(store_url: str, tmp_path: Path) -> Iterator[tuple[Server, dict[str, str], dict[str, str]]]:
    app = tmp_path / "app"
    app.mkdir()
    for name, rules in RULES.items():
        (app / f"{name}.yaml").write_text(TARGET.format(name=name, rules=rules))
    (app / "appsender.yaml").write_text("id: appsender\n" + SENDER)
    with running(store_url, dev=False, log=tmp_path / "server.log", env={"INTERLOCK_LOAD": str(app)}) as server:
        admin, writer = bearer(server.key("admin")), bearer(server.key(*WRITER))
        uploaded = server.client.put("/v1/machines/x/versions/1", content=SENDER,
                                     headers={**writer, "content-type": "application/yaml"})
        assert uploaded.status_code == 201, uploaded.text
        for machine in RULES:
            created = server.client.post(f"/v1/machines/{machine}/instances",
                                         json={"name": "o1", "input": {"owner": "alice"}}, headers=admin)
            assert created.status_code == 201, created.text
        yield server, admin, writer


def _instance(server: Server, admin: dict[str, str], machine: str, name: str) -> Any:
    answer = server.client.get(f"/v1/machines/{machine}/instances/{name}", headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _last_step(server: Server, admin: dict[str, str], machine: str, name: str) -> Any:
    answer = server.client.get(f"/v1/machines/{machine}/instances/{name}/history?limit=500", headers=admin)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"][-1]


def _send(server: Server, headers: dict[str, str], machine: str, event: str) -> None:
    answer = server.client.post(f"/v1/machines/{machine}/instances/1/events", json={"type": event}, headers=headers)
    assert answer.status_code == 200, answer.text


def test_an_uploaded_machine_meets_the_rules_of_the_instances_it_sends_to(
        served: tuple[Server, dict[str, str], dict[str, str]]) -> None:
    server, admin, writer = served
    created = server.client.post("/v1/machines/x/instances", json={"name": "1"}, headers=writer)
    assert created.status_code == 201, created.text
    before = _instance(server, admin, "orders", "o1")
    _send(server, writer, "x", "PAY_ORDERS")  # refused: orders allows PAY only to the owner
    _send(server, writer, "x", "PAY_ORDERSX")  # allowed: ordersx allows machine x
    _send(server, writer, "x", "PAY_PLAIN")  # no rules: as before
    after = _instance(server, admin, "orders", "o1")
    assert (after["state"], after["context"], after["step"]) == (before["state"], before["context"],
                                                               before["step"] + 1)
    refused = _last_step(server, admin, "orders", "o1")
    assert (refused["outcome"], refused["event"]["name"]) == ("refused", "PAY")
    assert "rule.refused" in refused["error"] and "instance:x/1" in refused["error"]
    assert _instance(server, admin, "ordersx", "o1")["context"]["paid"] is True
    assert _instance(server, admin, "plain", "o1")["context"]["paid"] is True


def test_a_trusted_app_machine_sends_as_before(served: tuple[Server, dict[str, str], dict[str, str]]) -> None:
    server, admin, writer = served
    created = server.client.post("/v1/machines/appsender/instances", json={"name": "1"}, headers=writer)
    assert created.status_code == 201, created.text
    _send(server, writer, "appsender", "PAY_ORDERS")
    assert _instance(server, admin, "orders", "o1")["context"]["paid"] is True
    assert _last_step(server, admin, "orders", "o1")["outcome"] == "applied"


def test_an_uploaded_machines_invoke_meets_the_create_rule(
        served: tuple[Server, dict[str, str], dict[str, str]]) -> None:
    server, admin, writer = served
    created = server.client.post("/v1/machines/x/instances", json={"name": "1"}, headers=writer)
    assert created.status_code == 201, created.text
    _send(server, writer, "x", "BUY")
    assert _instance(server, admin, "x", "1")["state"] == ["x.failed"]
    error = _last_step(server, admin, "x", "1")["event"]
    assert error["name"] == "error.invoke.order" and "refused" in error["data"]["message"]
    listed = server.client.get("/v1/machines/orders/instances", headers=admin).json()["items"]
    assert [i["id"] for i in listed] == ["o1"]  # no child was created


FLOODER = """
initial: idle
states:
  idle:
    "on":
      FLOOD: {{actions: [{sends}]}}
      error.communication: overflowed
  overflowed: {{}}
"""


def test_an_uploaded_machines_requests_are_bounded_per_step(
        served: tuple[Server, dict[str, str], dict[str, str]]) -> None:
    """150 sends to another machine's instance in one step: 100 (MAX_REQUESTS_PER_STEP) reach its inbox
    and are refused there, one step each in its history; the rest are undeliverable in the sender."""
    server, admin, writer = served
    sends = ", ".join(['{send: {event: PAY, to: "instance:orders/o1"}}'] * 150)
    uploaded = server.client.put("/v1/machines/flood/versions/1", content=FLOODER.format(sends=sends),
                                 headers={**writer, "content-type": "application/yaml"})
    assert uploaded.status_code == 201, uploaded.text
    assert server.client.post("/v1/machines/flood/instances", json={"name": "1"}, headers=writer).status_code == 201
    before = _instance(server, admin, "orders", "o1")["step"]
    _send(server, writer, "flood", "FLOOD")
    assert _instance(server, admin, "orders", "o1")["step"] - before == 100
    assert _instance(server, admin, "flood", "1")["state"] == ["flood.overflowed"]


def test_an_uploaded_machines_requests_meet_the_inbox_limit(store_url: str, tmp_path: Path) -> None:
    """A paused target holds at most max_queued events: the sends beyond are undeliverable in the sender,
    as a caller's are 429 (before, they all queued, and each became a refused step on resume)."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "orders.yaml").write_text(TARGET.format(name="orders", rules=RULES["orders"]))
    with running(store_url, dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_LOAD": str(app), "INTERLOCK_MAX_QUEUED": "5"}) as server:
        admin, writer = bearer(server.key("admin")), bearer(server.key(*WRITER))
        sends = ", ".join(['{send: {event: PAY, to: "instance:orders/o1"}}'] * 8)
        assert server.client.put("/v1/machines/flood/versions/1", content=FLOODER.format(sends=sends),
                                 headers={**writer, "content-type": "application/yaml"}).status_code == 201
        assert server.client.post("/v1/machines/orders/instances", json={"name": "o1", "input": {"owner": "a"}},
                                  headers=admin).status_code == 201
        assert server.client.post("/v1/machines/orders/instances/o1/pause", headers=admin).status_code == 200
        assert server.client.post("/v1/machines/flood/instances", json={"name": "1"},
                                  headers=writer).status_code == 201
        _send(server, writer, "flood", "FLOOD")
        assert _instance(server, admin, "flood", "1")["state"] == ["flood.overflowed"]
        before = _instance(server, admin, "orders", "o1")["step"]
        assert server.client.post("/v1/machines/orders/instances/o1/resume", headers=admin).status_code == 200
        assert _instance(server, admin, "orders", "o1")["step"] - before == 5
