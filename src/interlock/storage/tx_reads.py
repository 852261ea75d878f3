"""The transaction methods both stores write the same way: machine registration, uploaded definitions,
API keys and the admin reads of an instance (timers, tasks), each one named query over the store's own
``_one`` / ``_all`` / ``_run`` (storage/sql/<engine>/queries.sql names them alike in both engines).

A store's transaction class inherits :class:`SharedQueries` and supplies the three statement methods;
the hot path (instances, history, inbox) stays in each store, where the two really differ.
"""

from __future__ import annotations

from typing import Any

from interlock.errors import ConflictError
from interlock.storage.codec import dumps
from interlock.storage.rows import definition_row, key_row, task_row, timer_row
from interlock.storage.store import DefinitionRow, KeyRow, TaskRow, TimerRow


class SharedQueries:
    """Mixin: :class:`~interlock.storage.store.WriteTx` methods written once for every store."""

    __slots__ = ()  # SQLiteTx keeps __slots__: the mixin adds no instance dict

    # -- what the store supplies ----------------------------------------------------------------------

    def _one(self, name: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of the named query (the store's own implementation)."""
        raise NotImplementedError

    def _all(self, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of the named query (the store's own implementation)."""
        raise NotImplementedError

    def _run(self, name: str, params: dict[str, Any]) -> int:
        """Run the named statement; how many rows it changed (the store's own implementation)."""
        raise NotImplementedError

    # -- machines -------------------------------------------------------------------------------------

    def register_machine(self, name: str, version: str, shape: str, now: float,
                         definition: str | None = None) -> tuple[str, str | None]:
        self._run("register_machine", {"name": name, "version": version, "shape": shape, "now": now,
                                       "definition": definition})
        found = self._one("machine_shape", {"name": name, "version": version})
        return (str(found[0]), found[1]) if found else (shape, definition)

    # -- uploaded definitions and admin reads ----------------------------------------------------------

    def save_definition(self, row: DefinitionRow) -> DefinitionRow:
        self._run("save_definition", {"name": row.name, "version": row.version, "format": row.format,
                                      "text": row.text, "now": row.registered_at})
        kept = self.get_definition(row.name, row.version)
        return kept if kept is not None else row

    def get_definition(self, name: str, version: str) -> DefinitionRow | None:
        found = self._one("get_definition", {"name": name, "version": version})
        return definition_row(found) if found else None

    def definitions(self, name: str | None = None) -> list[DefinitionRow]:
        if name is None:
            return [definition_row(r) for r in self._all("all_definitions", {})]
        return [definition_row(r) for r in self._all("definitions_of", {"name": name})]

    def newest_definition(self, name: str) -> str | None:
        found = self._one("newest_definition", {"name": name})
        return str(found[0]) if found else None

    def timers_of(self, machine: str, id: str) -> list[TimerRow]:
        return [timer_row(r) for r in self._all("timers_of", {"machine": machine, "id": id})]

    def tasks_of(self, machine: str, id: str) -> list[TaskRow]:
        return [task_row(r) for r in self._all("tasks_of", {"machine": machine, "id": id})]

    # -- API keys ------------------------------------------------------------------------------------

    def insert_key(self, row: KeyRow) -> None:
        params = {"id": row.id, "digest": row.digest, "scopes": dumps(list(row.scopes)), "label": row.label,
                  "now": row.created_at}
        if self._run("insert_key", params) != 1:
            raise ConflictError(f"an API key with id {row.id!r} already exists; create the key again")

    def get_key(self, id: str) -> KeyRow | None:
        found = self._one("get_key", {"id": id})
        return key_row(found) if found else None

    def api_keys(self, *, after: str = "", limit: int = 100) -> list[KeyRow]:
        if after:
            return [key_row(r) for r in self._all("api_keys_after", {"after": after, "limit": limit})]
        return [key_row(r) for r in self._all("api_keys", {"limit": limit})]

    def revoke_key(self, id: str, now: float) -> KeyRow | None:
        self._run("revoke_key", {"id": id, "now": now})
        return self.get_key(id)

    def touch_key(self, id: str, now: float) -> None:
        self._run("touch_key", {"id": id, "now": now})
