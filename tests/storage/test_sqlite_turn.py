"""Writers take turns on a SQLite file (storage/sqlite_turn.py): a writer that finds another writing waits
for it and goes on when it is done, instead of failing or sleeping in SQLite's busy handler; across stores,
threads and processes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from interlock.storage.sqlite import SQLiteStore

META = "INSERT INTO interlock_meta (key, value) VALUES (:key, :value) " \
       "ON CONFLICT (key) DO UPDATE SET value = excluded.value"


def _set(store: SQLiteStore, key: str, value: str) -> None:
    with store.write() as tx:
        tx.conn.execute(META, {"key": key, "value": value})


def test_a_writer_waits_for_its_turn_instead_of_failing_on_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    first = SQLiteStore(url)
    second = SQLiteStore(url, busy_timeout_ms=0)  # SQLite's busy handler alone would fail it at once
    done: list[BaseException | None] = []
    try:
        with first.write() as tx:
            tx.conn.execute(META, {"key": "holder", "value": "first"})
            waiter = threading.Thread(target=lambda: done.append(_attempt(second)))
            waiter.start()
            waiter.join(0.3)
            assert waiter.is_alive() and not done  # waiting for its turn, not failed
        waiter.join(30)
        assert done == [None]
        assert _meta(second, "turn") == 2
    finally:
        first.close()
        second.close()


def _meta(store: SQLiteStore, key: str) -> int:
    with store.read() as tx:
        return tx.meta_int(key)


def _attempt(store: SQLiteStore) -> BaseException | None:
    try:
        _set(store, "turn", "2")
    except BaseException as exc:  # the test reports what the waiter met
        return exc
    return None


def test_a_writer_of_another_process_waits_for_its_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = SQLiteStore(url)
    script = textwrap.dedent(f"""
        import sys
        from interlock.storage.sqlite import SQLiteStore
        store = SQLiteStore({url!r}, busy_timeout_ms=0)  # opening it migrates: a write of its own
        print("ready", flush=True)
        sys.stdin.readline()
        with store.write() as tx:
            tx.conn.execute({META!r}, {{"key": "other", "value": "written"}})
        print("written", flush=True)
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline().strip() == "ready"
        with store.write() as tx:
            tx.conn.execute(META, {"key": "holder", "value": "this"})
            other.stdin.write("go\n")
            other.stdin.flush()
            with contextlib.suppress(subprocess.TimeoutExpired):
                other.wait(0.5)
            assert other.poll() is None  # blocked on its turn while this transaction is open
        output = other.communicate(timeout=60)[0]
        assert other.returncode == 0, output
        assert output.strip() == "written"
        with store.read() as tx:
            assert tx.conn.execute("SELECT value FROM interlock_meta WHERE key = 'other'").fetchone()[0] == "written"
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
        store.close()


def test_many_threads_and_stores_take_turns_and_lose_no_write(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    stores = [SQLiteStore(url, busy_timeout_ms=0) for _ in range(3)]
    failures: list[BaseException] = []

    def writes(store: SQLiteStore, name: str) -> None:
        try:
            for i in range(100):
                with store.write() as tx:
                    count = tx.conn.execute("SELECT value FROM interlock_meta WHERE key = 'n'").fetchone()
                    tx.conn.execute(META, {"key": "n", "value": str(int(count[0]) + 1 if count else 1)})
                    tx.conn.execute(META, {"key": f"{name}-{i}", "value": "x"})
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writes, args=(store, f"s{k}t{t}"))
               for k, store in enumerate(stores) for t in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert failures == []
        assert _meta(stores[0], "n") == 600
    finally:
        for store in stores:
            store.close()


def test_the_lock_file_lies_beside_the_database(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        _set(store, "k", "v")
        assert (tmp_path / "x.db-lock").exists()
    finally:
        store.close()
