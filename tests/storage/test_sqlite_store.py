"""The SQLite store: schema and migrations, named queries, durability settings, leases."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from interlock.errors import ConflictError, StorageError
from interlock.runtime.retry import RetryPolicy
from interlock.storage import open_store
from interlock.storage.queries import load_queries, migrations, parse_queries, split_statements
from interlock.storage.sqlite import SQLiteStore
from interlock.storage.store import HistoryRow, InstanceRow, TaskRow, TimerRow


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                        "AND name != 'sqlite_sequence' ORDER BY name").fetchall()
    return [(t, n, " ".join(s.split())) for t, n, s in rows]


def test_the_migrations_reproduce_schema_sql(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'm.db'}")
    store.close()
    migrated = sqlite3.connect(tmp_path / "m.db")
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    schema = Path(__file__).parents[2] / "src/interlock/storage/sql/sqlite/schema.sql"
    fresh.executescript(schema.read_text())
    assert _schema(migrated) == _schema(fresh)
    assert store.schema_version() == migrations("sqlite")[-1][0]


CLOSING_WHILE_READING = """
import sys, threading, time
from interlock.errors import StorageError
from interlock.storage.sqlite import SQLiteStore
store, stop = SQLiteStore("sqlite:///" + sys.argv[1]), threading.Event()
def reader():
    while not stop.is_set():
        try:
            with store.read() as tx:
                tx.changes(after=0, limit=100)
        except StorageError:  # its connection was closed between two statements: refused, not a crash
            pass
threads = [threading.Thread(target=reader) for _ in range(4)]
for thread in threads:
    thread.start()
for _ in range(300):
    time.sleep(0.001)
    store.close()
stop.set()
for thread in threads:
    thread.join()
print("closed 300 times")
"""


def test_closing_the_store_while_other_threads_read_does_not_crash_the_process(tmp_path: Path) -> None:
    """close() closed each thread's connection at once, also one running a statement in its thread:
    the process died (SIGSEGV; an app closed while a waiter read, in the suite). It waits for the
    statement now. Run in a process of its own, so the old crash fails this test, not the suite."""
    done = subprocess.run([sys.executable, "-c", CLOSING_WHILE_READING, str(tmp_path / "c.db")],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "closed 300 times"), done.stderr[-2000:]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_every_migration_file_has_a_number_of_its_own(engine: str) -> None:
    folder = Path(__file__).parents[2] / f"src/interlock/storage/sql/{engine}/migrations"
    numbers = sorted(int(path.name.split("_", 1)[0]) for path in folder.glob("*.sql"))
    assert len(numbers) == len(set(numbers)), f"two {engine} migrations share a number: {numbers}"
    assert [version for version, _ in migrations(engine)] == numbers


def test_reopening_does_not_migrate_again_and_newer_schemas_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    SQLiteStore(url).close()
    SQLiteStore(url).close()
    conn = sqlite3.connect(tmp_path / "v.db")
    conn.execute("UPDATE interlock_meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    with pytest.raises(StorageError, match="schema version 99, newer"):
        SQLiteStore(url)


def test_version_1_history_is_kept_by_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    for statement in split_statements(migrations("sqlite")[0][1]):
        conn.execute(statement)
    conn.execute("INSERT INTO interlock_meta VALUES ('schema_version', '1')")
    for step, key in ((1, None), (0, None), (2, "k")):
        conn.execute("INSERT INTO history VALUES ('m', 'a', ?, ?, 'applied', NULL, ?, NULL, '[]', '[]', "
                     "'{}', '[]', NULL)", (step, float(step), key))
    conn.commit()
    conn.close()
    store = SQLiteStore(f"sqlite:///{path}")
    assert store.schema_version() == migrations("sqlite")[-1][0]
    with store.read() as tx:
        assert [r.step for r in tx.history_page("m", "a", after=-1, limit=10)] == [0, 1, 2]
        found = tx.history_by_key("m", "a", "k")
        assert found is not None and found.step == 2
        assert tx.conn.execute("SELECT COUNT(*) FROM history_steps").fetchone()[0] == 3  # all indexed


def _record(tx: Any, machine: str, id: str, step: int, outcome: str = "applied") -> None:
    tx.append_history(HistoryRow(machine, id, step, float(step), outcome, {"name": "E"}, None, None, [], [],
                                 {}, []))


def test_history_pages_span_the_indexed_records_and_the_tail(tmp_path: Path) -> None:
    """History is indexed by instance in bulk (every 10 records or more here): pages must read across the mark."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'h.db'}", history_tail=10)
    for round in range(7):  # 2 instances, 3 steps each per transaction: the mark moves every 2 rounds
        with store.write() as tx:
            for step in range(round * 3, round * 3 + 3):
                _record(tx, "m", "a", step)
                _record(tx, "m", "b", step)
        with store.read() as tx:
            indexed = tx.conn.execute("SELECT COUNT(*) FROM history_steps").fetchone()[0]
            expected = list(range(round * 3 + 3))
            for after in range(-1, round * 3 + 3):
                for limit in (1, 2, 4, 100):
                    page = tx.history_page("m", "b", after=after, limit=limit)
                    assert [r.step for r in page] == expected[after + 1:after + 1 + limit], (after, limit)
                    assert all(r.id == "b" for r in page)
        assert indexed == (round + 1) // 2 * 12  # every second round crosses the mark


def test_a_step_recorded_twice_is_reported_when_history_is_indexed(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'd.db'}", history_tail=3)
    with store.write() as tx:
        _record(tx, "m", "a", 0, "started")
        _record(tx, "m", "a", 1)
        _record(tx, "m", "a", 1, "ignored")  # what the writer never does
    assert "hold 1 step(s) recorded twice" in caplog.text
    with store.read() as tx:
        assert [(r.step, r.outcome) for r in tx.history_page("m", "a", after=-1, limit=10)] == [
            (0, "started"), (1, "applied")]
    with store.write() as tx:  # the store goes on
        _record(tx, "m", "a", 2)


def test_wal_and_the_synchronous_setting(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 's.db'}")
    with store.read() as tx:
        assert tx.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert tx.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with pytest.raises(StorageError, match="synchronous must be one of"):
        SQLiteStore(f"sqlite:///{tmp_path / 's.db'}", synchronous="SOMETIMES")


def test_opening_a_new_file_another_connection_is_writing_waits_for_it(tmp_path: Path) -> None:
    """On a new file ``PRAGMA journal_mode = WAL`` must write, and while another connection writes SQLite
    answers SQLITE_BUSY at once, its busy handler not called: two processes opening a new database at
    once failed now and then ("stayed locked ... longer than the busy timeout", at once). The store
    tries again within its busy timeout."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE theirs (x)")
    opened: list[object] = []

    def open_store() -> None:
        try:
            SQLiteStore(f"sqlite:///{path}").close()
            opened.append("opened")
        except StorageError as exc:
            opened.append(exc)

    opener = threading.Thread(target=open_store)
    opener.start()
    time.sleep(0.3)  # the opener meets the other connection's write (the old code failed within this)
    other.execute("COMMIT")
    opener.join()
    other.close()
    assert opened == ["opened"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_urls_are_checked() -> None:
    with pytest.raises(StorageError, match="in-memory"):
        open_store("sqlite:///:memory:")
    with pytest.raises(StorageError, match="unsupported store URL"):
        open_store("mysql://db")
    with pytest.raises(StorageError, match=r"'orders.db' is not a store URL; for a SQLite file write 'sqlite:///orders.db'"):
        open_store("orders.db")


def test_every_query_is_named_and_parses(tmp_path: Path) -> None:
    queries = load_queries("sqlite")
    assert {"get_instance", "append_history_rows", "claimable_tasks"} <= set(queries)
    conn = sqlite3.connect(tmp_path / "q.db")
    for _, script in migrations("sqlite"):
        for statement in split_statements(script):
            conn.execute(statement)
    for name, sql in queries.items():
        if "{rows}" in sql:  # many rows in one statement (sqlite_pending.write_rows): three rows here
            width = max(int(n) for n in re.findall(r"column(\d+)", sql))
            sql = sql.replace("{rows}", ", ".join(["(" + ", ".join("?" * width) + ")"] * 3))
        # raises on a syntax error; hot queries take positional parameters
        params = (None,) * sql.count("?") if "?" in sql else {k: None for k in _params(sql)}
        conn.execute(f"EXPLAIN {sql}", params)
        assert sql.endswith(";"), name
    with pytest.raises(StorageError, match="defined twice"):
        parse_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def _params(sql: str) -> set[str]:
    return set(re.findall(r":([a-z_]+)", sql))


def _row(id: str) -> InstanceRow:
    return InstanceRow("m", id, "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}},
                       created_at=1.0, updated_at=1.0)


def test_instances_are_unique_and_savepoints_roll_back_alone(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'i.db'}")
    with store.write() as tx:
        tx.insert_instance(_row("a"))
        with pytest.raises(ConflictError):
            tx.insert_instance(_row("a"))
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.insert_instance(_row("b"))
            raise RuntimeError("undo b")
    with store.read() as tx:
        assert tx.get_instance("m", "a") is not None
        assert tx.get_instance("m", "b") is None


def test_a_new_instance_found_missing_is_inserted_with_its_last_values_in_one_statement(tmp_path: Path) -> None:
    """A create reads the name first (lock_instances): found free, the row waits and is inserted at the
    flush with the values of the step that followed, at the revision that update makes (one INSERT, no
    UPDATE). Reads in the transaction see it; a second insert of the name, or one inside a savepoint that
    rolls back, behave as if it had been inserted at once."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'n.db'}")
    statements: list[str] = []
    with store.write() as tx:
        assert tx.lock_instances([("m", "a"), ("m", "b"), ("m", "c")]).rows == []
        tx.conn.set_trace_callback(statements.append)
        row = _row("a")
        tx.insert_instance(row)
        assert tx.get_instance("m", "a") is row
        assert [r.id for r in tx.lock_instances([("m", "a")]).rows] == ["a"]
        row.step, row.snapshot_json = 1, '{"configuration":["m","s1"],"context":{}}'
        tx.update_instance(row)
        with pytest.raises(ConflictError):
            tx.insert_instance(_row("a"))
        tx.insert_instance(_row("b"))  # not updated: inserted at revision 0
        assert [r.id for r in tx.list_instances("m")] == ["a", "b"]  # a query writes what waits first
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.insert_instance(_row("c"))
            raise RuntimeError("undo c")
        assert tx.get_instance("m", "c") is None
    tx.conn.set_trace_callback(None)
    assert not [s for s in statements if s.startswith("UPDATE")], statements
    assert row.revision == 1
    with store.read() as tx:
        a, b = tx.get_instance("m", "a"), tx.get_instance("m", "b")
        assert a is not None and (a.step, a.revision, a.snapshot["configuration"]) == (1, 1, ["m", "s1"])
        assert b is not None and (b.step, b.revision) == (0, 0)
        assert tx.get_instance("m", "c") is None
    with store.write() as tx:  # the revision the row holds is the one stored: its next update lands
        row.step = 2
        tx.update_instance(row)
    with store.read() as tx:
        a = tx.get_instance("m", "a")
        assert a is not None and (a.step, a.revision) == (2, 2)
    store.close()


def test_updates_write_every_changed_column_across_transactions(tmp_path: Path) -> None:
    """A row kept between transactions (as the writer's cache does) is written narrowly while only its
    step changes, and whole when status, paused or queued change (each one on its own)."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'u.db'}")
    row = _row("a")
    with store.write() as tx:
        tx.insert_instance(row)
    changes: list[dict[str, object]] = [{}, {"paused": True}, {}, {"queued": 2}, {"paused": False},
                                        {"queued": 0}, {"status": "done"}, {}]
    for number, change in enumerate(changes, start=1):
        with store.write() as tx:
            for name, value in change.items():
                setattr(row, name, value)
            row.step, row.updated_at = number, float(number)
            row.snapshot = {"configuration": ["m", f"s{number}"], "context": {}}
            row.snapshot_json = None
            tx.update_instance(row)
        with store.read() as tx:
            stored = tx.get_instance("m", "a")
        assert stored is not None
        assert (stored.status, stored.paused, stored.queued, stored.step, stored.updated_at) == (
            row.status, row.paused, row.queued, number, float(number)), change
        assert stored.snapshot["configuration"] == ["m", f"s{number}"]


LEASE = RetryPolicy.lease_of


def test_a_claim_takes_free_or_expired_tasks_only(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 't.db'}")
    with store.write() as tx:
        tx.insert_instance(_row("a"))
        tx.add_task(TaskRow("m/a#k1", "m", "a", "inv", "svc", {}, {"lease": 10}), now=0.0)
        tx.add_task(TaskRow("m/a#k2", "m", "a", "inv", "other", {}, {"lease": 10}), now=0.0)
    with store.write() as tx:
        [task] = tx.claim_tasks(1.0, owner="w1", services=["svc"], limit=10, lease_of=LEASE)
        assert (task.key, task.attempt, task.lease_until) == ("m/a#k1", 1, 11.0)
        assert tx.claim_tasks(5.0, owner="w2", services=["svc"], limit=10, lease_of=LEASE) == []
        [again] = tx.claim_tasks(11.0, owner="w2", services=["svc"], limit=10, lease_of=LEASE)
        assert (again.attempt, again.lease_owner) == (2, "w2")
        assert tx.owned_task("m/a#k1", "w1", 1) is None  # w1's late result is stale
        assert not tx.extend_lease("m/a#k1", "w1", 1, 99.0)
        assert tx.extend_lease("m/a#k1", "w2", 2, 99.0)
        assert not tx.remove_owned_task("m/a#k1", "w1", 1)  # a stale result removes nothing
        assert tx.owned_task("m/a#k1", "w2", 2) is not None
        assert tx.remove_owned_task("m/a#k1", "w2", 2)
        assert tx.owned_task("m/a#k1", "w2", 2) is None


def _index_rows(path: Path) -> set[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        return {(k, v, i) for k, v, i in conn.execute("SELECT kind, value, id FROM instance_index")}


def test_index_moves_swap_add_and_drop_states_and_tags(tmp_path: Path) -> None:
    """A step's index change is written as a diff (deletes and inserts of single entries); what is
    stored must be exactly the new states and tags, also when several moves meet in one transaction."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'x.db'}")
    steps: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
        (("a",), ("t1",)),
        (("b",), ("t1",)),  # one state for another
        (("p", "c1", "c2"), ()),  # one state for three, a tag gone
        (("p", "c3"), ("t2", "t3")),  # two states for one, tags back
        (("d",), ("t3",)),
    ]
    before: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    two = before
    for n, (states, tags) in enumerate(steps):
        with store.write() as tx:
            tx.set_index("m", "one", states, tags, before=before)
            if n % 2:  # "two" moves twice in one transaction: through a state of its own, then here
                tx.set_index("m", "two", ("z",), ("tz",), before=two)
                tx.set_index("m", "two", states, tags, before=(("z",), ("tz",)))
                two = (states, tags)
        want = {("state", s, "one") for s in states} | {("tag", t, "one") for t in tags}
        want |= {("state", s, "two") for s in two[0]} | {("tag", t, "two") for t in two[1]}
        assert _index_rows(tmp_path / "x.db") == want
        before = (states, tags)
    store.close()


def test_one_index_move_alone_is_one_update_and_a_missing_entry_is_still_added(tmp_path: Path) -> None:
    """The common step (one state for another, one instance in the transaction) moves its index entry in
    one UPDATE; if that entry is not stored, the new one is inserted all the same, as the DELETE and
    INSERT would."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'x.db'}")
    with store.write() as tx:
        tx.set_index("m", "one", ("a",), ("t",), before=((), ()))
    statements: list[str] = []
    with store.write() as tx:
        tx.conn.set_trace_callback(statements.append)
        tx.set_index("m", "one", ("b",), ("t",), before=(("a",), ("t",)))
    tx.conn.set_trace_callback(None)
    assert [s.split()[0] for s in statements] == ["UPDATE", "COMMIT"], statements
    assert _index_rows(tmp_path / "x.db") == {("state", "b", "one"), ("tag", "t", "one")}
    with store.write() as tx:  # told it was in "x", which is not stored
        tx.set_index("m", "one", ("c",), ("t",), before=(("x",), ("t",)))
    assert _index_rows(tmp_path / "x.db") == {("state", "b", "one"), ("state", "c", "one"), ("tag", "t", "one")}
    with store.write() as tx:  # a tag for a state: not one move of one kind
        tx.set_index("m", "one", ("b",), ("t", "u"), before=(("b", "c"), ("t",)))
    assert _index_rows(tmp_path / "x.db") == {("state", "b", "one"), ("tag", "t", "one"), ("tag", "u", "one")}
    store.close()


def _timer(key: str, due_at: float, id: str = "a") -> TimerRow:
    return TimerRow(key, "m", id, key, None, {"name": "T", "data": {"key": key}}, due_at)


def test_timers_due_at_the_same_time_come_in_the_order_they_were_added(tmp_path: Path) -> None:
    """Not in the order of their keys' text: the store does not read the keys."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 't.db'}")
    with store.write() as tx:
        for key in ("z", "m/a#1.2", "m/a#1.10", "b"):
            tx.add_timer(_timer(key, 5.0))
        tx.add_timer(_timer("early", 4.0))
    with store.write() as tx:
        tx.add_timer(_timer("a", 5.0))  # a later transaction: after those stored
        with pytest.raises(sqlite3.IntegrityError):
            tx.add_timer(_timer("b", 6.0))  # keys stay unique
    with store.write() as tx:
        first = tx.take_due_timers(5.0, 3)
        assert [t.key for t in first] == ["early", "z", "m/a#1.2"]
        assert first[1] == _timer("z", 5.0)
        assert tx.take_due_timers(5.0, 0) == []
        tx.add_timer(_timer("c", 5.0))
        assert tx.next_wakeup() == 5.0
        tx.cancel_timers("m", "a", "b")
        assert "b" not in [t.key for t in tx.timers_of("m", "a")]
        assert [t.key for t in tx.take_due_timers(4.5, 10)] == []
        assert [t.key for t in tx.take_due_timers(9.0, 10)] == ["m/a#1.10", "a", "c"]
        assert tx.take_due_timers(9.0, 10) == []  # taken: gone


def test_version_2_timers_are_numbered_by_due_time_then_owner_step_and_index(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for _, script in migrations("sqlite")[:2]:
        for statement in split_statements(script):
            conn.execute(statement)
    conn.execute("INSERT INTO interlock_meta VALUES ('schema_version', '2')")
    keys = ["m/a#1.10", "m/a#1.2", "m/a#10.0", "m/a#2.1", "m/a#2.0", "m/b#1.0", "x#inline-1f/a#1.3",
            "x#inline-1f/a#1.11", "not a key"]
    for key in keys:
        conn.execute("INSERT INTO timers VALUES (?, 'm', 'a', ?, NULL, '{\"name\": \"T\"}', 5.0)", (key, key))
    conn.execute("INSERT INTO timers VALUES ('m/a#0.0', 'm', 'a', 's', 't', '{\"name\": \"T\"}', 6.0)")
    conn.commit()
    conn.close()
    store = SQLiteStore(f"sqlite:///{path}")
    assert store.schema_version() == migrations("sqlite")[-1][0]
    with store.write() as tx:
        tx.add_timer(_timer("m/a#11.0", 5.0))
        taken = tx.take_due_timers(6.0, 20)
        assert [t.key for t in taken] == [
            "m/a#1.2", "m/a#1.10", "m/a#2.0", "m/a#2.1", "m/a#10.0", "m/b#1.0", "not a key",
            "x#inline-1f/a#1.3", "x#inline-1f/a#1.11", "m/a#11.0", "m/a#0.0"]
        assert (taken[-1].sendid, taken[-1].target, taken[-1].event) == ("s", "t", {"name": "T"})
        tx.cancel_timers("m", "a", None)
        assert tx.timers_of("m", "a") == []


def test_version_2_tasks_get_the_lease_a_claim_grants_now(tmp_path: Path) -> None:
    """Heartbeat tasks were leased for one interval; now a claim grants two (RetryPolicy.lease_seconds)."""
    path = tmp_path / "v2t.db"
    conn = sqlite3.connect(path)
    for _, script in migrations("sqlite")[:2]:
        for statement in split_statements(script):
            conn.execute(statement)
    conn.execute("INSERT INTO interlock_meta VALUES ('schema_version', '2')")
    for key, policy in (("m/a#0.0", '{"heartbeat": 5, "lease": 5}'), ("m/a#0.1", '{"lease": 30}'),
                        ("m/a#0.2", "{}")):
        conn.execute("INSERT INTO tasks (key, machine, id, invokeid, service, input, policy, status, "
                     "available_at, created_at) VALUES (?, 'm', 'a', 'i', 's', '{}', ?, 'pending', 0, 0)",
                     (key, policy))
    conn.commit()
    conn.close()
    store = SQLiteStore(f"sqlite:///{path}")
    with store.write() as tx:
        claimed = tx.claim_tasks(100.0, owner="w", services=["s"], limit=5,
                                 lease_of=RetryPolicy.lease_of)
        assert {t.key: t.lease_until for t in claimed} == {"m/a#0.0": 110.0, "m/a#0.1": 130.0,
                                                           "m/a#0.2": 160.0}


def _plan(conn: sqlite3.Connection, sql: str, params: dict[str, Any]) -> str:
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


def test_the_timer_and_list_queries_are_served_by_indexes(tmp_path: Path) -> None:
    """No scan of a table and no sort: the order the queries ask for is the order of an index."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'p.db'}")
    queries = load_queries("sqlite")
    listing = {"machine": "m", "kind": "state", "value": "s", "after": "", "status": "active", "limit": 5}
    with store.read() as tx:
        for name, params in (("take_due_timers", {"now": 1.0, "limit": 5}), ("next_timer", {}),
                             ("list_by_index_and_status", listing),
                             ("list_by_index", listing), ("list_by_status", listing)):
            plan = _plan(tx.conn, queries[name], params)
            assert "SCAN" not in plan and "TEMP B-TREE" not in plan, (name, plan)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts open files through /proc (Linux)")
def test_a_thread_that_ends_leaves_no_connection_open(tmp_path: Path) -> None:
    import gc
    import os
    import threading

    store = SQLiteStore(f"sqlite:///{tmp_path / 't.db'}")

    def read() -> None:
        with store.read() as tx:
            tx.meta_int("schema_version")

    read()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(1_000):  # a thread per request, as a threaded server does
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    gc.collect()  # what the collector would do in a long-running server anyway
    # each thread's connection is closed (SQLite keeps a few descriptors to reuse: not one per thread)
    assert len(os.listdir("/proc/self/fd")) - before < 100
    store.close()


def test_a_write_transaction_makes_as_many_statements_for_two_hundred_steps_as_for_three(tmp_path: Path) -> None:
    """Each statement is a call into SQLite, and each call lets the GIL go: with the server's event loop
    busy, the writer waits up to a switch interval to get it back, while holding the file. So the rows of a
    batch go out in a fixed number of statements, not one per row."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 's.db'}")
    ids = [f"i{n}" for n in range(200)]
    with store.write() as tx:
        _instances(tx, ids)
    counts = []
    for size in (3, 200):
        statements: list[str] = []
        with store.write() as tx:
            tx.conn.set_trace_callback(statements.append)
            for row in tx.lock_instances([("m", id) for id in ids[:size]]).rows:
                row.step += 1
                tx.update_instance(row)
                tx.set_index("m", row.id, ["m", f"s{row.step}"], [], before=(["m", f"s{row.step - 1}"], []))
                tx.append_history(HistoryRow("m", row.id, row.step, 2.0, "applied", {"name": "E"}, None, None,
                                             ["m"], ["m"], {}, []))
        tx.conn.set_trace_callback(None)
        counts.append(len(statements))
    assert counts[0] == counts[1] < 12, counts
    with store.read() as tx:
        assert [r.id for r in tx.list_instances("m", state="s1", limit=500)] == sorted(ids[3:])
        assert [r.id for r in tx.list_instances("m", state="s2", limit=500)] == sorted(ids[:3])


def test_a_batch_of_task_results_makes_as_many_statements_for_two_hundred_as_for_three(tmp_path: Path) -> None:
    """A workflow's step in the writer: the task's result removes it, the step adds the next task, the
    same command claims it, an instance that ended has its timers cancelled. Those writes wait and go out
    a statement per kind (task_buffer.py), not one per row."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 't.db'}")
    ids = [f"i{n}" for n in range(203)]
    with store.write() as tx:
        _instances(tx, ids)
        for id in ids:
            tx.add_task(TaskRow(f"m/{id}#0", "m", id, "inv", "svc", {}, {"lease_seconds": 30}), 1.0)
            tx.add_timer(TimerRow(f"{id}/timer", "m", id, "send", None, {"name": "T"}, 9e9))
        assert len(tx.claim_tasks(1.0, owner="w", services=["svc"], limit=500, lease_of=lambda _: 30.0)) == 203
    counts = []
    for batch in (ids[:3], ids[3:]):
        statements: list[str] = []
        with store.write() as tx:
            tx.conn.set_trace_callback(statements.append)
            tx.lock_instances([("m", id) for id in batch], [(f"m/{id}#0", "w", 1) for id in batch])
            for id in batch:
                assert tx.remove_owned_task(f"m/{id}#0", "w", 1)
                tx.add_task(TaskRow(f"m/{id}#1", "m", id, "inv", "svc", {}, {"lease_seconds": 30}), 2.0)
                assert [t.key for t in tx.claim_tasks(2.0, owner="w", services=["svc"], limit=1,
                                                      lease_of=lambda _: 30.0)] == [f"m/{id}#1"]
                tx.cancel_timers("m", id, None)
        tx.conn.set_trace_callback(None)
        counts.append(len(statements))
    assert counts[0] == counts[1] < 10, counts
    with store.read() as tx:
        assert all([(t.key, t.status) for t in tx.tasks_of("m", id)] == [(f"m/{id}#1", "running")] for id in ids)
        assert all(tx.timers_of("m", id) == [] for id in ids)


def _instances(tx: Any, ids: list[str]) -> None:
    for id in ids:
        tx.insert_instance(InstanceRow("m", id, "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}},
                                       created_at=1.0, updated_at=1.0))


def test_the_history_index_is_looked_at_once_per_eighth_of_its_tail(tmp_path: Path) -> None:
    """Whether the history is due for indexing costs a statement: a store asks once per
    ``history_tail / 8`` records it appended, and the index still catches up (readers see every record
    either way)."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'h.db'}", history_tail=64)  # looks every 8 records
    asked: list[str] = []
    for step in range(70):
        with store.write() as tx:
            if step == 0:
                tx.conn.set_trace_callback(lambda sql: asked.append(sql) if "history_indexed" in sql else None)
            _record(tx, "m", "a", step)
    with store.read() as tx:
        tx.conn.set_trace_callback(None)
        indexed = tx.conn.execute("SELECT COUNT(*) FROM history_steps").fetchone()[0]
        assert [r.step for r in tx.history_page("m", "a", after=-1, limit=100)] == list(range(70))
    looks = [sql for sql in asked if sql.lstrip().upper().startswith("SELECT")]
    assert len(looks) == 70 // 8  # after the 8th, 16th, ... 64th record: not one per transaction
    assert indexed == 64  # the look after the 64th record found the tail full and indexed it
    store.close()
