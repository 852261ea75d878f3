"""History indexed by instance in bulk, a few thousand records at a time.

Records are appended to the history table in the order they are recorded, which touches only the end of
the table. Finding one instance's records needs an index by ``(machine, id, step)``, and an index
maintained on every insert puts each step's entry in the middle of a b-tree: under load, every instance a
commit touches dirties a 4 KB page of that index, most of what the commit writes (measured: 136 of 222
pages per commit in the events benchmark). So the store fills ``history_steps`` itself, once the records
not indexed yet number ``tail`` or more, sorted, in the transaction that crossed the mark: one instance's
new entries then share a page. That transaction writes about one index page per instance with new
records (measured: ~1,000-1,800 pages, 15-25 ms, for 4,096 records over 1,000 instances), once per
``tail`` records instead of once per record. Whether that is due costs a statement, so a store looks
only once per ``tail / HISTORY_CHECKS`` records it appended (SQLiteStore.write), not in every
transaction: the records waiting for the index are then at most ``tail`` plus that much per process.

``interlock_meta.history_indexed`` is the newest indexed seq. Readers take the records after it from a
scan of that tail (up to about ``tail`` rows per page read; see the ``history_page`` query), so every
committed record is found at once. Steps are numbered by the writer under the database's write lock; a
step recorded twice (a bug, or a database edited by hand) shows twice until it is indexed, is then
reported here, loudly, and the first record (by seq) stays the one history pages show.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger("interlock.storage")
HISTORY_TAIL = 4096  # records appended before they are indexed in bulk (per database, about)
HISTORY_CHECKS = 8  # a store looks whether indexing is due once per HISTORY_TAIL / 8 records it appends


def index_history_if_due(conn: sqlite3.Connection, queries: dict[str, str], tail: int) -> int:
    """Index the records appended since the last time, if there are ``tail`` or more; returns how many."""
    last, mark = (int(value) for value in conn.execute(queries["last_history_seq"]).fetchone())
    if last - mark < tail:
        return 0
    span = {"after": mark, "upto": last}
    try:
        conn.execute(queries["index_history"], span)
    except sqlite3.IntegrityError:  # the statement is undone; the transaction goes on
        conn.execute(queries["index_history_keep_first"], span)
        repeats = conn.execute(queries["history_repeats"], span).fetchone()[0]
        log.error("history records with seq %d..%d hold %d step(s) recorded twice for an instance; the "
                  "first record of each step stays the one history pages show. Steps are numbered by "
                  "one writer at a time: was the database written by hand or by another program?",
                  mark + 1, last, repeats)
    conn.execute(queries["set_meta"], {"key": "history_indexed", "value": str(last)})
    return last - mark
