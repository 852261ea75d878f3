"""Scratch PostgreSQL databases for the benchmarks: created for a block, dropped after it (even when
it fails) with ``DROP DATABASE ... WITH (FORCE)``, which ends any connection still open on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A fresh database on ``server`` (``postgresql://user@host:port``); yields its name."""
    name = f"interlock_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield name
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
