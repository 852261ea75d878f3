"""Stores: where instances live. :func:`open_store` picks one from a URL."""

from __future__ import annotations

from interlock.errors import StorageError
from interlock.storage.store import Store


def open_store(url: str, **options: object) -> Store:
    """Open the store a URL names: ``sqlite:///path.db`` or ``postgresql://user@host:5432/db``."""
    if url.startswith("sqlite:"):
        from interlock.storage.sqlite import SQLiteStore

        return SQLiteStore(url, **options)  # type: ignore[arg-type]
    if url.startswith(("postgresql:", "postgres:")):
        from interlock.storage.postgres import PostgresStore

        options.pop("synchronous", None)  # SQLite's settings; PostgreSQL's is synchronous_commit
        options.pop("presize_wal", None)
        return PostgresStore(url, **options)  # type: ignore[arg-type]
    if "://" not in url:  # a bare file path: say the URL it means
        raise StorageError(f"{url!r} is not a store URL; for a SQLite file write 'sqlite:///{url}' (three "
                           "slashes, then the path: sqlite:////abs/path.db for an absolute one), or "
                           "postgresql://user@host:5432/database")
    scheme = url.split(":", 1)[0]
    raise StorageError(f"unsupported store URL {url!r} (scheme {scheme!r}); use sqlite:///path/to/file.db "
                       "or postgresql://user@host:5432/database")


__all__ = ["Store", "open_store"]
