"""What SQLite's errors mean for an Interlock database, said as :class:`StorageError`: what is wrong with
which file, and what to do.

Every statement goes through :class:`Connection`, so no raw ``sqlite3`` error leaves the store (a
constraint violation stays an ``IntegrityError``: the store turns the one it expects into a
:class:`~interlock.errors.ConflictError`). :func:`check_file` finds what SQLite would only notice when it
reads the missing part: a file that is not a database, or one cut short.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable
from typing import Any

from interlock.errors import StorageError
from interlock.storage.codec import loads

_MAGIC = b"SQLite format 3\x00"
_RESTORE = "restore it from a backup (or save what can be read with `sqlite3 {path} .recover`)"
_ADVICE = {
    sqlite3.SQLITE_FULL: "the disk holding {path} is full (or the database reached its page limit); "
                         "nothing of this write was committed. Free disk space, then retry",
    sqlite3.SQLITE_CORRUPT: "{path} is corrupt (damaged or cut short); " + _RESTORE,
    sqlite3.SQLITE_NOTADB: "{path} is not an SQLite database (or is encrypted, or its first page is "
                           "damaged); point Interlock at its own database file, or " + _RESTORE,
    sqlite3.SQLITE_READONLY: "{path} is read-only: Interlock writes the file and, beside it, its -wal and "
                             "-shm files. Make the file and its directory writable for this user (or "
                             "open a writable copy)",
    sqlite3.SQLITE_CANTOPEN: "cannot open {path} (or its -wal/-shm files beside it): check that the "
                             "directory exists and this user may read and write there",
    sqlite3.SQLITE_PERM: "the operating system refused access to {path}; check its permissions",
    sqlite3.SQLITE_IOERR: "the disk failed reading or writing {path} (an I/O error: a full or removed "
                          "disk, a network file system); nothing of this write was committed. Check the "
                          "disk, then retry",
    sqlite3.SQLITE_BUSY: "{path} stayed locked by another connection longer than the busy timeout; "
                         "retry, or find the process holding a long transaction",
    sqlite3.SQLITE_LOCKED: "{path} is locked by another statement of this process; retry",
    sqlite3.SQLITE_NOMEM: "SQLite ran out of memory working on {path}",
}


def explain(exc: sqlite3.Error, path: str) -> StorageError:
    """A :class:`StorageError` that says what ``exc`` means for the database at ``path``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None and "Could not decode to UTF-8" in str(exc):  # text damaged inside a row
        code = sqlite3.SQLITE_CORRUPT
    advice = _ADVICE.get(code & 0xFF if isinstance(code, int) else -1)
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if advice is None:
        error = StorageError(f"SQLite failed on {path}: {exc} ({name})")
    else:
        error = StorageError(f"{advice.format(path=path)} (SQLite: {exc}, {name})")
    error.__cause__ = exc
    return error


def stored_json(text: str | bytes) -> Any:
    """A JSON value as stored; :class:`StorageError` if the text is not JSON (a damaged or hand-edited
    database: the store itself writes only JSON it encoded)."""
    try:
        return loads(text)
    except ValueError as exc:
        raise StorageError(f"a value stored in the database is not valid JSON ({exc}): the file was "
                           "damaged or edited by hand; " + _RESTORE.format(path="FILE")) from exc


_execute = sqlite3.Connection.execute  # called unbound: ``super()`` makes an object per statement


class Connection(sqlite3.Connection):
    """A connection whose statements raise :class:`StorageError` (see the module docstring); unlike
    ``sqlite3.Connection`` itself, it can be held in a weak set."""

    path = ""
    busy: threading.RLock  # held while a thread uses it (storage/sqlite.py): closing waits

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return _execute(self, sql, parameters)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise explain(exc, self.path) from exc

    def rollback_if_open(self) -> None:
        """Roll back the transaction, if there still is one: after some errors (a full disk, an I/O
        error) SQLite has already rolled it back, and a ROLLBACK then would hide the real cause."""
        if self.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error being raised is the one to report
                super().execute("ROLLBACK")


def check_file(path: str) -> None:
    """Make the database's directory if needed; :class:`StorageError` if the database at ``path`` cannot
    be written (the file or its directory is read-only), is not an SQLite database, or is cut short (read
    from its 100-byte header: SQLite itself would notice only when it reads a missing page)."""
    if "\x00" in path:
        raise StorageError(f"the database path {path!r} contains a NUL character; give a file path")
    if os.path.isdir(path):
        raise StorageError(f"{path} is a directory; give the path of a database file in it "
                           f"(sqlite:///{os.path.join(path, 'interlock.db')})")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot make the directory {folder} for the database: {exc.strerror or exc} "
                           "(is a part of the path a file?)") from exc
    _check_writable(path)
    if os.path.exists(os.path.realpath(path) + "-wal"):
        # in use, or left by a crash: SQLite reads it. Not opened here: closing any descriptor of the
        # file drops every POSIX lock this process holds on it, among them the SHARED lock of another
        # store's connections, and another process closing its last connection would then take the
        # file for its own and delete the WAL those connections go on committing into
        return
    try:
        with open(path, "rb") as file:
            header = file.read(100)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}; check that this user may read and write it") from exc
    if not header:
        return  # an empty file: SQLite makes it a database
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StorageError(_ADVICE[sqlite3.SQLITE_NOTADB].format(path=path) + " (its header is not "
                           "SQLite's)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96] and pages > 0  # the page count is valid (SQLite 3.7.0+)
    if page_size and (size % page_size or (counted and size < pages * page_size)):
        raise StorageError(
            f"{path} is cut short: {size:,} bytes, but its header says {pages:,} pages of {page_size:,} "
            f"bytes (a copy that did not finish, or a disk that filled while copying); "
            + _RESTORE.format(path=path))


def _check_writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise StorageError(f"{path} is read-only for this user (or on a read-only file system); Interlock "
                           "writes every step to it. Make it writable (chmod u+w), or open a writable copy")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"the directory {folder} is read-only for this user (or on a read-only file "
                           "system): SQLite keeps its -wal and -shm files beside the database, so the "
                           "directory must be writable too. Make it writable, or move the database")
