"""A ``machines:write`` key may add versions of an uploaded machine, but not change its authorize rules:
new instances take the newest version, so a new version without the rules (or with others) would let
every caller past them (docs/auth.md, "Machines as callers"). Real server on loopback, SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.support import WRITER, Server, bearer, running

RULED = """
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
OPEN = """
initial: a
context: {owner: null}
states:
  a: {"on": {GO: b}}
  b: {"on": {GO: a}}
"""
LOOSER = RULED.replace('create: "owner == claims.sub"', "create: true")
RESTATED = RULED.replace("  b: {\"on\": {GO: a}}", "  b: {\"on\": {GO: a}}\n  c: {}")  # same rules, a new state
YAML = {"content-type": "application/yaml"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str], dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("uploads")
    with running(f"sqlite:///{tmp / 'u.db'}", dev=False, log=tmp / "s.log") as server:
        yield server, bearer(server.key("admin")), bearer(server.key(*WRITER))


def _put(server: Server, headers: dict[str, str], machine: str, version: str, text: str) -> int:
    answer = server.client.put(f"/v1/machines/{machine}/versions/{version}", content=text,
                               headers={**headers, **YAML})
    if answer.status_code == 403:
        assert answer.json()["error"]["code"] == "auth.upload.rules", answer.text
    return answer.status_code


@pytest.mark.parametrize("text", [OPEN, LOOSER], ids=["without-rules", "looser-rules"])
def test_a_writer_may_not_change_the_rules_of_the_newest_version(
        served: tuple[Server, dict[str, str], dict[str, str]], text: str) -> None:
    server, admin, writer = served
    machine = f"claim-{len(text)}"
    assert _put(server, writer, machine, "1", RULED) == 201  # a new machine: its first rules are the uploader's
    assert _put(server, writer, machine, "2", text) == 403
    created = server.client.post(f"/v1/machines/{machine}/instances", json={"name": "x", "input": {"owner": "y"}},
                                 headers=writer)
    assert created.status_code == 403  # still version 1's create rule
    assert created.json()["error"]["code"] == "auth.rule.refused"
    assert server.client.get(f"/v1/machines/{machine}", headers=writer).json()["latest"] == "1"
    assert _put(server, admin, machine, "2", text) == 201  # an admin may


def test_a_writer_may_add_versions_with_the_same_rules(
        served: tuple[Server, dict[str, str], dict[str, str]]) -> None:
    server, _admin, writer = served
    assert _put(server, writer, "same", "1", RULED) == 201
    assert _put(server, writer, "same", "2", RESTATED) == 201
    assert _put(server, writer, "open", "1", OPEN) == 201
    assert _put(server, writer, "open", "2", OPEN.replace("b: {", "c: {}\n  b: {")) == 201
    assert _put(server, writer, "open", "3", RULED) == 403  # adding rules is a change of rules too
    assert _put(server, writer, "same", "2", RESTATED) == 200  # the same upload again changes nothing


SIGNED = RULED + """webhooks:
  approve:
    verify: {signature: github, secret: hub}
    instance: "'anyone'"
    event: "'GO'"
"""
KEYED = SIGNED.replace("verify: {signature: github, secret: hub}", "verify: key")


def test_a_writer_may_not_add_a_signed_webhook_which_no_rule_restrains(
        served: tuple[Server, dict[str, str], dict[str, str]]) -> None:
    """A signed hook's request is trusted (no rule is asked): whoever can have a request signed with the
    server's secret (a GitHub repository's admin can point its hook anywhere) would pass the rules."""
    server, admin, writer = served
    assert _put(server, admin, "hooked", "1", RULED) == 201
    assert _put(server, writer, "hooked", "2", SIGNED) == 403
    assert _put(server, writer, "hooked", "2", KEYED) == 201  # a key's request meets the rules
    assert _put(server, admin, "hooked", "3", SIGNED) == 201
    assert _put(server, writer, "hooked", "4", SIGNED.replace("'GO'", "'GO' if true else 'X'")) == 403
    assert _put(server, writer, "hooked", "4", SIGNED + "\n") == 201  # the same hooks, as written
