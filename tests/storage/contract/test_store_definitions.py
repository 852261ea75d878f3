"""The store contract for uploaded machine definitions and the admin reads of an instance (timers,
tasks, children), on every store."""

from __future__ import annotations

from interlock.runtime.retry import RetryPolicy
from interlock.storage.store import DefinitionRow, InstanceRow, Store, TaskRow, TimerRow
from tests.storage.contract.conftest import Opener


def _definition(version: str, text: str = "id: m", at: float = 1.0, name: str = "m") -> DefinitionRow:
    return DefinitionRow(name, version, "yaml", text, at)


def test_a_definition_is_kept_once_and_a_second_save_returns_the_first(store: Store) -> None:
    with store.write() as tx:
        assert tx.save_definition(_definition("1")) == _definition("1")
    with store.write() as tx:
        kept = tx.save_definition(_definition("1", text="id: other", at=2.0))
    assert kept == _definition("1")  # immutable: the caller compares and refuses the change
    with store.read() as tx:
        assert tx.get_definition("m", "1") == _definition("1")
        assert tx.get_definition("m", "2") is None


def test_definitions_are_listed_by_name_oldest_first_and_seen_by_another_connection(
        store: Store, open_connection: Opener) -> None:
    with store.write() as tx:
        tx.save_definition(_definition("2", at=5.0))
        tx.save_definition(_definition("1", at=3.0))
        tx.save_definition(_definition("1", name="a", at=9.0))
    other = open_connection()
    with other.read() as tx:
        assert [(d.name, d.version) for d in tx.definitions()] == [("a", "1"), ("m", "1"), ("m", "2")]
        assert [d.version for d in tx.definitions("m")] == ["1", "2"]
        assert tx.definitions("nothing") == []
        assert (tx.newest_definition("m"), tx.newest_definition("a"), tx.newest_definition("nothing")) == (
            "2", "1", None)  # the last of definitions(), without reading any text


def test_a_rolled_back_transaction_keeps_no_definition(store: Store) -> None:
    try:
        with store.write() as tx:
            tx.save_definition(_definition("1"))
            raise RuntimeError("abort")
    except RuntimeError:
        pass
    with store.read() as tx:
        assert tx.definitions() == []


def test_an_instances_timers_tasks_and_children_are_read_for_admins(store: Store) -> None:
    snapshot = {"configuration": ["m"], "context": {}}
    with store.write() as tx:
        tx.insert_instance(InstanceRow("m", "a", "1", "active", False, 0, 0, snapshot))
        tx.insert_instance(InstanceRow("c", "kid", "1", "active", False, 0, 0, snapshot, "m", "a", "inv"))
        tx.add_timer(TimerRow("k2", "m", "a", "s2", None, {"name": "LATE"}, 20.0))
        tx.add_timer(TimerRow("k1", "m", "a", "s1", None, {"name": "SOON"}, 10.0))
        tx.add_timer(TimerRow("k3", "m", "b", "s3", None, {"name": "OTHER"}, 5.0))
        tx.add_task(TaskRow("m/a#1.0", "m", "a", "inv", "svc", {"x": 1}, RetryPolicy().to_json()), 1.0)
    with store.read() as tx:
        assert [(t.key, t.event["name"]) for t in tx.timers_of("m", "a")] == [("k1", "SOON"), ("k2", "LATE")]
        tasks = tx.tasks_of("m", "a")
        assert [(t.key, t.service, t.input, t.status) for t in tasks] == [("m/a#1.0", "svc", {"x": 1}, "pending")]
        assert [(c.machine, c.id) for c in tx.children("m", "a")] == [("c", "kid")]
        assert tx.timers_of("m", "zz") == [] and tx.tasks_of("m", "zz") == []
