"""The PostgreSQL store beyond the shared contract: its migrations, a lost connection, its wake-up."""

from __future__ import annotations

import math
import tempfile
import threading
import time

import psycopg
import pytest

from interlock.errors import StorageError
from interlock.storage.postgres import PostgresStore
from interlock.storage.queries import migrations
from interlock.storage.store import (
    HistoryRow,
    InstanceRow,
    Locked,
    StaleRowError,
    TaskRow,
    TimerRow,
)
from tests.postgres_support import fresh_database

CATALOG = """
SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
       || COALESCE(column_default, '') || ' ' || COALESCE(collation_name, '')
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'index', indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'options', relname || ' ' || array_to_string(reloptions, ',')
FROM pg_class WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL
ORDER BY 1, 2
"""


def _catalog(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return [(kind, text) for kind, text in conn.execute(CATALOG.encode()).fetchall()]


def test_the_migrations_reproduce_schema_sql() -> None:
    from importlib import resources

    schema = resources.files("interlock.storage").joinpath("sql/postgres/schema.sql").read_text()
    with fresh_database() as migrated_url, fresh_database() as fresh_url:
        store = PostgresStore(migrated_url)
        assert store.schema_version() == migrations("postgres")[-1][0]
        store.close()
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            conn.execute(schema.encode())
        assert _catalog(migrated_url) == _catalog(fresh_url)
        assert len(_catalog(fresh_url)) > 50
        # version 9: the instances' pages keep room for their rows' updates (HOT updates), and the status
        # index is led by the status (never a candidate for a key)
        assert ("options", "instances fillfactor=70") in _catalog(migrated_url)
        assert ("index", "CREATE INDEX instances_by_status ON public.instances USING btree (status, machine, id)") \
            in _catalog(migrated_url)


def test_opening_again_does_not_migrate_again_and_a_newer_schema_is_refused() -> None:
    with fresh_database() as url:
        PostgresStore(url).close()
        PostgresStore(url).close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(b"UPDATE interlock_meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(StorageError, match="schema version 99, newer"):
            PostgresStore(url)


def test_a_connection_lost_mid_transaction_keeps_nothing_and_the_next_write_reconnects() -> None:
    row = InstanceRow("m", "a", "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}})
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with pytest.raises(StorageError, match="connection to PostgreSQL failed"), store.write() as tx:
                tx.insert_instance(row)
                tx.append_history(HistoryRow("m", "a", 0, 1.0, "started", None, None, None, [], ["m"], {}, []))
                pid = tx.conn.info.backend_pid
                with psycopg.connect(url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                tx.get_instance("m", "a")
            with store.read() as tx:
                assert tx.get_instance("m", "a") is None
            assert store.changes(after=0, limit=10) == []
            with store.write() as tx:  # a fresh connection from the pool
                tx.insert_instance(row)
            with store.read() as tx:
                assert tx.get_instance("m", "a") is not None
        finally:
            store.close()


def test_a_commit_that_records_steps_wakes_a_waiting_reader() -> None:
    with fresh_database() as url:
        reader, writer = PostgresStore(url), PostgresStore(url)
        try:
            reader.wait_for_changes(0.01)  # listening from here on
            woke: list[float] = []
            thread = threading.Thread(target=lambda: (reader.wait_for_changes(30.0),
                                                      woke.append(time.monotonic())))
            thread.start()
            time.sleep(0.2)
            committed = time.monotonic()
            with writer.write() as tx:
                tx.insert_instance(InstanceRow("m", "a", "1", "active", False, 0, 0,
                                               {"configuration": ["m"], "context": {}}))
                tx.append_history(HistoryRow("m", "a", 0, 1.0, "started", None, None, None, [], ["m"], {}, []))
            thread.join(10.0)
            assert not thread.is_alive()  # woken by the commit, not by its 30 s timeout
            assert woke and woke[0] >= committed
        finally:
            reader.close()
            writer.close()


PER_INSTANCE = ("instances", "instance_index", "history", "inbox", "timers", "tasks")


def test_every_per_instance_table_is_keyed_by_its_instance() -> None:
    """What distributing the tables by instance (Citus, docs/deployment.md) needs: every primary key and
    unique index of a per-instance table holds ``machine`` and ``id``."""
    with fresh_database() as url:
        PostgresStore(url).close()
        with psycopg.connect(url) as conn:
            rows = conn.execute(b"""
                SELECT c.relname, i.indexrelid::regclass::text,
                       array(SELECT a.attname::text FROM pg_attribute a
                             WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
                FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                WHERE i.indisunique AND c.relnamespace = 'public'::regnamespace""").fetchall()
    keyed = {table for table, _, _ in rows}
    assert set(PER_INSTANCE) <= keyed
    for table, index, columns in rows:
        if table in PER_INSTANCE:
            assert {"machine", "id"} <= set(columns), (table, index, columns)


def test_rows_another_transaction_holds_are_skipped_and_named_not_waited_for() -> None:
    with fresh_database() as url:
        first, second = PostgresStore(url), PostgresStore(url)
        try:
            with first.write() as tx:
                for id in ("a", "b"):
                    tx.insert_instance(InstanceRow("m", id, "1", "active", False, 0, 0,
                                                   {"configuration": ["m"], "context": {}}))
            with first.write() as mine:
                assert [r.id for r in mine.lock_instances([("m", "a")]).rows] == ["a"]
                with second.write() as theirs:  # SKIP LOCKED: waiting here would hang this thread
                    locked = theirs.lock_instances([("m", "a"), ("m", "b"), ("m", "nope")])
                assert [r.id for r in locked.rows] == ["b"]
                assert locked.held == [("m", "a")]
            with second.write() as tx:  # released with the first's commit
                assert [r.id for r in tx.lock_instances([("m", "a")]).rows] == ["a"]
        finally:
            first.close()
            second.close()


def test_a_name_found_free_then_taken_by_another_writer_fails_the_transaction_as_a_lost_race() -> None:
    row = InstanceRow("m", "x", "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}})
    with fresh_database() as url:
        first, second = PostgresStore(url), PostgresStore(url)
        try:
            with pytest.raises(StaleRowError), first.write() as mine:
                assert mine.lock_instances([("m", "x")]) == Locked([], [])
                mine.insert_instance(row)  # waits for the commit: the name was free
                with second.write() as theirs:
                    theirs.insert_instance(row)
            with first.write() as tx:  # nothing of the lost transaction was kept; the row is theirs
                assert tx.lock_instances([("m", "x")]).rows[0].revision == 0
        finally:
            first.close()
            second.close()


def test_a_commit_of_a_transaction_in_which_a_statement_failed_is_refused_not_reported_done() -> None:
    """PostgreSQL answers COMMIT of a failed transaction with ROLLBACK (and an OK status): the store
    says so instead of returning as if the writes were kept."""
    row = InstanceRow("m", "x", "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}})
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with pytest.raises(StorageError, match="rolled it back at COMMIT"), store.write() as tx:
                tx.insert_instance(row)
                tx.flush()
                with pytest.raises(psycopg.errors.DivisionByZero):  # a caller that catches a failure
                    tx.conn.execute(b"SELECT 1/0")
            with store.read() as tx:
                assert tx.get_instance("m", "x") is None
            with store.write() as tx:  # the connection went back clean
                tx.insert_instance(row)
            with store.read() as tx:
                assert tx.get_instance("m", "x") is not None
        finally:
            store.close()


def test_a_commit_of_recorded_steps_takes_the_notify_along_in_its_message() -> None:
    """The NOTIFY that wakes readers of the feed goes in the COMMIT's message (one round trip, not two),
    seen in libpq's trace of what the client sent; a reader is still woken (test above)."""
    row = InstanceRow("m", "a", "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}})
    with fresh_database() as url, tempfile.TemporaryFile("w+") as trace:
        store = PostgresStore(url)
        try:
            with store.write() as tx:
                tx.insert_instance(row)
                tx.append_history(HistoryRow("m", "a", 0, 1.0, "started", None, None, None, [], ["m"], {}, []))
                pgconn = tx.conn.pgconn
                pgconn.trace(trace.fileno())
            pgconn.untrace()
        finally:
            store.close()
        trace.seek(0)
        sent = [line for line in trace.read().splitlines() if "\tF\t" in line and "\tQuery\t" in line]
    assert len(sent) == 1 and '"COMMIT;SELECT pg_notify(' in sent[0], sent


def test_the_statement_after_commit_in_its_message_runs_in_a_transaction_of_its_own() -> None:
    """postgres_tx.commit: the NOTIFY is never inside the step's transaction (it would hold PostgreSQL's
    notification lock through that commit's flush); both transactions are committed."""
    from interlock.storage import postgres_tx

    with fresh_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"CREATE TABLE xacts (x xid8)")
        postgres_tx.command(conn, b"BEGIN")
        conn.execute(b"INSERT INTO xacts SELECT pg_current_xact_id()")
        postgres_tx.commit(conn, b"INSERT INTO xacts SELECT pg_current_xact_id()")
        assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute(b"SELECT count(DISTINCT x) FROM xacts").fetchone() == (2,)


def test_a_connection_lost_before_a_commit_with_its_notify_is_an_outcome_unknown_error() -> None:
    from interlock.storage import postgres_tx

    with fresh_database() as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"CREATE TABLE kept (x int)")
        postgres_tx.command(conn, b"BEGIN")
        conn.execute(b"INSERT INTO kept VALUES (1)")
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (conn.info.backend_pid,))
            with pytest.raises(psycopg.OperationalError) as caught:
                postgres_tx.commit(conn, postgres_tx.notify_text("ab"))
            assert "outcome is unknown" in str(postgres_tx.translate(caught.value, "committing"))
            assert admin.execute(b"SELECT count(*) FROM kept").fetchone() == (0,)


def test_a_failed_transaction_of_recorded_steps_is_refused_at_commit_and_records_nothing() -> None:
    """As above, through the COMMIT that takes the NOTIFY along (postgres_tx.commit)."""
    row = InstanceRow("m", "x", "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}})
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with pytest.raises(StorageError, match="rolled it back at COMMIT"), store.write() as tx:
                tx.insert_instance(row)
                tx.append_history(HistoryRow("m", "x", 0, 1.0, "started", None, None, None, [], ["m"], {}, []))
                tx.flush()
                with pytest.raises(psycopg.errors.DivisionByZero):
                    tx.conn.execute(b"SELECT 1/0")
            assert store.changes(after=0, limit=10) == []
            with store.read() as tx:
                assert tx.get_instance("m", "x") is None
        finally:
            store.close()


@pytest.mark.parametrize("check_after_idle", [0.0, math.inf], ids=["checked-at-checkout", "found-by-begin"])
def test_a_connection_that_died_while_idle_in_the_pool_is_replaced_before_use(
        monkeypatch: pytest.MonkeyPatch, check_after_idle: float) -> None:
    """Found by the checkout check (idle long enough), or, returned too recently to be checked, by the
    BEGIN of the next transaction: either way that transaction runs on a fresh connection, no error.
    Every connection of the pool dead at once (a server restart) is the same, once per connection."""
    from interlock.storage import postgres

    monkeypatch.setattr(postgres, "CHECK_AFTER_IDLE", check_after_idle)
    row = InstanceRow("m", "a", "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}})
    with fresh_database() as url:
        store = PostgresStore(url, pool_size=3)
        try:
            with store.read() as one, store.read() as two, store.read() as three:  # the pool holds three
                pids = {tx.conn.info.backend_pid for tx in (one, two, three)}
            with psycopg.connect(url, autocommit=True) as admin:
                killed = admin.execute("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                                       "WHERE pid = ANY(%s)", (list(pids),)).fetchone()
            assert killed == (3,)
            with store.write() as tx:  # found dead: a fresh connection, no error
                assert tx.conn.info.backend_pid not in pids
                tx.insert_instance(row)
            with store.read() as tx:
                assert tx.get_instance("m", "a") is not None
        finally:
            store.close()


def test_a_transactions_inserts_go_as_json_and_come_back_exactly_in_their_order() -> None:
    """Each kind of insert is one statement with its rows as JSON (postgres_tx.rows_json): quotes,
    backslashes, non-ASCII text and floats come back as written, and history keeps the order the steps
    were recorded in (the feed numbers them by it)."""
    odd = 'q"uote \\ back\\slash é 中 🙂 \n tab\t'
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with store.write() as tx:
                for i in range(30):
                    tx.insert_instance(InstanceRow("m", f"{odd}{i}", "1", "active", False, 0, 0,
                                                   {"configuration": ["m"], "context": {"s": odd, "x": 0.1 + 0.2}}))
                for step in range(3):
                    for i in (29, 0, 7):
                        tx.append_history(HistoryRow("m", f"{odd}{i}", step, 1733.1 + 0.2 * step, "applied",
                                                     {"name": odd}, f"k{step}{i}", odd, ["m"], ["m"],
                                                     {"set": {"s": odd}}, [], None))
            with store.read() as tx:
                row = tx.get_instance("m", f"{odd}7")
                assert row is not None and row.snapshot["context"] == {"s": odd, "x": 0.1 + 0.2}
                page = tx.history_page("m", f"{odd}0", after=-1, limit=10)
                assert [(r.step, r.at, r.event, r.cause) for r in page] == [
                    (s, 1733.1 + 0.2 * s, {"name": odd}, odd) for s in range(3)]
            assert [(c.id, c.step) for c in store.changes(after=0, limit=100)] == [
                (f"{odd}{i}", step) for step in range(3) for i in (29, 0, 7)]
            with pytest.raises(StorageError, match="NUL"), store.write() as tx:
                tx.insert_instance(InstanceRow("m", "nul\x00", "1", "active", False, 0, 0,
                                               {"configuration": ["m"], "context": {}}))
        finally:
            store.close()


def test_a_lease_that_never_ends_is_stored_as_postgresql_reads_infinity() -> None:
    """A task added and claimed in one transaction goes out in the JSON insert with its lease: a lease of
    ``inf`` (a heartbeat so long it overflows) is kept as PostgreSQL's ``Infinity``, as a parameter is."""
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with store.write() as tx:
                tx.add_task(TaskRow("m/x#k", "m", "x", "inv", "svc", {}, {"lease_seconds": 30}), now=1.0)
                claimed = tx.claim_tasks(2.0, owner="w", services=["svc"], limit=1, lease_of=lambda _: math.inf)
                assert [t.key for t in claimed] == ["m/x#k"]
            with store.read() as tx:
                assert [(t.lease_until, t.status) for t in tx.tasks_of("m", "x")] == [(math.inf, "running")]
        finally:
            store.close()


def test_a_transactions_updates_and_removals_of_many_rows_each_hit_their_row() -> None:
    """Many instance updates, index removals, task removals and timer cancellations go as one JSON
    statement per kind (each row found by its key, then taken by TID): an instance updated twice keeps
    its last values at the revision of its last update, every other row is untouched, and the
    compare-and-set still holds for every row of the statement."""
    odd = 'q"uote \\ é 🙂'
    ids = [f"{odd}{i}" for i in range(6)]
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with store.write() as tx:
                for id in ids:
                    tx.insert_instance(InstanceRow("m", id, "1", "active", False, 0, 0,
                                                   {"configuration": ["m"], "context": {}}))
                    tx.set_index("m", id, ["m", "s1"], ["t"], before=((), ()))
                    tx.add_timer(TimerRow(f"{id}/timer", "m", id, "send", None, {"name": "T"}, 9e9))
                    tx.add_task(TaskRow(f"m/{id}#task", "m", id, "inv", "svc", {}, {"lease_seconds": 30}), now=1.0)
                tx.claim_tasks(1.0, owner="w", services=["svc"], limit=10, lease_of=lambda _: 30.0)
            with store.write() as tx:
                rows = tx.lock_instances([("m", id) for id in ids]).rows
                tx.lock_tasks([(f"m/{id}#task", "w", 1) for id in ids[:4]])
                for row in rows[:4]:
                    row.step, row.snapshot_json = 1, None
                    row.snapshot = {"configuration": ["m"], "context": {"s": odd}}
                    tx.update_instance(row)
                    tx.set_index("m", row.id, ["m", "s2"], ["t"], before=(["m", "s1"], ["t"]))
                    tx.cancel_timers("m", row.id, None)
                    assert tx.remove_owned_task(f"m/{row.id}#task", "w", 1)
                rows[0].status = "done"
                tx.update_instance(rows[0])  # twice in the transaction: written once, with its last values
            with store.read() as tx:
                for i, id in enumerate(ids):
                    found = tx.get_instance("m", id)
                    assert found is not None
                    moved = i < 4
                    assert (found.step, found.revision) == ((1, 2 if i == 0 else 1) if moved else (0, 0))
                    assert found.status == ("done" if i == 0 else "active")
                    assert found.snapshot["context"] == ({"s": odd} if moved else {})
                    assert [t.key for t in tx.tasks_of("m", id)] == ([] if moved else [f"m/{id}#task"])
                    assert len(tx.timers_of("m", id)) == (0 if moved else 1)
                assert [r.id for r in tx.list_instances("m", state="s2")] == sorted(ids[:4])
                assert [r.id for r in tx.list_instances("m", state="s1")] == sorted(ids[4:])
                assert len(tx.list_instances("m", tag="t")) == 6
            with store.read() as tx:  # the compare-and-set: one row of the statement is read stale
                stale = [tx.get_instance("m", id) for id in ids]
            with store.write() as tx:
                changed = tx.get_instance("m", ids[5])
                assert changed is not None
                tx.update_instance(changed)
            with pytest.raises(StaleRowError, match="1 of 6 instance updates found their row changed"), \
                    store.write() as tx:
                for row in stale:
                    assert row is not None
                    row.step = 5
                    tx.update_instance(row)
            with store.read() as tx:
                assert [r.step for r in tx.list_instances("m")] == [1, 1, 1, 1, 0, 0]  # nothing of it kept
        finally:
            store.close()


def _table_reads(url: str) -> dict[str, tuple[int, int]]:
    """Per table: rows read by sequential scans, and index entries read (pg_stat_user_tables, _indexes)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(b"SELECT t.relname, t.seq_tup_read, COALESCE(SUM(i.idx_tup_read), 0)::bigint "
                            b"FROM pg_stat_user_tables t LEFT JOIN pg_stat_user_indexes i ON i.relid = t.relid "
                            b"GROUP BY t.relname, t.seq_tup_read").fetchall()
    return {name: (read, entries) for name, read, entries in rows}


def test_a_second_update_of_an_instance_read_at_an_older_revision_fails_the_transaction() -> None:
    """Two updates of one instance in a transaction go as one row of the JSON statement: the second must
    have been read at the revision the first made, as the statements one by one would check; and a
    statement of many rows keeps the rows of a transaction of four thousand updates to itself."""
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with store.write() as tx:
                for id in ("a", "b"):
                    tx.insert_instance(InstanceRow("m", id, "1", "active", False, 0, 0,
                                                   {"configuration": ["m"], "context": {}}))
            with pytest.raises(StaleRowError), store.write() as tx:
                first = tx.lock_instances([("m", "a")]).rows[0]
                stale = tx.get_instance("m", "a")  # another object of the same row, at revision 0 too
                assert stale is not None
                other = tx.lock_instances([("m", "b")]).rows[0]
                first.step = 5
                tx.update_instance(first)
                stale.step = 1
                tx.update_instance(stale)
                tx.update_instance(other)
            with store.read() as tx:
                kept = tx.get_instance("m", "a")
                assert kept is not None and (kept.step, kept.revision) == (0, 0)
            with store.write() as tx:
                for i in range(4000):
                    tx.insert_instance(InstanceRow("m", f"n{i}", "1", "active", False, 0, 0,
                                                   {"configuration": ["m"], "context": {}}))
            with store.write() as tx:
                rows = tx.lock_instances([("m", f"n{i}") for i in range(4000)]).rows
                for row in rows:
                    row.step = 2
                    tx.update_instance(row)
            with store.read() as tx:
                assert {tx.get_instance("m", f"n{i}").step for i in (0, 1999, 3999)} == {2}  # type: ignore[union-attr]
        finally:
            store.close()


def test_a_batch_reads_only_its_own_rows_when_the_tables_grew_after_its_statements_were_planned() -> None:
    """The driver prepares a statement at its first uses and the server keeps the plan it made then. Made
    while the tables were a page (a new database, never analyzed), the plans of a batch's statements (the
    locking reads, the updates, the removals) scanned whole tables, or the status index for a key, and
    kept doing so as the tables grew: here a batch must read its own rows only, through the keys."""
    machine_rows = {"configuration": ["m", "s1"], "context": {"pad": "x" * 200}}

    def batch(store: PostgresStore, ids: list[str], n: int) -> None:
        with store.write() as tx:
            rows = tx.lock_instances([("m", id) for id in ids]).rows
            assert len(rows) == len(ids)
            tx.lock_tasks([(f"m/{id}#{n - 1}", "w", 1) for id in ids])
            for row in rows:
                row.step += 1
                tx.update_instance(row)
                tx.set_index("m", row.id, ["m", f"s{n + 1}"], [], before=(["m", f"s{n}"], []))
                tx.cancel_timers("m", row.id, None)
                if n > 0:
                    assert tx.remove_owned_task(f"m/{row.id}#{n - 1}", "w", 1)
                tx.add_task(TaskRow(f"m/{row.id}#{n}", "m", row.id, "inv", "svc", {}, {}), now=1.0)
            assert len(tx.claim_tasks(1.0, owner="w", services=["svc"], limit=len(ids) * 2,
                                      lease_of=lambda _: 60.0)) == len(ids)

    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            few = [f"a{i}" for i in range(4)]
            with store.write() as tx:
                for id in few:
                    tx.insert_instance(InstanceRow("m", id, "1", "active", False, 0, 0, machine_rows))
                    tx.set_index("m", id, ["m", "s0"], [], before=((), ()))
            for n in range(12):  # prepared and planned while the tables are a page
                batch(store, few, n)
            with store.write() as tx:  # then the tables grow to many pages
                for i in range(600):
                    tx.insert_instance(InstanceRow("m", f"b{i}", "1", "active", False, 0, 0, machine_rows))
                    tx.set_index("m", f"b{i}", ["m", "s0"], [], before=((), ()))
                    tx.add_task(TaskRow(f"m/b{i}#t", "m", f"b{i}", "inv", "svc", {}, {}), now=1e12)  # not yet due
            time.sleep(1.5)  # an idle backend reports its counts within a second
            before = _table_reads(url)
            for n in range(12, 24):  # on the same connections: the plans made on a page
                batch(store, few, n)
            store.close()  # a closed connection's backend reports its counts
            deadline = time.monotonic() + 15
            while (after := _table_reads(url)) == before and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
            after = _table_reads(url)
            for table in ("instances", "instance_index", "tasks", "timers"):
                read, entries = (a - b for a, b in zip(after[table], before[table], strict=True))
                assert (table, read) == (table, 0), "no row read by a sequential scan"
                # a plan that passed over the grown table's index read 600 entries a batch: 7,200 in the
                # 12 batches. Read by key, they read a few dozen; but the growth's own reads (600 inserts
                # checking their keys) can be reported late and land here: an idle backend whose report
                # met a busy lock tries again 10 s later (seen on a loaded machine: 676 and 824)
                assert entries < 2_000, f"{table}: {entries} index entries read"
        finally:
            store.close()


def test_a_read_is_one_view_set_by_its_begin_and_cannot_write() -> None:
    """A read's isolation (REPEATABLE READ, read only) comes with its BEGIN, not a statement of its own: the
    view holds through the read while another connection commits, a write inside it is refused, and the
    connection goes back to the pool usable."""
    from bench.postgres_statements import counting

    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with store.write() as tx:
                tx.insert_instance(InstanceRow("m", "a", "1", "active", False, 0, 0,
                                               {"configuration": ["m"], "context": {}}))
            with counting() as tally, store.read() as tx:
                first = tx.get_instance("m", "a")
                with psycopg.connect(url, autocommit=True) as other:
                    other.execute(b"UPDATE instances SET step = 9")
                again = tx.get_instance("m", "a")
            assert first is not None and again is not None and (first.step, again.step) == (0, 0)
            # (the pool checks a connection idle for a second or more with an empty query: not the read's)
            sent = {text: n for text, n in tally.by_text.items()
                    if not text.startswith(("UPDATE", "SET enable", "SET jit", "(empty: the pool's connection check)"))}
            assert sent == {"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY": 1, "COMMIT": 1,
                            next(t for t in sent if t.startswith("SELECT machine, id")): 2}
            with pytest.raises(StorageError, match="read-only transaction"), store.read() as tx:
                tx._exec("set_meta", {"key": "x", "value": "y"})
            with store.read() as tx:
                row = tx.get_instance("m", "a")
                assert row is not None and row.step == 9
        finally:
            store.close()


def test_no_statement_of_the_store_is_compiled_by_jit() -> None:
    """The store's connections disable sequential scans (postgres._configure), which costs a statement
    that still scans at 10^10, far over jit_above_cost: the feed's sequencer (run by every read of the
    change feed) was compiled by LLVM each time, 200-300 ms for 0.3 ms of work. The plans say whether
    JIT would run (on a server built without LLVM neither plan has it)."""
    with fresh_database() as url:
        store = PostgresStore(url)
        try:
            with store.read() as tx:
                plan = tx.conn.execute("EXPLAIN (FORMAT JSON) UPDATE interlock_feed SET position = position"
                                       ).fetchone()[0][0]
        finally:
            store.close()
    assert plan["Plan"]["Node Type"] == "ModifyTable"
    assert "JIT" not in plan, plan["JIT"]
