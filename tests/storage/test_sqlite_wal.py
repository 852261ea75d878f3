"""The SQLite store gives a new ``-wal`` file its working size up front (storage/sqlite_wal.py): commits
write over zeros instead of lengthening the file. What must hold besides: everything committed is kept
across a close, a reopen and a SIGKILLed writer; a WAL another connection made is never touched; two
processes opening a new file at once both work on one database."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interlock.errors import StorageError
from interlock.storage.sqlite import WAL_FRAMES, SQLiteStore
from interlock.storage.sqlite_wal import wal_size
from interlock.storage.store import InstanceRow

PRESIZED = wal_size(4096, WAL_FRAMES)  # SQLite's default page size, the store's


def _row(id: str, filler: int = 0) -> InstanceRow:
    return InstanceRow("m", id, "1", "active", False, 0, 0,
                       {"configuration": ["m"], "context": {"filler": "x" * filler}},
                       created_at=1.0, updated_at=1.0)


def _ids(path: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {id for (id,) in conn.execute("SELECT id FROM instances")}


def test_opening_gives_the_wal_its_working_size_and_commits_do_not_lengthen_it(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = SQLiteStore(f"sqlite:///{path}")
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size == PRESIZED  # before any write of the store's own
    for i in range(50):
        with store.write() as tx:
            tx.insert_instance(_row(f"i{i}", filler=6000))  # two pages and more a row
    assert wal.stat().st_size == PRESIZED
    store.close()
    assert not wal.exists()  # the last connection to close checkpoints and deletes it, as before
    again = SQLiteStore(f"sqlite:///{path}")  # a database that exists: its WAL too
    assert wal.stat().st_size == PRESIZED
    with again.read() as tx:
        assert tx.get_instance("m", "i49") is not None
    again.close()
    assert _ids(path) == {f"i{i}" for i in range(50)}
    assert not list(tmp_path.glob("*.presize"))


def test_a_store_opened_without_presizing_grows_its_wal_as_sqlite_does(tmp_path: Path) -> None:
    # what the short-lived `interlock db` and `keys` commands open: a row or two, no 42 MB written first
    path = tmp_path / "w.db"
    for _ in range(2):  # a new database, then one that exists
        store = SQLiteStore(f"sqlite:///{path}", presize_wal=False)
        assert not store.presized_wal
        with store.write() as tx:
            tx.insert_instance(_row(f"i{len(_ids(path))}"))
        assert Path(f"{path}-wal").stat().st_size < PRESIZED // 100
        store.close()
    assert _ids(path) == {"i0", "i1"}


def test_a_wal_another_connection_holds_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    SQLiteStore(f"sqlite:///{path}").close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA wal_autocheckpoint = 0")  # its commits stay in the WAL
    other.execute("CREATE TABLE mine (x)")
    other.execute("INSERT INTO mine VALUES (1)")
    size = Path(f"{path}-wal").stat().st_size
    assert 0 < size < PRESIZED
    store = SQLiteStore(f"sqlite:///{path}")
    assert Path(f"{path}-wal").stat().st_size == size
    with store.read() as tx:
        assert tx.conn.execute("SELECT x FROM mine").fetchall() == [(1,)]
    store.close()
    other.close()


WRITER = """
import sys
from interlock.storage.sqlite import SQLiteStore
from interlock.storage.store import InstanceRow
store = SQLiteStore("sqlite:///" + sys.argv[1])
i, round = 0, sys.argv[2]
while True:
    with store.write() as tx:
        tx.insert_instance(InstanceRow("m", f"{round}-{i}", "1", "active", False, 0, 0,
                                       {"configuration": ["m"], "context": {"filler": "x" * 6000}},
                                       created_at=1.0, updated_at=1.0))
    print(i, flush=True)  # committed
    i += 1
"""


def test_everything_committed_into_a_presized_wal_survives_a_sigkilled_writer(tmp_path: Path) -> None:
    """The writer dies with its commits in the WAL (no checkpoint, no close): the next open recovers them
    from the frames SQLite wrote over the zeros, and stops where the zeros begin."""
    path = tmp_path / "k.db"
    for round in range(2):  # the second on a database that exists, with the first's WAL checkpointed
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(round)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        acknowledged = -1
        while acknowledged < 300:
            line = writer.stdout.readline()
            assert line, "the writer ended"
            acknowledged = int(line)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        assert Path(f"{path}-wal").stat().st_size == PRESIZED  # ~8 MB of frames written over the zeros
        store = SQLiteStore(f"sqlite:///{path}")
        with store.read() as tx:
            assert tx.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            found = {id for (id,) in tx.conn.execute("SELECT id FROM instances")}
        assert {f"{round}-{i}" for i in range(acknowledged + 1)} <= found
        store.close()
        assert not Path(f"{path}-wal").exists()


OPENER = """
import sys, time
from interlock.storage.sqlite import SQLiteStore
from interlock.storage.store import InstanceRow
path, me, at = sys.argv[1], sys.argv[2], float(sys.argv[3])
time.sleep(max(0.0, at - time.time()))
store = SQLiteStore("sqlite:///" + path)
for i in range(20):
    with store.write() as tx:
        tx.insert_instance(InstanceRow("m", f"{me}{i}", "1", "active", False, 0, 0,
                                       {"configuration": ["m"], "context": {}}, created_at=1.0, updated_at=1.0))
store.close()
"""


def test_two_processes_opening_a_new_database_at_once_share_one(tmp_path: Path) -> None:
    for round in range(4):
        path = tmp_path / f"two{round}.db"
        at = time.time() + 1.0
        openers = [subprocess.Popen([sys.executable, "-c", OPENER, str(path), me, str(at)],
                                    stderr=subprocess.PIPE, text=True) for me in "ab"]
        for opener in openers:
            _, err = opener.communicate(timeout=120)
            assert opener.returncode == 0, err[-2000:]
        assert _ids(path) == {f"{me}{i}" for me in "ab" for i in range(20)}
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert not os.path.exists(f"{path}-wal")
        assert not list(tmp_path.glob("*.presize"))


def test_a_rollback_journal_database_is_switched_to_wal_mode_not_given_a_wal_under_its_writer(
        tmp_path: Path) -> None:
    """A WAL that appears beside a database in rollback-journal mode is used by connections that
    begin after it, while one already writing goes on writing the database file: both took the same
    new pages and the file was malformed. The store must switch the file as SQLite does (under its
    EXCLUSIVE lock, so it waits for that writer) and presize only then."""
    path = tmp_path / "r.db"
    SQLiteStore(f"sqlite:///{path}", presize_wal=False).close()
    writer = sqlite3.connect(path, isolation_level=None)
    assert writer.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    writer.execute("CREATE TABLE t(x)")
    writer.execute("BEGIN IMMEDIATE")  # a rollback-journal writer, mid-transaction
    for _ in range(50):
        writer.execute("INSERT INTO t VALUES (randomblob(3000))")
    store: SQLiteStore | None
    try:
        store = SQLiteStore(f"sqlite:///{path}", busy_timeout_ms=200)
    except StorageError:
        store = None  # waited for the writer, as SQLite's own switch to WAL mode does
    if store is not None:
        with store.write() as tx:
            for i in range(20):
                tx.insert_instance(_row(f"s{i}", filler=20_000))
        store.close()
    writer.execute("COMMIT")
    writer.close()
    if store is None:
        store = SQLiteStore(f"sqlite:///{path}")
        assert store.presized_wal  # switched to WAL mode, then presized
        assert Path(f"{path}-wal").stat().st_size == PRESIZED
        with store.write() as tx:
            for i in range(20):
                tx.insert_instance(_row(f"s{i}", filler=20_000))
        store.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (50,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # the header says WAL now
    assert _ids(path) == {f"s{i}" for i in range(20)}


def test_a_database_reached_through_a_symbolic_link_gets_its_wal_beside_the_file(tmp_path: Path) -> None:
    """SQLite keeps the WAL beside the file a link points to; a presized WAL beside the link is 42 MB
    SQLite never uses nor deletes."""
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    real = tmp_path / "real" / "a.db"
    SQLiteStore(f"sqlite:///{real}").close()
    link = tmp_path / "links" / "l.db"
    link.symlink_to(real)
    store = SQLiteStore(f"sqlite:///{link}")
    try:
        assert store.presized_wal
        assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["l.db"]
        assert Path(f"{real}-wal").stat().st_size == PRESIZED
        with store.write() as tx:
            tx.insert_instance(_row("x"))
    finally:
        store.close()
    assert _ids(real) == {"x"}


def test_no_wal_is_presized_when_commits_do_not_sync_it(tmp_path: Path) -> None:
    """With synchronous NORMAL or OFF no commit syncs the WAL, so a presized one saves nothing: the
    42 MB (the conformance runner opened a new file at OFF for every test) are not written."""
    for synchronous in ("OFF", "NORMAL"):
        path = tmp_path / f"{synchronous}.db"
        for _ in range(2):  # a new file, then one that exists
            store = SQLiteStore(f"sqlite:///{path}", synchronous=synchronous)
            try:
                assert not store.presized_wal
                with store.write() as tx:
                    tx.insert_instance(_row(f"{synchronous}{_}"))
                assert Path(f"{path}-wal").stat().st_size < PRESIZED
            finally:
                store.close()
        assert _ids(path) == {f"{synchronous}0", f"{synchronous}1"}
    assert not list(tmp_path.glob("*.presize"))


def test_presize_files_a_killed_process_left_are_removed_and_one_being_filled_is_not(tmp_path: Path) -> None:
    """A process killed while filling leaves ``<db>-wal.<random>.presize`` (42 MB) behind; one killed
    between the link and the removal leaves a second name of the WAL, which keeps its blocks after
    SQLite deletes it. The next store to presize removes those that are old, not a fresh one: another
    process is filling it, and this one does not write a second 42 MB (processes opening the database
    at once, as ``interlock serve --processes N``'s)."""
    path = tmp_path / "p.db"
    SQLiteStore(f"sqlite:///{path}").close()
    old = tmp_path / "p.db-wal.abc_1.presize"
    old.write_bytes(bytes(4096))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / "p.db-wal.abc_2.presize"  # another process filling it now
    fresh.write_bytes(bytes(4096))
    other = tmp_path / "q.db-wal.abc_3.presize"  # another database's
    other.write_bytes(bytes(4096))
    os.utime(other, (time.time() - 3600, time.time() - 3600))
    store = SQLiteStore(f"sqlite:///{path}")
    try:
        assert not store.presized_wal  # left to the process filling
        assert sorted(p.name for p in tmp_path.glob("*.presize")) == [fresh.name, other.name]
        with store.write() as tx:
            tx.insert_instance(_row("x"))
    finally:
        store.close()
    fresh.unlink()  # that process linked it, or was killed
    store = SQLiteStore(f"sqlite:///{path}")
    try:
        assert store.presized_wal
    finally:
        store.close()
    assert _ids(path) == {"x"}


def test_a_wal_of_large_pages_is_presized_no_longer_than_one_of_default_pages(tmp_path: Path) -> None:
    """At 65,536-byte pages the autocheckpoint's frames are 669 MB, written and synced at every open;
    the presized WAL is held to the bytes it has at SQLite's default page size. Smaller pages keep
    their frames. Everything committed is kept either way."""
    for page_size, expected in ((512, wal_size(512, WAL_FRAMES)),
                                (65536, wal_size(65536, (PRESIZED - 32) // (65536 + 24)))):
        path = tmp_path / f"p{page_size}.db"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute(f"PRAGMA page_size = {page_size}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("CREATE TABLE x(y)")
            conn.commit()
        store = SQLiteStore(f"sqlite:///{path}")
        try:
            assert store.presized_wal
            assert Path(f"{path}-wal").stat().st_size == expected <= PRESIZED
            with store.write() as tx:
                for i in range(30):
                    tx.insert_instance(_row(f"{page_size}-{i}", filler=9000))
        finally:
            store.close()
        with contextlib.closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA page_size").fetchone() == (page_size,)
        assert _ids(path) == {f"{page_size}-{i}" for i in range(30)}


HOLDER = """
import os, sys
from interlock.storage.sqlite import SQLiteStore
from interlock.storage.store import InstanceRow

def row(id):
    return InstanceRow("m", id, "1", "active", False, 0, 0, {"configuration": ["m"], "context": {}},
                       created_at=1.0, updated_at=1.0)

first = SQLiteStore("sqlite:///" + sys.argv[1])
with first.write() as tx:
    tx.insert_instance(row("before"))
second = SQLiteStore("sqlite:///" + sys.argv[1])  # another store of the file in this process
print("open", flush=True)
sys.stdin.readline()
with first.write() as tx:
    tx.insert_instance(row("after"))
print("committed", flush=True)
os._exit(0)  # killed: nothing closed
"""


def test_opening_a_second_store_keeps_the_first_ones_wal_from_another_process(tmp_path: Path) -> None:
    """Opening a store read the database's header with open() and close(): closing any descriptor of
    the file drops every POSIX lock the process holds on it, the first store's SHARED lock among them.
    Another process closing its last connection then took the file for its own, checkpointed and
    deleted the WAL, and what the first store committed after went into a deleted file: lost."""
    path = tmp_path / "h.db"
    SQLiteStore(f"sqlite:///{path}").close()
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdin is not None
            assert holder.stdout.readline().strip() == "open"
            with contextlib.closing(sqlite3.connect(path)) as conn:  # another process comes and goes
                conn.execute("SELECT count(*) FROM instances").fetchone()
            assert Path(f"{path}-wal").exists()  # still the holder's
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "committed"
            assert holder.wait(timeout=60) == 0
        finally:
            if holder.poll() is None:
                holder.kill()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert _ids(path) == {"before", "after"}


def test_a_folder_without_hard_links_gets_no_zeros_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # vfat and some network file systems refuse link(); the presizing then gives up before it writes
    # (it wrote and synced 42 MB first, then failed at the link). Such a file system cannot be made here,
    # so os.link refuses as theirs does.
    import errno

    from interlock.storage import sqlite_wal

    path = tmp_path / "w.db"
    SQLiteStore(f"sqlite:///{path}", presize_wal=False).close()
    written: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: bytes) -> int:
        written.append(len(data))
        return real_write(fd, data)

    def no_links(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted", dst)

    monkeypatch.setattr(sqlite_wal.os, "link", no_links)
    monkeypatch.setattr(sqlite_wal.os, "write", counting_write)
    assert not sqlite_wal.presize_wal(str(path), WAL_FRAMES)
    assert sum(written) == 0
    assert not list(tmp_path.glob("*.presize"))
    assert not Path(f"{path}-wal").exists()
