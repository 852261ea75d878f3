"""The DBOS Transact side of the 3-step workflow benchmark, run in its own process (DBOS is a
singleton): ``python -m bench.durable_dbos CONFIG TARGET SECONDS LEVELS OPEN`` prints one JSON line.

- CONFIG ``sqlite`` (DBOS's default: it sets no journal mode, so SQLite's rollback journal),
  ``sqlite-wal`` (the same file put in WAL mode before DBOS opens it; the mode is stored in the file),
  or ``postgres`` (TARGET is then a database URL).
- LEVELS: comma-separated numbers of workflows in flight. Each level is a closed loop: that many
  threads each call the workflow and start the next one when it returns, for SECONDS after a warm-up.
- OPEN: this many workflows started at once (``DBOS.start_workflow``), timed until all have finished.

The output names the durability settings actually in force (journal mode and ``synchronous`` of a
connection opened like DBOS's, or PostgreSQL's ``fsync`` and ``synchronous_commit``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from typing import Any


def durability(config: str, target: str) -> dict[str, str]:
    if config.startswith("sqlite"):
        with sqlite3.connect(target) as db:  # the same sqlite3 module and library DBOS's engine uses
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[db.execute("PRAGMA synchronous").fetchone()[0]]
        return {"journal_mode": mode, "synchronous": sync}
    import psycopg

    with psycopg.connect(target, autocommit=True) as db:
        return {name: str(db.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
                for name in ("fsync", "synchronous_commit", "wal_sync_method")}


def closed_loop(workflow: Any, threads: int, seconds: float) -> tuple[float, float]:
    """Workflows/s and median latency with ``threads`` workflows in flight for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def driver() -> None:
        mine = []
        while time.perf_counter() < stop:
            began = time.perf_counter()
            assert workflow() == 6
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    pool = [threading.Thread(target=driver) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return len(latencies) / elapsed, latencies[len(latencies) // 2]


def main(config: str, target: str, seconds: float, levels: list[int], open_count: int) -> None:
    if config == "sqlite-wal":
        with sqlite3.connect(target) as db:
            db.execute("PRAGMA journal_mode=WAL")
    from dbos import DBOS

    url = target if config == "postgres" else f"sqlite:///{target}"
    DBOS(config={"name": "bench", "system_database_url": url})

    @DBOS.step()
    def step(n: int) -> int:
        return n

    @DBOS.workflow()
    def workflow() -> int:
        return step(1) + step(2) + step(3)

    DBOS.launch()
    out: dict[str, Any] = {"config": config, "durability": durability(config, target)}
    for _ in range(20):  # warm-up: connections, statements, the first pages
        workflow()
    for threads in levels:
        rate, p50 = closed_loop(workflow, threads, seconds)
        out[str(threads)] = {"rate": rate, "p50_ms": p50 * 1e3}
    if open_count:
        began = time.perf_counter()
        handles = [DBOS.start_workflow(workflow) for _ in range(open_count)]
        assert [h.get_result() for h in handles] == [6] * open_count
        out["open"] = {"rate": open_count / (time.perf_counter() - began), "count": open_count}
    DBOS.destroy()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), [int(x) for x in sys.argv[4].split(",") if x],
         int(sys.argv[5]))
