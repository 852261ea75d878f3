"""The DBOS peer's endpoint: ``POST /counter/{key}/inc`` runs the 3-step DBOS workflow a DBOS user would
write for the counter (read, update, record: each step's result checkpointed by DBOS before the next),
on SQLite (DBOS's system database and the application's table, each a file), served by uvicorn.
``INTERLOCK_BENCH_DBOS_DIR`` names the folder of the two files."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from dbos import DBOS
from fastapi import FastAPI

FOLDER = Path(os.environ["INTERLOCK_BENCH_DBOS_DIR"])
DATA = FOLDER / "app.sqlite"
app = FastAPI()
DBOS(config={"name": "interlock-bench-server",
                          "system_database_url": f"sqlite:///{FOLDER / 'dbos.sqlite'}"})
_local = threading.local()


def db() -> sqlite3.Connection:
    if not hasattr(_local, "db"):
        _local.db = sqlite3.connect(DATA, timeout=60, isolation_level=None)
        _local.db.execute("PRAGMA journal_mode=WAL")
        _local.db.execute("PRAGMA synchronous=FULL")
    return _local.db  # type: ignore[no-any-return]


with sqlite3.connect(DATA) as setup:
    setup.execute("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, count INT, n INT, at REAL)")
    setup.execute("CREATE TABLE IF NOT EXISTS steps (key TEXT, by INT)")


@DBOS.step()
def read(key: str) -> int:
    row = db().execute("SELECT n FROM counters WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0


@DBOS.step()
def update(key: str, by: int, at: float) -> int:
    row = db().execute("INSERT INTO counters VALUES (?, ?, 1, ?) ON CONFLICT (key) DO UPDATE SET "
                       "count = count + excluded.count, n = n + 1, at = excluded.at RETURNING n",
                       (key, by, at)).fetchone()
    return int(row[0])


@DBOS.step()
def record(key: str, by: int) -> None:
    db().execute("INSERT INTO steps VALUES (?, ?)", (key, by))


@DBOS.workflow()
def increment(key: str, by: int, at: float) -> dict[str, Any]:
    n = read(key)
    if by <= 0:  # the guard
        return {"n": n}
    n = update(key, by, at)
    record(key, by)
    return {"n": n}


@app.post("/counter/{key}/inc")
def inc(key: str, event: dict[str, Any]) -> dict[str, Any]:
    return increment(key, int(event.get("by", 0)), float(event.get("at", 0)))


@app.get("/counter/{key}")
def get(key: str) -> dict[str, Any]:
    """The counter as recorded (for the benchmark's check; not a workflow)."""
    row = db().execute("SELECT n, count FROM counters WHERE key = ?", (key,)).fetchone()
    return {"n": int(row[0]), "count": int(row[1])} if row else {"n": 0, "count": 0}


@app.on_event("startup")
def launch() -> None:
    DBOS.launch()
