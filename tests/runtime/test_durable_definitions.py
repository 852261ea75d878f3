"""A chart changed under the same version is refused, whatever part changed: in this process, by another
process on the same database, and on a database written before definitions were recorded."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interlock import Interlock, load_document, load_machine, machine
from interlock.errors import ConflictError
from interlock.runtime.clock import VirtualClock
from interlock.storage.queries import migrations, split_statements
from tests.runtime.durable_support import store_url

ROOT = Path(__file__).parents[2]
BASE: dict[str, Any] = {
    "id": "offer", "initial": "open", "context": {"owner": "ann", "n": 0},
    "states": {
        "open": {"tags": ["waiting"], "on": {
            "ACCEPT": {"guard": "event.actor == context.owner", "target": "accepted",
                       "actions": {"assign": {"n": "context.n + 1"}}},
            "NUDGE": {"actions": [{"type": "send", "event": "PING", "delay": "2s"}]}},
            "after": {"5000": {"target": "expired"}}},
        "expired": {},
        "accepted": {"type": "final", "output": {"n": "context.n"}}}}
CHANGES = {
    "guards": ("states", "open", "on", "ACCEPT", "guard", "event.actor != context.owner"),
    "actions": ("states", "open", "on", "ACCEPT", "actions", {"assign": {"n": "context.n + 2"}}),
    "context": ("context", "owner", "bob"),
    "tags": ("states", "open", "tags", ["idle"]),
    "output": ("states", "accepted", "output", {"n": "context.n + 1"}),
    "delay": ("states", "open", "on", "NUDGE", "actions", [{"type": "send", "event": "PING", "delay": "3s"}]),
}


def _changed(what: str) -> dict[str, Any]:
    *path, key, value = CHANGES[what]
    doc = copy.deepcopy(BASE)
    node = doc
    for step in path:
        node = node[step]
    node[key] = value
    return doc


def _app(db: Path) -> Interlock:
    return Interlock(store_url(db), clock=VirtualClock())


@pytest.mark.parametrize("what", CHANGES)
def test_a_changed_definition_under_the_same_version_is_refused_by_another_process(
        tmp_path: Path, what: str) -> None:
    db = tmp_path / "d.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    script = ("import json, sys; from interlock import Interlock, load_document; "
              "app = Interlock(sys.argv[1]); app.register(load_document(json.loads(sys.argv[2]))); "
              "app.create('offer', 'o1'); app.close()")
    subprocess.run([sys.executable, "-c", script, store_url(db), json.dumps(BASE)], check=True, env=env, cwd=ROOT)
    with _app(db) as app:
        app.register(load_document(copy.deepcopy(BASE)))  # the same definition: accepted
        part = "actions" if what == "delay" else what
        with pytest.raises(ConflictError, match=f"another definition \\(changed: {part}\\)"):
            app.register(load_document(_changed(what)))
        assert app.get("offer", "o1").state == ("offer.open",)


def test_a_changed_definition_is_refused_in_the_same_process_too(tmp_path: Path) -> None:
    with _app(tmp_path / "p.db") as app:
        app.register(load_document(copy.deepcopy(BASE)))
        with pytest.raises(ConflictError, match=r"in this process with another definition \(changed: guards\)"):
            app.register(load_document(_changed("guards")))
        app.register(load_document(_changed("guards") | {"version": "2"}))  # a new version is fine


def test_python_callables_are_compared_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def owner_accepts(context: dict[str, Any], event: Any) -> bool:
        return True

    def anyone_accepts(context: dict[str, Any], event: Any) -> bool:
        return True

    config = {"id": "py", "initial": "a", "states": {"a": {"on": {"GO": {"guard": "ok", "target": "b"}}},
                                                      "b": {}}}
    db = tmp_path / "py.db"
    with _app(db) as app, caplog.at_level("INFO", logger="interlock.runtime"):
        app.register(machine(config, guards={"ok": owner_accepts}))
        assert ".owner_accepts): it is compared with other processes' by name only" in caplog.text
    with _app(db) as app:
        app.register(machine(config, guards={"ok": owner_accepts}))  # same name: the same, as far as known
        with pytest.raises(ConflictError, match=r"changed: guards"):
            app.register(machine(config, guards={"ok": anyone_accepts}))


def _version_3_database(db: Path, chart_shape: str) -> None:
    """A database as the previous Interlock left it: schema version 3, a machine with its shape only."""
    conn = sqlite3.connect(db)
    for version, script in migrations("sqlite"):
        if version > 3:
            break
        for statement in split_statements(script):
            conn.execute(statement)
    conn.execute("INSERT OR REPLACE INTO interlock_meta (key, value) VALUES ('schema_version', '3')")
    conn.execute("INSERT INTO machines (name, version, registered_at, shape) VALUES ('offer', '1', 0, ?)",
                 (chart_shape,))
    conn.commit()
    conn.close()


@pytest.mark.sqlite_only  # builds a SQLite file of schema version 3
def test_a_database_of_the_previous_version_opens_and_adopts_the_definition(tmp_path: Path) -> None:
    from interlock.runtime.machines import shape_of

    db = tmp_path / "v3.db"
    chart = load_document(copy.deepcopy(BASE))
    _version_3_database(db, shape_of(chart))
    with _app(db) as app:
        assert app.runtime.store.schema_version() == migrations("sqlite")[-1][0]  # type: ignore[attr-defined]
        app.register(chart)  # recorded with its shape only: accepted, and its definition kept
        app.create("offer", "o1")
    with _app(db) as app:
        with pytest.raises(ConflictError, match=r"in this database with another definition"):
            app.register(load_document(_changed("context")))
        app.register(load_document(copy.deepcopy(BASE)))
        assert app.get("offer", "o1").context == {"owner": "ann", "n": 0}


def test_a_client_without_the_service_implementations_registers_the_same_definition(tmp_path: Path) -> None:
    config = {"id": "pay", "initial": "charging", "states": {
        "charging": {"invoke": {"src": "charge", "onDone": "paid"}}, "paid": {"type": "final"}}}
    db = tmp_path / "s.db"
    with _app(db) as worker:
        worker.register(machine(copy.deepcopy(config), services={"charge": lambda task: 1}))
    with _app(db) as client:
        client.register(load_document(copy.deepcopy(config), defer_services=True))
        changed = copy.deepcopy(config)
        changed["states"]["charging"]["invoke"]["src"] = "refund"
        with pytest.raises(ConflictError, match=r"changed: invocations"):
            client.register(load_document(changed, defer_services=True))


def test_a_documents_fingerprint_is_the_one_earlier_versions_stored() -> None:
    """A machine registered by an earlier version of Interlock is compared by its fingerprint with the same
    document loaded by this one: how the expressions are compiled (closures, a guard and its assignment
    compiled together) must not change it, or every process of the new version would refuse the machines
    the database holds. The digests were computed by the version of 2026-12-06 (08449ce)."""
    from interlock.runtime.fingerprint import fingerprint

    chart = load_machine(SHOP_FINGERPRINTED, format="yaml")
    assert fingerprint(chart) == {
        "actions": "322b5bcf5a709696", "authorize": "4f53cda18c2baa0c", "context": "f27780e8c1a96c3f",
        "guards": "1f5cf43c7e30de95", "invocations": "65882aac5b31bfe7", "output": "1bf9f403964c8c1b",
        "settings": "0eba6328bd78fb89", "states": "f4b5e440f5f7f48a", "tags": "65882aac5b31bfe7",
        "transitions": "a2cc16f64005c8f5"}


SHOP_FINGERPRINTED = """
id: shop
initial: cart
context: {items: [], total: 0, count: 0}
states:
  cart:
    on:
      ADD: {guard: "event.price > 0 and count < 5", actions: {assign: {items: "items + [event.sku]", total: "total + event.price * event.qty", count: "count + 1"}}}
      PAY: {guard: "event.amount >= total", target: paid, actions: {assign: {paid: "event.amount"}}}
      NOTE: {actions: {assign: {note: "len(items)"}}}
  paid: {}
"""
