"""A new ``-wal`` file is given its working size up front, as zero bytes, so commits never lengthen it.

A commit that makes the WAL file longer costs the file system a journal commit for the new size beside
the data (~130 us more here, docs/benchmarks.md, "the WAL's growth"); one that writes over blocks the
file already has does not. SQLite starts a WAL at nothing, grows it up to the autocheckpoint's size
(WAL_AUTOCHECKPOINT_PAGES frames, ~40 MB) and then writes over it from the start; the last connection to
close deletes it, so every open of a database no one has open grew it again. Here, when no WAL exists,
one is put in its place already that long, written with zeros (blocks really written: a sparse or
``fallocate``d file would make each first write into a block change the file's metadata again).

Why SQLite accepts it: a WAL whose header is not valid (zeros: the magic number is wrong) holds no
frames. ``walIndexRecover`` (SQLite's ``src/wal.c``), run by the first connection that opens the WAL,
reads the 32-byte header and, when its magic number is not ``WAL_MAGIC``, goes to ``finished`` with
``mxFrame`` 0: the WAL is empty. The first commit then writes a new header at offset 0 (``walFrames``:
``iFrame == 0``, new random salts) and its frames after it; frames past the last one written are not
valid (their salts and checksums do not match the header), exactly as the old frames of a WAL SQLite
restarts after a checkpoint. SQLite truncates a WAL only when ``journal_size_limit`` is set (it is not).
One exception: beside a database file of zero bytes SQLite deletes a WAL it finds
(``pagerOpenWalIfPresent`` in ``src/pager.c``), so a new database is given its WAL after its first
connections close (sqlite.py).

Concurrent openers: the file is written whole under another name (``<database>-wal.<random>.presize``)
and then linked to the ``-wal`` name, which fails if that name exists (``link`` never replaces a file,
like ``O_EXCL``); the other name is then removed. A WAL another process made, or is using, is never
touched, and no process ever sees a WAL being filled (writing zeros into a ``-wal`` file made with
``O_EXCL`` would not do: a process opening the database meanwhile may commit into it before the zeros
land). A process killed while it fills the file leaves that ``.presize`` file behind: SQLite never reads
it, and the next presizing of that WAL removes it once it is STALE_PRESIZE old (docs/runtime.md). (``O_TMPFILE``, a file with no name until linked, leaves
nothing, but linking it through ``/proc/self/fd`` failed with EXDEV on the machine this was built on.)
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time

WAL_HEADER = 32  # bytes: SQLite's WAL header
FRAME_HEADER = 24  # bytes before each page in a WAL frame
DEFAULT_PAGE_SIZE = 4096  # SQLite's, and the store's
_ZEROS = bytes(1 << 20)
# seconds after which a ``.presize`` file is taken for one a killed process left (filling takes 30-50 ms)
STALE_PRESIZE = 600.0


def wal_size(page_size: int, frames: int) -> int:
    """Bytes of a WAL holding ``frames`` frames of ``page_size``-byte pages."""
    return WAL_HEADER + frames * (page_size + FRAME_HEADER)


def page_size_of(database: str) -> int | None:
    """The page size in the database's header; None if the file is missing, empty, not (yet) a
    database (SQLite would then delete a WAL beside it, or make one itself) or not in WAL mode.

    A database in rollback-journal mode (header bytes 18-19 not 2) must not be given a WAL: SQLite
    switches a database to WAL mode by writing those bytes under an EXCLUSIVE lock, which every
    connection then sees; a WAL that merely appears is used by connections that begin a transaction
    after it did (``pagerOpenWalIfPresent``), while one already in a transaction goes on writing the
    database file directly, and the two write the same new pages: the file was found malformed
    (tests/storage/test_sqlite_wal.py). The store's ``PRAGMA journal_mode = WAL`` switches such a file
    as SQLite does, and it is given its WAL after that (sqlite.py)."""
    try:
        with open(database, "rb") as file:
            header = file.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00") or header[18:20] != b"\x02\x02":
        return None
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


def wal_exists(database: str) -> bool:
    """Whether ``database`` has a WAL beside it, as SQLite names it. While one does, this process must
    not open and close the database file (page_size_of does): closing any descriptor of a file drops
    every POSIX lock the process holds on it, among them the SHARED lock of its SQLite connections in
    WAL mode; another process closing its last connection then takes the file for its own, checkpoints
    and deletes the WAL those connections go on committing into (what they commit after is lost)."""
    return os.path.exists(os.path.realpath(database) + "-wal")


def presize_wal(database: str, frames: int) -> bool:
    """Put a WAL of ``frames`` frames of zeros (no longer than ``frames`` frames of DEFAULT_PAGE_SIZE
    pages) beside ``database`` if it has none; True if this did.
    Any failure (a full disk, a read-only folder, another process's WAL appearing first) leaves things
    as SQLite would have them."""
    # SQLite follows symbolic links to the database and keeps the WAL beside the file itself
    # (unixFullPathname); a WAL beside the link would never be used, nor ever deleted
    database = os.path.realpath(database)
    wal = f"{database}-wal"
    if os.name != "posix" or os.path.exists(wal):  # (Windows: measured nowhere)
        return False  # before page_size_of, which opens the file (wal_exists)
    page_size = page_size_of(database)
    if page_size is None or _filling(wal):
        return False
    try:
        owner = os.stat(database)
        fd, filling = tempfile.mkstemp(prefix=os.path.basename(wal) + ".", suffix=".presize",
                                       dir=os.path.dirname(os.path.abspath(database)))
    except OSError:
        return False
    try:
        probe = filling.removesuffix(".presize") + ".probe.presize"  # (removed with the others if left)
        os.link(filling, probe)  # a folder without hard links (vfat, some network mounts) would have the
        os.unlink(probe)  # 42 MB written for a link that then fails: find out while the file is empty
        os.fchmod(fd, owner.st_mode & 0o666)  # as SQLite makes it: the database's permission bits and, by
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # root, the database's owner
            with contextlib.suppress(OSError):
                os.fchown(fd, owner.st_uid, owner.st_gid)
        # pages larger than SQLite's default make frames as many times longer: at 65,536 bytes the
        # autocheckpoint's frames are 669 MB, written and synced at every open; presize no more than
        # the bytes they make at the default (the commits past them lengthen the file, as before)
        frames = min(frames, (wal_size(DEFAULT_PAGE_SIZE, frames) - WAL_HEADER) // (page_size + FRAME_HEADER))
        left = wal_size(page_size, frames)
        while left > 0:
            left -= os.write(fd, _ZEROS[:left] if left < len(_ZEROS) else _ZEROS)
        os.fsync(fd)  # here, not in the first commit's fsync of the WAL
        os.link(filling, wal)  # fails if the name exists: never replaces a WAL
    except OSError:
        return False
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(filling)
    return True


def _filling(wal: str) -> bool:
    """Whether another process is filling this WAL now (a ``.presize`` file younger than STALE_PRESIZE):
    processes that open the database at once (``interlock serve --processes N``) would each write 42 MB
    for one to be linked. Older ones are removed: processes killed while presizing left them (42 MB
    each, or a second name of a WAL, keeping its blocks after SQLite deletes it). Removing one that is
    still being filled would only make that process's ``link`` fail (it then does not presize): no WAL
    is touched."""
    now, filling = time.time(), False
    for left in glob.glob(f"{glob.escape(wal)}.*.presize"):
        with contextlib.suppress(OSError):
            if now - os.lstat(left).st_mtime > STALE_PRESIZE:
                os.unlink(left)
            else:
                filling = True
    return filling
