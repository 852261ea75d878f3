"""Writers take turns on a SQLite file (storage/sqlite_turn.py): a writer that finds another writing waits
for it and goes on when it is done, instead of failing or sleeping in SQLite's busy handler; across stores,
threads and processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from interlock.errors import StorageError
from interlock.storage.sqlite import SQLiteStore

META = "INSERT INTO interlock_meta (key, value) VALUES (:key, :value) " \
       "ON CONFLICT (key) DO UPDATE SET value = excluded.value"


def _set(store: SQLiteStore, key: str, value: str) -> None:
    with store.write() as tx:
        tx.conn.execute(META, {"key": key, "value": value})


def test_a_writer_of_another_thread_waits_for_its_turn_then_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    first = SQLiteStore(url)
    second = SQLiteStore(url)  # another store of the file in this process: the same turn
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
    stores = [SQLiteStore(url) for _ in range(3)]
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


def test_a_write_inside_a_write_of_the_same_thread_is_refused_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    store, other = SQLiteStore(url), SQLiteStore(url)
    try:
        with store.write() as tx:
            tx.conn.execute(META, {"key": "outer", "value": "1"})
            for inner in (store, other):
                with pytest.raises(StorageError, match="already open in this thread"):
                    _set(inner, "inner", "1")
            with pytest.raises(StorageError, match="already open in this thread"):
                SQLiteStore(url)  # opening a store migrates: a write
        assert _meta(other, "outer") == 1  # the outer write went on and committed
        _set(other, "after", "2")
        assert _meta(store, "after") == 2
    finally:
        store.close()
        other.close()


ORPHAN = """
import os, sys, time
from interlock.storage.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
with store.write() as tx:
    pid = os.fork()
    if pid == 0:  # a child that outlives its parent, as a pool's worker may
        time.sleep(60)
        os._exit(0)
    print(pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_child_made_by_fork_does_not_keep_its_parents_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    store = SQLiteStore(url)
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN, url], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()  # in the middle of its write: the kernel ends its turn and SQLite's lock
        parent.wait()
        done: list[BaseException | None] = []
        writer = threading.Thread(target=lambda: done.append(_attempt(store)))
        writer.start()
        writer.join(30)
        assert done == [None]
        os.kill(child, 0)  # the child is still alive: its copy of the lock file was not a turn
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        store.close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="acts as an account that may not write a file another created (root and setpriv)")
def test_an_account_writes_beside_a_lock_file_another_account_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    SQLiteStore(url).close()
    lock = tmp_path / "shared.db-lock"
    assert lock.exists() and lock.stat().st_mode & 0o777 == 0o644
    os.chown(lock, 65534, 65534)  # as if another account (nobody) had written first
    script = (f"from interlock.storage.sqlite import SQLiteStore\n"
              f"store = SQLiteStore({url!r})\n"
              f"with store.write() as tx:\n"
              f"    tx.conn.execute({META!r}, {{'key': 'other', 'value': '7'}})\n")
    # root without the capability to override file permissions: nobody's 0644 file is read-only to it
    done = subprocess.run(["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--",
                           sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    store = SQLiteStore(url)
    try:
        assert _meta(store, "other") == 7
    finally:
        store.close()


def test_a_write_inside_a_write_through_another_path_to_the_file_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    store = SQLiteStore(f"sqlite:///{tmp_path / 'real' / 'x.db'}")
    other = SQLiteStore(f"sqlite:///{tmp_path / 'link' / 'x.db'}")  # the same file: one turn
    try:
        with store.write(), pytest.raises(StorageError, match="already open in this thread"):
            _set(other, "inner", "1")
    finally:
        store.close()
        other.close()


def test_each_store_waits_for_another_thread_at_most_its_own_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    patient, hasty = SQLiteStore(url, busy_timeout_ms=60_000), SQLiteStore(url, busy_timeout_ms=100)
    done: list[BaseException | None] = []
    try:
        with patient.write():
            waiter = threading.Thread(target=lambda: done.append(_attempt(hasty)))
            waiter.start()
            waiter.join(30)  # the write stays open until the hasty store has given up
        assert len(done) == 1 and isinstance(done[0], StorageError), done
        assert "another thread of this process" in str(done[0])
    finally:
        patient.close()
        hasty.close()
