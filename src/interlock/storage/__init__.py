"""Stores: where instances live. :func:`open_store` picks one from a URL."""

from __future__ import annotations

from interlock.errors import StorageError
from interlock.storage.store import Store


def open_store(url: str, **options: object) -> Store:
    """Open the store a URL names: ``sqlite:///path.db`` today (PostgreSQL next)."""
    if url.startswith("sqlite:"):
        from interlock.storage.sqlite import SQLiteStore

        return SQLiteStore(url, **options)  # type: ignore[arg-type]
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise StorageError(f"unsupported store URL {url!r} (scheme {scheme!r}); use sqlite:///path/to/file.db")


__all__ = ["Store", "open_store"]
