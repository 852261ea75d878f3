"""The store contract (storage/store.py), on every store: rows, compare-and-set, claims that two
connections race for, the change feed, history pages, listings, migrations."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from interlock.errors import ConflictError, StorageError
from interlock.runtime.retry import RetryPolicy
from interlock.storage.queries import migrations
from interlock.storage.store import (
    DefinitionRow,
    HistoryRow,
    InstanceRow,
    StaleRowError,
    Store,
    TaskRow,
    TimerRow,
    WriteTx,
)
from tests.storage.contract.conftest import Opener


def _row(id: str, machine: str = "m") -> InstanceRow:
    return InstanceRow(machine, id, "1", "active", False, 0, 0, {"configuration": [machine], "context": {}},
                       created_at=1.0, updated_at=1.0)


def _step(id: str, step: int, key: str | None = None) -> HistoryRow:
    return HistoryRow("m", id, step, float(step), "applied", {"name": "E"}, key, None, ["m"], ["m"], {}, [])


def _create(store: Store, *ids: str) -> None:
    with store.write() as tx:
        for id in ids:
            tx.insert_instance(_row(id))
            tx.append_history(HistoryRow("m", id, 0, 1.0, "started", None, None, None, [], ["m"], {}, []))


def _get(tx: WriteTx, id: str) -> InstanceRow:
    row = tx.get_instance("m", id)
    assert row is not None
    return row


def _enqueue(tx: WriteTx, id: str, name: str, *, sendid: str | None = None, invokeid: str | None = None,
             row: InstanceRow | None = None) -> int:
    event: dict[str, Any] = {"name": name} if invokeid is None else {"name": name, "invokeid": invokeid}
    return tx.enqueue(row or _get(tx, id), event, idempotency_key=None, cause=None, sendid=sendid, now=1.0)


def _queued(store: Store, id: str) -> int:
    with store.read() as tx:
        row = tx.get_instance("m", id)
        assert row is not None
        return row.queued


def _in_other_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


# -- rows -------------------------------------------------------------------------------------------


def test_instances_are_created_read_and_updated_with_a_revision(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx, pytest.raises(ConflictError):
        tx.insert_instance(_row("a"))
    with store.write() as tx:
        row = tx.get_instance("m", "a")
        assert row is not None and row.revision == 0
        row.step, row.queued, row.snapshot_json = 1, 2, None
        row.snapshot = {"configuration": ["m"], "context": {"x": 1}}
        tx.update_instance(row)
        row.paused = True
        tx.update_instance(row)  # twice in one transaction: its own writes do not conflict
    with store.read() as tx:
        found = tx.get_instance("m", "a")
        assert found is not None
        assert (found.step, found.queued, found.paused, found.snapshot["context"]) == (1, 2, True, {"x": 1})
        assert found.revision > 0  # by one per write, or per transaction where writes wait (SQLite)
        assert tx.get_instance("m", "nope") is None


def test_many_rows_are_read_at_once_and_a_missing_instance_is_neither_a_row_nor_held(store: Store) -> None:
    _create(store, "a", "b", "c")
    with store.write() as tx:
        locked = tx.lock_instances([("m", "a"), ("m", "c"), ("m", "nope"), ("m", "a")])
        assert sorted(r.id for r in locked.rows) == ["a", "c"]
        assert locked.held == []
        assert tx.lock_instances([]).rows == []
        row = next(r for r in locked.rows if r.id == "c")
        row.step, row.snapshot_json = 5, None
        tx.update_instance(row)  # a row read so can be written (compare-and-set on its revision)
    with store.read() as tx:
        found = tx.get_instance("m", "c")
        assert found is not None and found.step == 5


def test_the_ended_ones_of_many_instances_are_read_in_one_call(store: Store) -> None:
    odd = "o'dd \"id\" \u00e9"  # quotes and non-ASCII pass through the keys' encoding
    _create(store, "a", "b", "c", odd)
    with store.write() as tx:
        for id, status in (("b", "done"), ("c", "cancelled"), (odd, "done")):
            row = _get(tx, id)
            row.status, row.step, row.snapshot_json = status, 1, None
            tx.update_instance(row)
    wanted = [("m", "a"), ("m", "b"), ("m", "nope"), ("other", "c"), ("m", "c"), ("m", odd), ("m", "b")]
    with store.read() as tx:
        rows = tx.ended_instances(wanted)
        assert sorted((r.id, r.status, r.step) for r in rows) == sorted(  # each once, a repeated key too
            [("b", "done", 1), ("c", "cancelled", 1), (odd, "done", 1)])
        assert tx.ended_instances([]) == []
        assert tx.ended_instances([("m", "a")]) == []


def test_a_write_of_a_row_changed_since_it_was_read_is_refused_and_nothing_of_it_is_kept(
        open_connection: Opener) -> None:
    first, second = open_connection(), open_connection()
    _create(first, "a")
    with first.read() as tx:
        mine = tx.get_instance("m", "a")
    with second.read() as tx:
        theirs = tx.get_instance("m", "a")
    assert mine is not None and theirs is not None
    with second.write() as tx:
        theirs.step = 1
        tx.update_instance(theirs)
    with pytest.raises(StaleRowError), first.write() as tx:
        tx.insert_instance(_row("b"))
        mine.step = 7
        tx.update_instance(mine)
        tx.flush()
    with first.read() as tx:
        after = tx.get_instance("m", "a")
        assert after is not None and (after.step, after.revision) == (1, 1)
        assert tx.get_instance("m", "b") is None  # the whole transaction rolled back


# -- claims two connections race for -------------------------------------------------------------------


def test_two_connections_never_take_the_same_due_timer(open_connection: Opener) -> None:
    first, second = open_connection(), open_connection()
    _create(first, "a")
    with first.write() as tx:
        for n in range(4):
            tx.add_timer(TimerRow(f"m/a#1.{n}", "m", "a", f"s{n}", None, {"name": f"T{n}"}, 5.0 + n))
    with first.write() as tx:
        mine = tx.take_due_timers(100.0, 3)
        thread, box = _in_other_thread(lambda: _take_timers(second))
        thread.join(0.5)  # SQLite: waits for the lock; PostgreSQL: skips the rows this transaction holds
    thread.join()
    assert [t.key for t in mine] == ["m/a#1.0", "m/a#1.1", "m/a#1.2"]
    assert "error" not in box
    assert [t.key for t in box["value"]] == ["m/a#1.3"]
    with first.write() as tx:
        assert tx.take_due_timers(100.0, 10) == []


def test_a_cancelled_timer_is_gone_for_every_later_statement_of_the_transaction(store: Store) -> None:
    _create(store, "a", "b")
    with store.write() as tx:
        for id in ("a", "b"):
            for n in range(2):
                tx.add_timer(TimerRow(f"m/{id}#1.{n}", "m", id, f"s{n}", None, {"name": "T"}, 5.0 + n))
    with store.write() as tx:
        tx.cancel_timers("m", "a", "s0")
        assert [t.key for t in tx.timers_of("m", "a")] == ["m/a#1.1"]
        tx.cancel_timers("m", "a", None)
        tx.add_timer(TimerRow("m/a#2.0", "m", "a", "s0", None, {"name": "T"}, 4.0))  # the same send id again
        tx.cancel_timers("m", "b", "s1")
        assert tx.next_wakeup() == 4.0
        assert [t.key for t in tx.take_due_timers(100.0, 10)] == ["m/a#2.0", "m/b#1.0"]


def _take_timers(store: Store) -> list[TimerRow]:
    with store.write() as tx:
        return tx.take_due_timers(100.0, 10)


def test_two_connections_never_take_the_same_inbox_event(open_connection: Opener) -> None:
    first, second = open_connection(), open_connection()
    _create(first, "a")
    with first.write() as tx:
        _enqueue(tx, "a", "ONE")

    def take() -> Any:
        with second.write() as tx:
            row = tx.get_instance("m", "a")
            assert row is not None
            return tx.take_event(row)

    with first.write() as tx:
        mine = tx.take_event(_get(tx, "a"))
        thread, box = _in_other_thread(take)
        thread.join(0.5)
    thread.join()
    assert mine is not None and mine.event == {"name": "ONE"}
    # the other connection gets nothing, or notices it lost the row; never the same event
    assert box.get("value") is None
    assert "error" not in box or isinstance(box["error"], StaleRowError)


# -- the inbox counter: the store keeps ``queued`` equal to the queued events, nobody else ----------------


def test_the_queued_counter_follows_every_event_added_and_removed(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        row = _get(tx, "a")
        _enqueue(tx, "a", "ONE", row=row)
        _enqueue(tx, "a", "TIMER", sendid="s1", row=row)
        _enqueue(tx, "a", "DONE", invokeid="i1", row=row)
        _enqueue(tx, "a", "TWO", row=row)
        assert row.queued == 4  # the row in hand, and the stored one below
    assert _queued(store, "a") == 4
    with store.write() as tx:
        row = _get(tx, "a")
        assert tx.remove_events_by_sendid(row, "s1") == 1 and row.queued == 3
        assert tx.remove_invocation_events(row, "i1") == 1 and row.queued == 2
        assert tx.remove_events_by_sendid(row, "nope") == 0 and row.queued == 2
        taken = tx.take_event(row)
        assert taken is not None and taken.event == {"name": "ONE"} and row.queued == 1
    assert _queued(store, "a") == 1
    with store.write() as tx:
        row = _get(tx, "a")
        _enqueue(tx, "a", "THREE", row=row)  # queued and cleared in one transaction, and one stored
        assert (tx.clear_inbox(row), row.queued) == (2, 0)
        assert tx.take_event(row) is None and row.queued == 0
    assert _queued(store, "a") == 0


def test_events_queued_and_taken_in_one_transaction_leave_the_counter_at_zero(store: Store) -> None:
    _create(store, "a", "b")
    with store.write() as tx:
        row, other = _get(tx, "a"), _get(tx, "b")
        for name in ("ONE", "TWO"):
            _enqueue(tx, "a", name, row=row)
        _enqueue(tx, "b", "THREE", row=other)
        assert [e.event["name"] for e in (tx.take_event(row), tx.take_event(row)) if e] == ["ONE", "TWO"]
        assert (row.queued, other.queued) == (0, 1)
        assert tx.take_event(row) is None
    assert (_queued(store, "a"), _queued(store, "b")) == (0, 1)


def test_events_queued_then_removed_in_one_transaction_leave_nothing_and_the_commit_stands(store: Store) -> None:
    """A timer's event queued and cancelled again in the same transaction (two timers due at once, the
    first cancelling the second), by send id or by invocation: nothing of them is stored, the rest is."""
    _create(store, "a", "b")
    with store.write() as tx:
        row = _get(tx, "a")
        _enqueue(tx, "a", "T1", sendid="s1", row=row)
        _enqueue(tx, "a", "T2", invokeid="i1", row=row)
        assert tx.remove_events_by_sendid(row, "s1") == 1
        assert tx.remove_invocation_events(row, "i1") == 1
        other = _get(tx, "b")
        other.step = 3
        tx.update_instance(other)
    assert _queued(store, "a") == 0
    with store.write() as tx:
        assert tx.take_event(_get(tx, "a")) is None
        assert _get(tx, "b").step == 3


def test_a_rolled_back_savepoint_keeps_neither_its_events_nor_their_count(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        _enqueue(tx, "a", "KEPT")
    with store.write() as tx:
        row = _get(tx, "a")
        with pytest.raises(RuntimeError), tx.savepoint():
            _enqueue(tx, "a", "LOST", row=row)
            assert tx.take_event(row) is not None
            raise RuntimeError("roll back")
    assert _queued(store, "a") == 1
    with store.write() as tx:
        row = _get(tx, "a")
        taken = tx.take_event(row)
        assert taken is not None and taken.event == {"name": "KEPT"}
        assert tx.take_event(row) is None


def test_two_connections_never_claim_the_same_task(open_connection: Opener) -> None:
    first, second = open_connection(), open_connection()
    _create(first, "a")
    with first.write() as tx:
        for n in range(3):
            tx.add_task(TaskRow(f"m/a#1.{n}", "m", "a", f"i{n}", "charge", {"n": n}, {}), 1.0)

    def claim(store: Store, owner: str) -> list[TaskRow]:
        with store.write() as tx:
            return tx.claim_tasks(2.0, owner=owner, services=["charge"], limit=2,
                                  lease_of=RetryPolicy.lease_of)

    with first.write() as tx:
        mine = tx.claim_tasks(2.0, owner="one", services=["charge"], limit=2, lease_of=RetryPolicy.lease_of)
        thread, box = _in_other_thread(lambda: claim(second, "two"))
        thread.join(0.5)
    thread.join()
    theirs = box["value"]
    assert len(mine) == 2 and len(theirs) == 1
    assert {t.key for t in mine}.isdisjoint({t.key for t in theirs})
    assert all(t.attempt == 1 and t.status == "running" for t in mine + theirs)
    with first.write() as tx:
        assert tx.claim_tasks(2.0, owner="three", services=["charge"], limit=5,
                              lease_of=RetryPolicy.lease_of) == []
        [expired] = tx.claim_tasks(1e9, owner="three", services=["charge"], limit=1,
                                   lease_of=RetryPolicy.lease_of)  # every lease ran out: one is taken over
        assert expired.attempt == 2 and tx.owned_task(expired.key, "three", 2) is not None
        assert tx.extend_lease(expired.key, "one", 1, 5.0) is False  # the old owner lost it


def test_rows_read_at_once_are_their_machines_and_include_the_transactions_own_writes(store: Store) -> None:
    _create(store, "a", "b", "c")
    with store.write() as tx:
        tx.insert_instance(_row("a", machine="n"))  # the same name in another machine
        row = _get(tx, "b")
        row.step, row.snapshot_json = 7, None
        tx.update_instance(row)  # written, maybe not yet sent to the database
        wanted = [("n", "a"), ("m", "b"), ("m", "c"), ("n", "b"), ("m", "a")]
        locked = tx.lock_instances(wanted)
        assert sorted((r.machine, r.id, r.step) for r in locked.rows) == [
            ("m", "a", 0), ("m", "b", 7), ("m", "c", 0), ("n", "a", 0)]
        assert tx.get_instance("n", "b") is None


def test_an_instance_found_missing_then_inserted_is_read_back_in_the_same_transaction(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        locked = tx.lock_instances([("m", "a"), ("m", "new")])
        assert [r.id for r in locked.rows] == ["a"] and locked.held == []
        assert tx.get_instance("m", "new") is None
        tx.insert_instance(_row("new"))
        with pytest.raises(ConflictError):
            tx.insert_instance(_row("new"))
        got = tx.get_instance("m", "new")
        assert got is not None and got.revision == 0
        assert [r.id for r in tx.list_instances("m")] == ["a", "new"]
    with store.write() as tx:
        assert [r.id for r in tx.lock_instances([("m", "new")]).rows] == ["new"]


def test_a_task_added_and_claimed_in_one_transaction_is_stored_leased(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        tx.add_task(TaskRow("m/a#1.x", "m", "a", "x", "charge", {"n": (1, 2)}, {"lease_seconds": 5.0}), 1.0)
        [task] = tx.claim_tasks(2.0, owner="one", services=["charge"], limit=3, lease_of=RetryPolicy.lease_of)
    assert (task.key, task.attempt, task.status, task.lease_owner, task.lease_until) == ("m/a#1.x", 1, "running", "one", 7.0)
    assert task.input == {"n": [1, 2]} and task.policy == {"lease_seconds": 5.0}  # as the table gives them back
    with store.write() as tx:
        assert tx.tasks_of("m", "a") == [task]
        assert tx.claim_tasks(3.0, owner="two", services=["charge"], limit=3, lease_of=RetryPolicy.lease_of) == []
        assert tx.owned_task("m/a#1.x", "one", 1) == task


def test_a_claim_after_a_retry_in_the_same_transaction_finds_the_task_again(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        tx.add_task(TaskRow("m/a#1.0", "m", "a", "i0", "charge", {}, {"lease_seconds": 5.0}), 1.0)
    with store.write() as tx:
        [task] = tx.claim_tasks(2.0, owner="one", services=["charge"], limit=5, lease_of=RetryPolicy.lease_of)
        assert (task.attempt, task.lease_owner, task.lease_until) == (1, "one", 7.0)
        assert tx.claim_tasks(2.0, owner="two", services=["charge"], limit=5, lease_of=RetryPolicy.lease_of) == []
        tx.retry_task(task.key, 2.0, "boom")
        [again] = tx.claim_tasks(2.0, owner="two", services=["charge"], limit=5, lease_of=RetryPolicy.lease_of)
        assert (again.attempt, again.lease_owner, again.last_error) == (2, "two", "boom")
        tx.add_task(TaskRow("m/a#1.1", "m", "a", "i1", "charge", {}, {"lease_seconds": 5.0}), 2.0)
        assert [t.key for t in tx.claim_tasks(2.0, owner="three", services=["charge"], limit=5,
                                              lease_of=RetryPolicy.lease_of)] == ["m/a#1.1"]


def test_locked_tasks_are_removed_only_by_the_attempt_that_holds_them(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        for n in range(4):
            tx.add_task(TaskRow(f"m/a#1.{n}", "m", "a", f"i{n}", "charge", {}, {"lease_seconds": 5.0}), 1.0)
        claimed = tx.claim_tasks(1.0, owner="one", services=["charge"], limit=4, lease_of=RetryPolicy.lease_of)
    assert len(claimed) == 4
    with store.write() as tx:
        tx.lock_tasks([("m/a#1.0", "one", 1), ("m/a#1.1", "two", 1), ("m/a#1.2", "one", 1), ("m/a#1.3", "one", 1),
                       ("m/nope", "one", 1)])
        assert tx.remove_owned_task("m/a#1.0", "one", 1)
        assert not tx.remove_owned_task("m/a#1.0", "one", 1)  # removed already
        assert not tx.remove_owned_task("m/a#1.1", "two", 1)  # not its lease
        assert not tx.remove_owned_task("m/a#1.1", "one", 2)  # not its attempt
        tx.cancel_tasks("m", "a", "i2")
        assert not tx.remove_owned_task("m/a#1.2", "one", 1)  # cancelled in the meantime
        tx.retry_task("m/a#1.3", 1.0, "boom")
        assert not tx.remove_owned_task("m/a#1.3", "one", 1)  # its attempt failed and waits for a retry
        assert tx.remove_owned_task("m/nope", "one", 1) is False
    with store.write() as tx:
        assert [(t.key, t.status) for t in tx.tasks_of("m", "a")] == [("m/a#1.1", "running"), ("m/a#1.3", "pending")]


def test_an_instances_tasks_are_its_own_when_names_hold_the_key_separators(store: Store) -> None:
    # task keys are '<machine>/<id>#<step>.<index>': "m"/"a#1" and "m/a"/"1" both begin with "m/a#1"-like
    # prefixes of "m"/"a"'s, and must still be found and cancelled as their own instance's
    ids = [("m", "a"), ("m", "a#1"), ("m/a", "1"), ("m", "a/b"), ("m", "a$")]
    _create(store, "a", "a#1", "a/b", "a$")
    with store.write() as tx:
        tx.insert_instance(_row("1", "m/a"))
        for machine, id in ids:
            for n in range(2):
                tx.add_task(TaskRow(f"{machine}/{id}#1.{n}", machine, id, f"i{n}", "charge", {}, {}), 1.0)
    with store.write() as tx:
        for machine, id in ids:
            assert [t.key for t in tx.tasks_of(machine, id)] == [f"{machine}/{id}#1.0", f"{machine}/{id}#1.1"]
        assert tx.cancel_tasks("m", "a", "i0") == 1
        assert tx.cancel_tasks("m", "a#1", None) == 2
    with store.write() as tx:
        assert [t.key for t in tx.tasks_of("m", "a")] == ["m/a#1.1"]
        assert tx.tasks_of("m", "a#1") == []
        for machine, id in ids[2:]:
            assert len(tx.tasks_of(machine, id)) == 2


def test_a_task_whose_key_is_not_its_instances_is_refused(store: Store) -> None:
    # SQLite finds an instance's tasks as a range of keys: one outside it could never be cancelled
    _create(store, "a")
    for key in ("legacy-key-1", "m/b#1.0", "m/a1.0", "n/a#1.0"):
        with pytest.raises(StorageError, match="does not begin with m/a#"), store.write() as tx:
            tx.add_task(TaskRow(key, "m", "a", "i0", "charge", {}, {}), 1.0)
    with store.write() as tx:
        assert tx.tasks_of("m", "a") == []


def test_a_removal_rolled_back_with_its_savepoint_leaves_the_task(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        tx.add_task(TaskRow("m/a#1.0", "m", "a", "i0", "charge", {}, {"lease_seconds": 5.0}), 1.0)
        tx.claim_tasks(1.0, owner="one", services=["charge"], limit=1, lease_of=RetryPolicy.lease_of)
    with store.write() as tx:
        tx.lock_tasks([("m/a#1.0", "one", 1)])
        with pytest.raises(RuntimeError), tx.savepoint():
            assert tx.remove_owned_task("m/a#1.0", "one", 1)
            raise RuntimeError("the command failed")
        assert [t.key for t in tx.tasks_of("m", "a")] == ["m/a#1.0"]
        assert tx.remove_owned_task("m/a#1.0", "one", 1)
    with store.write() as tx:
        assert tx.tasks_of("m", "a") == []


def test_a_transactions_many_task_writes_and_timer_cancellations_are_each_stored_as_decided(store: Store) -> None:
    """Hundreds of results in one transaction (more rows than one SQLite statement takes): each held task
    removed, its next task added and, for some, claimed where it waits; the ended instances' timers
    cancelled; what a rolled-back savepoint decided is not kept, and what it held is held again."""
    ids = [f"i{n:03}" for n in range(300)]
    _create(store, *ids)
    with store.write() as tx:
        for id in ids:
            tx.add_task(TaskRow(f"m/{id}#0", "m", id, "i0", "charge", {"id": id}, {"lease_seconds": 5.0}), 1.0)
            tx.add_timer(TimerRow(f"m/{id}#t", "m", id, "s", None, {"name": "T"}, 50.0))
        assert len(tx.claim_tasks(1.0, owner="one", services=["charge"], limit=500,
                                  lease_of=RetryPolicy.lease_of)) == 300
    with store.write() as tx:
        tx.lock_instances([("m", id) for id in ids], [(f"m/{id}#0", "one", 1) for id in ids])
        for n, id in enumerate(ids[:-1]):
            assert tx.remove_owned_task(f"m/{id}#0", "one", 1)
            tx.add_task(TaskRow(f"m/{id}#1", "m", id, "i1", "charge", {"n": n}, {"lease_seconds": 5.0}), 2.0)
            if n < 150:  # claimed where it waits (every task added before it was claimed too)
                [claimed] = tx.claim_tasks(2.0, owner="two", services=["charge"], limit=1,
                                           lease_of=RetryPolicy.lease_of)
                assert (claimed.key, claimed.attempt, claimed.input) == (f"m/{id}#1", 1, {"n": n})
            if n % 3 == 0:
                tx.cancel_timers("m", id, None)
        last = ids[-1]
        with pytest.raises(RuntimeError), tx.savepoint():
            assert tx.remove_owned_task(f"m/{last}#0", "one", 1)
            tx.add_task(TaskRow(f"m/{last}#1", "m", last, "i1", "charge", {}, {}), 2.0)
            tx.cancel_timers("m", last, None)
            raise RuntimeError("the command failed")
        assert [t.key for t in tx.tasks_of("m", last)] == [f"m/{last}#0"]
        assert len(tx.timers_of("m", last)) == 1
    with store.read() as tx:
        for n, id in enumerate(ids[:-1]):
            [task] = tx.tasks_of("m", id)
            assert (task.key, task.input) == (f"m/{id}#1", {"n": n})
            assert (task.status, task.attempt, task.lease_owner) == (
                ("running", 1, "two") if n < 150 else ("pending", 0, None))
            assert len(tx.timers_of("m", id)) == (0 if n % 3 == 0 else 1)
        [kept] = tx.tasks_of("m", last)
        assert (kept.key, kept.status, kept.lease_owner) == (f"m/{last}#0", "running", "one")
    with store.write() as tx:  # the savepoint's rollback left the lease held as before it
        tx.lock_tasks([(f"m/{last}#0", "one", 1)])
        assert tx.remove_owned_task(f"m/{last}#0", "one", 1)
    with store.read() as tx:
        assert tx.tasks_of("m", last) == []


def test_a_write_the_database_refuses_fails_the_savepoint_that_made_it(store: Store) -> None:
    """Writes may wait until the end of a savepoint, not later: a row the database refuses (here a task
    whose key is taken) fails the block that wrote it, rolls back all of that block, and leaves the next
    block (another command, in the writer's isolated runs) and the commit alone."""
    _create(store, "a")
    with store.write() as tx:
        tx.add_task(TaskRow("m/a#0", "m", "a", "i0", "charge", {}, {}), 1.0)
    with store.write() as tx:
        with pytest.raises((sqlite3.IntegrityError, StaleRowError)), tx.savepoint():
            tx.add_task(TaskRow("m/a#1", "m", "a", "i1", "charge", {"by": "A"}, {}), 2.0)
            tx.add_task(TaskRow("m/a#0", "m", "a", "i0", "charge", {"by": "A"}, {}), 2.0)
        with tx.savepoint():
            tx.add_task(TaskRow("m/a#2", "m", "a", "i2", "charge", {"by": "B"}, {}), 2.0)
    with store.read() as tx:
        assert [(t.key, t.input) for t in tx.tasks_of("m", "a")] == [("m/a#0", {}), ("m/a#2", {"by": "B"})]


def test_a_write_made_in_a_read_transaction_is_refused_not_dropped_silently(store: Store) -> None:
    _create(store, "a")
    with pytest.raises(StorageError, match="read transaction cannot write"), store.read() as tx:
        tx.add_task(TaskRow("m/a#0", "m", "a", "i0", "charge", {}, {}), 1.0)  # type: ignore[attr-defined]
    with store.read() as tx:
        assert tx.tasks_of("m", "a") == []


# -- the change feed --------------------------------------------------------------------------------


def test_the_change_feed_lists_committed_steps_in_order_and_resumes_from_a_position(store: Store) -> None:
    _create(store, "a", "b")
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.append_history(_step("a", 1))
        raise RuntimeError("rolled back: its step never happened")
    for step in (1, 2):
        with store.write() as tx:
            tx.append_history(_step("a", step))
            tx.append_history(_step("b", step))
    feed = store.changes(after=0, limit=100)
    assert [(c.id, c.step) for c in feed] == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    positions = [c.position for c in feed]
    assert positions == list(range(positions[0], positions[0] + 6))  # no gap, the rollback gave its back
    assert [(c.id, c.step) for c in store.changes(after=positions[2], limit=2)] == [("b", 1), ("a", 2)]
    assert store.changes(after=positions[-1], limit=10) == []
    assert feed[0].outcome == "started" and feed[2].outcome == "applied"


def test_a_store_tells_another_stores_commits_from_its_own(open_connection: Opener) -> None:
    """``others_committed``: True first (it cannot tell), then True only after another store (another
    process) committed a step, however many this store committed."""
    first, second = open_connection(), open_connection()
    assert first.others_committed() is True
    assert first.others_committed() is False
    _create(first, "a", "b")
    for step in (1, 2):
        with first.write() as tx:
            tx.append_history(_step("a", step))
    writer = threading.Thread(target=lambda: _create(first, "c"))  # this store, another thread's connection
    writer.start()
    writer.join()
    with first.write() as tx:  # a write after it: its connection saw another connection's commit
        tx.append_history(_step("c", 1))
    threading.Event().wait(0.05)  # what would arrive (PostgreSQL's notifications) has arrived
    assert first.others_committed() is False
    with second.write() as tx:
        tx.append_history(_step("b", 1))
    assert _eventually(first.others_committed)
    assert first.others_committed() is False  # each commit is told once
    with first.write() as tx:  # this store writes after the other's commit: its write tells it too
        tx.append_history(_step("a", 3))
    with second.write() as tx:
        tx.append_history(_step("b", 2))
    with first.write() as tx:
        tx.append_history(_step("a", 4))
    assert _eventually(first.others_committed)


def _eventually(look: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if look():
            return True
        deadline.wait(0.01)
    return False


def test_the_change_feeds_head_is_its_last_position(store: Store) -> None:
    assert store.last_position() == 0
    _create(store, "a")
    with store.write() as tx:
        tx.append_history(_step("a", 1))
    assert store.last_position() == store.changes(after=0, limit=100)[-1].position


def test_a_reader_sees_each_committed_step_of_concurrent_writers_once(open_connection: Opener) -> None:
    stores = [open_connection() for _ in range(3)]
    _create(stores[0], *[f"i{n}" for n in range(3)])

    def write(store: Store, id: str) -> None:
        for step in range(1, 21):
            with store.write() as tx:
                tx.append_history(_step(id, step))

    threads = [threading.Thread(target=write, args=(s, f"i{n}")) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    seen: list[tuple[str, int]] = []
    after = 0
    while len(seen) < 63:
        page = stores[1].changes(after=after, limit=7)  # a reader on a connection that also writes
        seen += [(c.id, c.step) for c in page]
        after = page[-1].position if page else after
    for thread in threads:
        thread.join()
    assert len(seen) == len(set(seen)) == 63
    for n in range(3):
        assert [s for i, s in seen if i == f"i{n}"] == list(range(21))  # each instance's steps in order


# -- history and listings -------------------------------------------------------------------------------


def test_history_comes_in_pages_and_a_step_is_recorded_once(store: Store) -> None:
    _create(store, "a")
    with store.write() as tx:
        for step in range(1, 6):
            tx.append_history(_step("a", step, key=f"k{step}"))
    with store.read() as tx:
        assert [h.step for h in tx.history_page("m", "a", after=1, limit=2)] == [2, 3]
        assert [h.step for h in tx.history_page("m", "a", after=-1, limit=100)] == [0, 1, 2, 3, 4, 5]
        found = tx.history_by_key("m", "a", "k4")
        assert found is not None and found.step == 4 and found.event == {"name": "E"}


def test_instances_are_listed_by_state_tag_and_status(store: Store) -> None:
    with store.write() as tx:
        for id, state, tags in (("c", "s1", ["t"]), ("a", "s1", []), ("b", "s2", ["t"])):
            tx.insert_instance(_row(id))
            tx.set_index("m", id, ["m", state], tags, before=((), ()))
        done = tx.get_instance("m", "b")
        assert done is not None
        done.status = "done"
        tx.update_instance(done)
        moved = tx.get_instance("m", "c")
        assert moved is not None
        tx.set_index("m", "c", ["m", "s2"], ["t"], before=(["m", "s1"], ["t"]))
    with store.read() as tx:
        def ids(**filters: Any) -> list[str]:
            return [r.id for r in tx.list_instances("m", **filters)]

        assert ids() == ["a", "b", "c"]
        assert ids(after="a", limit=1) == ["b"]
        assert ids(state="s1") == ["a"]
        assert ids(state="s2") == ["b", "c"]
        assert ids(tag="t") == ["b", "c"]
        assert ids(tag="t", status="active") == ["c"]
        assert ids(status="done") == ["b"]


def test_index_moves_within_one_transaction_leave_the_last_states(store: Store) -> None:
    """Several steps of one instance in one transaction (a batch): the index holds the states of the
    last, and the moves of a rolled-back savepoint are gone."""
    with store.write() as tx:
        tx.insert_instance(_row("a"))
        tx.set_index("m", "a", ["m", "on"], [], before=((), ()))
    with store.write() as tx:
        tx.set_index("m", "a", ["m", "off"], ["t"], before=(["m", "on"], []))
        tx.set_index("m", "a", ["m", "on"], [], before=(["m", "off"], ["t"]))
        tx.set_index("m", "a", ["m", "off"], [], before=(["m", "on"], []))
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.set_index("m", "a", ["m", "gone"], ["t"], before=(["m", "off"], []))
            assert [r.id for r in tx.list_instances("m", state="gone")] == ["a"]  # a read inside
            raise RuntimeError("rolled back")
        assert [r.id for r in tx.list_instances("m", state="off")] == ["a"]
        tx.set_index("m", "a", ["m", "on"], ["t"], before=(["m", "off"], []))
    with store.read() as tx:
        assert [r.id for r in tx.list_instances("m", state="on")] == ["a"]
        assert [r.id for r in tx.list_instances("m", tag="t")] == ["a"]
        assert tx.list_instances("m", state="off") == []
        assert tx.list_instances("m", state="gone") == []


def test_several_updates_of_one_instance_in_one_transaction_keep_the_last(store: Store) -> None:
    """Steps of one instance in one transaction (a batch): a read in between sees the last update, the
    update of a rolled-back savepoint is gone, and the commit stores the last one kept."""
    _create(store, "a", "b")
    with store.write() as tx:
        row = tx.get_instance("m", "a")
        assert row is not None
        for step in (1, 2):
            row.step = step
            tx.update_instance(row)
        again = tx.get_instance("m", "a")
        assert again is not None and again.step == 2 and again.revision == row.revision
        other = tx.get_instance("m", "b")
        assert other is not None
        other.status = "done"
        tx.update_instance(other)
        with pytest.raises(RuntimeError), tx.savepoint():
            again.step = 9
            tx.update_instance(again)
            assert tx.children("m", "a") == []  # a read of many instances inside
            raise RuntimeError("rolled back")
        assert [r.id for r in tx.list_instances("m", status="done")] == ["b"]
    with store.read() as tx:
        a, b = tx.get_instance("m", "a"), tx.get_instance("m", "b")
        assert a is not None and a.step == 2
        assert b is not None and b.status == "done"


def test_the_schema_is_at_the_newest_migration(store: Store, store_url: str) -> None:
    engine = "sqlite" if store_url.startswith("sqlite") else "postgres"
    assert store.schema_version() == migrations(engine)[-1][0]


def test_a_transaction_of_many_rows_writes_each_as_given_and_one_stale_row_refuses_them_all(
        open_connection: Opener) -> None:
    """A batch of hundreds of steps (more than one statement's worth of rows on SQLite, and row counts that
    are no power of two): every instance row, history record, index entry and queued event is stored as
    given, the history in the order it was appended; then one row among many changed by another
    connection refuses the whole transaction."""
    store, other = open_connection(), open_connection()
    ids = [f"i{n:03}" for n in range(300)]
    _create(store, *ids)
    before = store.last_position()
    with store.write() as tx:
        rows = tx.lock_instances([("m", id) for id in ids]).rows
        assert len(rows) == 300
        for n, row in enumerate(rows):
            number = int(row.id[1:])
            row.step, row.updated_at, row.snapshot_json = 1, 1_765_000_000.123456 + number, None
            row.snapshot = {"configuration": ["m", "s"], "context": {"n": number, "text": "é\"'" * number}}
            if number % 3 == 0:
                row.status = "done"  # the full update, beside the narrow one
            tx.update_instance(row)
            tx.set_index("m", row.id, ["m", "s"], ["t"] if number % 2 else [], before=((), ()))
            tx.append_history(HistoryRow("m", row.id, 1, 2.0 + n, "applied", {"name": "E", "data": {"n": n}},
                                         None, None, ["m"], ["m", "s"], {"set": {"n": number}}, []))
        for number in range(0, 300, 7):
            _enqueue(tx, ids[number], f"Q{number}", row=next(r for r in rows if r.id == ids[number]))
    with store.read() as tx:
        for number, id in enumerate(ids):
            found = tx.get_instance("m", id)
            assert found is not None
            assert (found.step, found.updated_at) == (1, 1_765_000_000.123456 + number)
            assert found.snapshot["context"] == {"n": number, "text": "é\"'" * number}
            assert found.status == ("done" if number % 3 == 0 else "active")
            assert found.queued == (1 if number % 7 == 0 else 0)
        assert len(tx.list_instances("m", state="s", limit=1000)) == 300
        assert [r.id for r in tx.list_instances("m", tag="t", limit=1000)] == ids[1::2]
    steps = [(c.machine, c.id, c.step) for c in store.changes(after=before, limit=1000)]
    assert steps == [("m", row.id, 1) for row in rows]  # in the order appended
    with other.write() as tx:
        theirs = _get(tx, "i150")
        theirs.step = 2
        tx.update_instance(theirs)
    snapshots = {id: _snapshot_of(store, id) for id in ids}
    with pytest.raises(StaleRowError), store.write() as tx:
        rows = tx.lock_instances([("m", id) for id in ids]).rows  # read again: the times exactly, too
        assert all(row.updated_at == 1_765_000_000.123456 + int(row.id[1:]) for row in rows if row.id != "i150")
        assert all(row.created_at == 1.0 and row.snapshot == snapshots[row.id] for row in rows)
        for row in rows:
            if row.id == "i150":
                row.revision -= 1  # as read before the other connection's write
            row.step = 9
            tx.update_instance(row)
        tx.flush()
    with store.read() as tx:
        assert {_step_of(tx, id) for id in ids} == {1, 2}
        assert _step_of(tx, "i150") == 2


def _step_of(tx: Any, id: str) -> int:
    return _step_row(tx, id).step


def _snapshot_of(store: Store, id: str) -> Any:
    with store.read() as tx:
        return _step_row(tx, id).snapshot


def _step_row(tx: Any, id: str) -> InstanceRow:
    row = tx.get_instance("m", id)
    assert row is not None
    return row  # type: ignore[no-any-return]


def test_instances_created_and_updated_in_one_transaction_are_stored_with_their_last_values(
        open_connection: Opener) -> None:
    """Many new instances, each updated twice in the transaction that inserts it (PostgreSQL sends a
    transaction's writes as one statement, which cannot update a row it inserts: it inserts the last
    values), with NULLs, exact floats and text beside updates of instances stored before; the revision
    then compares as any other: a later write at the revision read succeeds, one at an older fails."""
    store, other = open_connection(), open_connection()
    _create(store, "old")
    ids = [f"n{n:03}" for n in range(120)]
    with store.write() as tx:
        locked = tx.lock_instances([("m", "old")] + [("m", id) for id in ids])
        [old] = locked.rows
        for n, id in enumerate(ids):
            row = _row(id)
            row.parent_machine, row.parent_id, row.parent_invokeid = ("p", f"p{n}", "inv") if n % 2 else (None, None, None)
            row.created_at = row.updated_at = 1_765_000_000.000001 * (n + 1)
            tx.insert_instance(row)
            for step in (1, 2):
                row.step, row.updated_at, row.snapshot_json = step, row.updated_at + 0.25, None
                row.snapshot = {"configuration": ["m", f"s{step}"], "context": {"n": n, "t": "é\u2028\"" * n}}
                row.status = "done" if step == 2 and n % 3 == 0 else "active"
                tx.update_instance(row)
        old.step, old.snapshot_json = 4, None
        tx.update_instance(old)
    with store.read() as tx:
        for n, id in enumerate(ids):
            found = _step_row(tx, id)
            assert (found.step, found.status, found.created_at, found.updated_at) == (
                2, "done" if n % 3 == 0 else "active", 1_765_000_000.000001 * (n + 1),
                1_765_000_000.000001 * (n + 1) + 0.5)
            assert found.snapshot == {"configuration": ["m", "s2"], "context": {"n": n, "t": "é\u2028\"" * n}}
            assert (found.parent_machine, found.parent_id, found.parent_invokeid) == (
                ("p", f"p{n}", "inv") if n % 2 else (None, None, None))
        assert _step_of(tx, "old") == 4
    with other.read() as tx:
        stale = _step_row(tx, "n007")
    with store.write() as tx:
        mine = _step_row(tx, "n007")
        mine.step = 3
        tx.update_instance(mine)
    with pytest.raises(StaleRowError), other.write() as tx:
        stale.step = 9
        tx.update_instance(stale)
        tx.flush()
    with store.read() as tx:
        assert _step_of(tx, "n007") == 3


def test_a_name_taken_among_many_new_instances_refuses_the_whole_transaction(
        open_connection: Opener, store_url: str) -> None:
    """New instances whose names a transaction found free wait with its other writes; one name another
    connection takes meanwhile refuses all of them (the other writer won: the commands run again)."""
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time: no other can take the name meanwhile")
    store, other = open_connection(), open_connection()
    _create(store, "a")
    ids = [f"n{n:03}" for n in range(50)]
    with pytest.raises(StaleRowError), store.write() as tx:
        locked = tx.lock_instances([("m", "a")] + [("m", id) for id in ids])
        assert [r.id for r in locked.rows] == ["a"]
        for id in ids:
            tx.insert_instance(_row(id))
        a = locked.rows[0]
        a.step = 5
        tx.update_instance(a)
        _create(other, "n031")
        tx.flush()
    with store.read() as tx:
        assert [r.id for r in tx.list_instances("m", limit=100)] == ["a", "n031"]
        assert _step_of(tx, "a") == 0


def test_many_tasks_claimed_from_the_table_are_leased_exactly_and_a_removed_key_can_be_added_again(
        store: Store) -> None:
    """A claim that takes many tasks from the table leases each (PostgreSQL: the leases wait with the
    other task writes, one statement for all); a read of the tasks in the same transaction sees them
    leased; a task removed and a new one added under the same key in one transaction is the new one."""
    ids = [f"i{n:03}" for n in range(80)]
    _create(store, *ids)
    with store.write() as tx:
        for n, id in enumerate(ids):
            tx.add_task(TaskRow(f"m/{id}#0", "m", id, "i0", "charge", {"n": n},
                                {"lease_seconds": 0.1 * (n + 1)}), 1.0)
    with store.write() as tx:
        claimed = tx.claim_tasks(2.0, owner="one", services=["charge"], limit=500, lease_of=RetryPolicy.lease_of)
        assert sorted(t.key for t in claimed) == [f"m/{id}#0" for id in ids]
        assert [(t.status, t.attempt, t.lease_owner) for t in tx.tasks_of("m", "i005")] == [("running", 1, "one")]
        assert tx.claim_tasks(2.0, owner="two", services=["charge"], limit=5, lease_of=RetryPolicy.lease_of) == []
    with store.read() as tx:
        for n, id in enumerate(ids):
            [task] = tx.tasks_of("m", id)
            assert (task.status, task.attempt, task.lease_owner, task.lease_until, task.input) == (
                "running", 1, "one", 2.0 + 0.1 * (n + 1), {"n": n})
    with store.write() as tx:
        tx.lock_tasks([(f"m/{id}#0", "one", 1) for id in ids[:10]])
        for id in ids[:10]:
            assert tx.remove_owned_task(f"m/{id}#0", "one", 1)
            tx.add_task(TaskRow(f"m/{id}#0", "m", id, "i0", "charge", {"again": id}, {"lease_seconds": 1.0}), 3.0)
    with store.read() as tx:
        for id in ids[:10]:
            [task] = tx.tasks_of("m", id)
            assert (task.status, task.attempt, task.lease_owner, task.input) == ("pending", 0, None, {"again": id})


@pytest.mark.parametrize("block", ["write", "read"])
def test_closing_a_store_inside_its_own_transaction_is_refused_and_the_block_goes_on(
        store: Store, block: str) -> None:
    with store.write() as tx:
        tx.save_definition(DefinitionRow("m", "1", "yaml", "id: m", 1.0))
    opened = store.write() if block == "write" else store.read()
    with opened as tx:
        with pytest.raises(StorageError, match="inside one of its own transactions"):
            store.close()
        assert tx.get_definition("m", "1") is not None  # the connection is the block's still
    store.close()  # after the block: closes


def test_closing_an_app_inside_its_stores_transaction_is_refused_and_the_app_goes_on(store_url: str) -> None:
    from interlock import Interlock

    app = Interlock(store_url, worker=False)
    try:
        with app.runtime.store.read(), pytest.raises(StorageError, match="inside one of its own transactions"):
            app.close()
        assert app.list("nothing") is not None  # still open
    finally:
        app.close()


def test_a_transaction_ended_by_another_thread_counts_for_the_thread_that_began_it(store: Store) -> None:
    """A generator holding a read block, begun on this thread and closed by another while that one is
    inside a block of its own: afterwards this thread is in no transaction (it may close the store), and
    the other still is (it may not). Before, on PostgreSQL the block's end restored this thread's count on
    the other thread: it counted as outside its block, and this thread as inside one for good.
    SQLite's blocks hold their connection's lock, which only the thread that took it releases: a block is
    ended by the thread that began it there (not tested here)."""
    if type(store).__name__ == "SQLiteStore":
        pytest.skip("a SQLite block ends on the thread that began it")
    def rows() -> Iterator[int]:
        with store.read():
            yield 1

    held = rows()
    next(held)
    assert store.inside_transaction()
    seen: list[bool] = []

    def other() -> None:
        with store.write():
            held.close()
            seen.append(store.inside_transaction())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [True]
    assert not store.inside_transaction()
    store.close()
