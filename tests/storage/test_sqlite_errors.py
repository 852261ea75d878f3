"""Storage failures on real files are StorageErrors that say what is wrong and what to do: a file that is
not a database, one cut short or damaged, a read-only file or directory, a full database."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock import Interlock, machine
from interlock.errors import StorageError
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart


def _filled(path: Path, n: int = 200) -> Path:
    """A real database of a few hundred pages, checkpointed into its one file."""
    with open_app(path, VirtualClock(), order_chart()) as app:
        for i in range(n):
            app.create("order", f"o{i}", input={"pad": "x" * 2000})
    return path


def _open(path: Path) -> None:
    Interlock(f"sqlite:///{path}", clock=VirtualClock()).close()


def test_a_file_of_random_bytes_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(50_000))
    with pytest.raises(StorageError, match=r"random.db is not an SQLite database"):
        _open(path)
    assert path.stat().st_size == 50_000  # left as it was


@pytest.mark.parametrize("keep", [100, 4096, 40_000])
def test_a_truncated_copy_of_a_real_database_is_refused_at_open(tmp_path: Path, keep: int) -> None:
    real = _filled(tmp_path / "real.db")
    cut = tmp_path / "cut.db"
    cut.write_bytes(real.read_bytes()[:keep])
    with pytest.raises(StorageError, match=r"cut.db is cut short: .* but its header says \d+ pages.*"
                                           r"restore it from a backup"):
        _open(cut)


def test_a_damaged_page_is_a_storage_error_that_says_corrupt(tmp_path: Path) -> None:
    real = _filled(tmp_path / "real.db")
    data = bytearray(real.read_bytes())
    data[4096 * 3: 4096 * 40] = os.urandom(4096 * 37)  # the schema page survives, tables do not
    real.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"real.db is corrupt"), open_app(
            real, VirtualClock(), order_chart()) as app:
        for i in range(200):
            app.get("order", f"o{i}")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot write: by permissions, or (as root, who ignores them) a
    read-only mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder
        folder.chmod(0o755)
        return
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root without the right to mount a read-only file system")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _make_read_only(folder: Path) -> None:
    if os.geteuid() != 0:
        for item in folder.iterdir():
            item.chmod(0o444)
        folder.chmod(0o555)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def test_a_read_only_database_or_directory_is_refused_at_open(tmp_path: Path, read_only_dir: Path) -> None:
    shutil.copy(_filled(tmp_path / "real.db", 5), read_only_dir / "real.db")
    _make_read_only(read_only_dir)
    with pytest.raises(StorageError, match=r"real.db is read-only"):
        _open(read_only_dir / "real.db")
    with pytest.raises(StorageError, match=r"the directory .* is read-only"):
        _open(read_only_dir / "new.db")


def _fill_up(app: Interlock) -> None:
    """Let the database grow no more (SQLite then answers SQLITE_FULL, as on a full disk)."""
    app.runtime.writer.call(lambda unit: unit.tx.conn.execute(  # type: ignore[attr-defined]
        "PRAGMA max_page_count = " + str(unit.tx.conn.execute(  # type: ignore[attr-defined]
            "PRAGMA page_count").fetchone()[0])))


def _unfill(app: Interlock) -> None:
    app.runtime.writer.call(lambda unit: unit.tx.conn.execute(  # type: ignore[attr-defined]
        "PRAGMA max_page_count = 1073741823"))


def test_a_full_database_reports_the_real_cause_and_keeps_what_was_committed(tmp_path: Path) -> None:
    with open_app(tmp_path / "f.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o0")
        _fill_up(app)
        with pytest.raises(StorageError, match=r"is full.*nothing of this write was committed.*SQLITE_FULL"):
            for i in range(1, 200):
                app.create("order", f"o{i}", input={"pad": "x" * 4000})
        _unfill(app)
        app.send("order", "o0", "ACCEPT")
        assert app.get("order", "o0").state == ("accepted",)
        stored = [i.id for i in app.list("order").items]
    with open_app(tmp_path / "f.db", VirtualClock(), order_chart()) as app:
        assert [i.id for i in app.list("order").items] == stored


def test_the_worker_backs_off_and_logs_a_full_database_once(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    def grow(context: dict[str, object], event: object) -> dict[str, object]:
        return {"n": int(context["n"]) + 1, "pad": str(context.get("pad", "")) + "x" * 5000}

    timers = machine({"id": "ticker", "initial": "on", "context": {"n": 0}, "states": {"on": {"after": {
        "1": {"target": "on", "reenter": True, "actions": grow}}}}})
    app = Interlock(f"sqlite:///{tmp_path / 'w.db'}", poll=0.01, worker=False)
    try:
        app.register(timers)
        app.create("ticker", "t")
        _fill_up(app)  # every step of its timer needs a new page from here on
        app.start()
        deadline = time.monotonic() + 60
        while app.runtime.worker.round_failures.streak < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.runtime.worker.round_failures.streak >= 4
        full = [r for r in caplog.records if r.levelno >= logging.ERROR and "SQLITE_FULL" in r.getMessage()]
        assert len(full) == 1
        assert "retrying with backoff" in full[0].getMessage()
        _unfill(app)
        while app.get("ticker", "t").context["n"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.get("ticker", "t").context["n"] > 0
        # the worker logs its recovery after the round's commit, which a reader may see first
        while not any("recovered after" in r.getMessage() for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any("recovered after" in r.getMessage() for r in caplog.records)
    finally:
        app.close()


def test_a_path_that_cannot_hold_a_database_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-dir").mkdir()
    with pytest.raises(StorageError, match=r"cannot make the directory .*a-file for the database"):
        _open(tmp_path / "a-file" / "x.db")
    with pytest.raises(StorageError, match=r"a-dir is a directory; give the path of a database file in it"):
        _open(tmp_path / "a-dir")
    with pytest.raises(StorageError, match="contains a NUL character"):
        Interlock(f"sqlite:///{tmp_path}/a\x00b.db")
    _open(tmp_path / "new" / "sub" / "x.db")  # missing directories are made
    assert (tmp_path / "new" / "sub" / "x.db").stat().st_size > 0


def test_a_hand_edited_value_that_is_not_json_is_a_storage_error(tmp_path: Path) -> None:
    import sqlite3

    db = _filled(tmp_path / "e.db", 2)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE instances SET snapshot = '{\"configuration\": [' WHERE id = 'o1'")
    with open_app(db, VirtualClock(), order_chart()) as app:
        assert app.get("order", "o0").id == "o0"
        with pytest.raises(StorageError, match="a value stored in the database is not valid JSON"):
            app.get("order", "o1")
        with pytest.raises(StorageError, match="not valid JSON"):
            app.list("order")
