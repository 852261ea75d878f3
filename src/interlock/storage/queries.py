"""Named SQL queries, loaded from ``.sql`` files.

A file holds blocks that start with ``-- name: <name>`` followed by a one-line description comment::

    -- name: get_instance
    -- One instance with its snapshot.
    SELECT ... WHERE machine = :machine AND id = :id;
"""

from __future__ import annotations

import sqlite3
from importlib import resources

from interlock.errors import StorageError


def load_queries(engine: str) -> dict[str, str]:
    """Every named query of ``sql/<engine>/queries.sql``, by name."""
    text = resources.files("interlock.storage").joinpath(f"sql/{engine}/queries.sql").read_text()
    return parse_queries(text)


def parse_queries(text: str) -> dict[str, str]:
    """Split a queries file into ``{name: sql}``; a block without a name or a duplicate name is an error."""
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            _close(queries, name, lines)
            name, lines = line.removeprefix("-- name:").strip(), []
        elif name is not None and not line.startswith("--"):
            lines.append(line)
    _close(queries, name, lines)
    return queries


def _close(queries: dict[str, str], name: str | None, lines: list[str]) -> None:
    if name is None:
        return
    if name in queries:
        raise StorageError(f"query {name!r} is defined twice; rename one of them")
    sql = "\n".join(lines).strip()
    if not sql:
        raise StorageError(f"query {name!r} has no SQL")
    queries[name] = sql


def migrations(engine: str) -> list[tuple[int, str]]:
    """``(version, sql)`` of every ``sql/<engine>/migrations/NNNN_*.sql``, in version order.

    Two files with one number would be a schema that means two things (a database would get the first
    and be marked as having both): refused, so that two branches adding a migration meet here."""
    folder = resources.files("interlock.storage").joinpath(f"sql/{engine}/migrations")
    found: dict[int, tuple[str, str]] = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            if version in found:
                raise RuntimeError(f"two {engine} migrations are numbered {version}: {found[version][0]} and "
                                   f"{entry.name}; renumber the newer one")
            found[version] = (entry.name, entry.read_text())
    return [(version, found[version][1]) for version in sorted(found)]


def split_statements(script: str) -> list[str]:
    """Split a SQL script into complete statements (so it can run inside one transaction)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise StorageError(f"incomplete SQL statement at the end of a script: {current.strip()[:80]!r}")
    return statements
