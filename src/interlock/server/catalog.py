"""The machines a server serves: those of its trusted app (``--app``, ``--load``) and those uploaded
through the API, which live in the store (``machine_definitions``) so every server process on the
database serves them: a process that does not know a machine or a version a request names looks it up
in the store, compiles it and registers it, once.

A version is immutable: uploading it again with the same definition changes nothing (200); with another,
409 ``conflict.version``. A machine is either the app's or uploaded, never both.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from interlock.app import Interlock
from interlock.core.chart import Chart
from interlock.errors import ConflictError, ForbiddenError, NotFoundError
from interlock.frontends.loader import parse_document
from interlock.runtime.arguments import check_text
from interlock.runtime.fingerprint import definition_text, fingerprint
from interlock.runtime.registry import Registry
from interlock.server.errors import ApiError
from interlock.server.uploads import compile_upload
from interlock.storage.store import DefinitionRow


@dataclass(frozen=True, slots=True)
class MachineVersion:
    """One version of a machine as the API shows it."""

    name: str
    version: str
    format: str  # yaml | json | scxml | python
    definition: str
    registered_at: float
    source: str  # upload | app

    def __repr__(self) -> str:
        return f"<MachineVersion {self.name}@{self.version} {self.format} from {self.source}>"


class Catalog:
    """Machines by name and version, loaded into the process's Interlock when a request needs them."""

    def __init__(self, interlock: Interlock) -> None:
        self.interlock = interlock
        self.app: dict[tuple[str, str], MachineVersion] = {}
        self._app_latest: dict[str, str] = {}
        # when the default version of each uploaded machine this process runs was uploaded: a version
        # loaded later but uploaded earlier (a request naming it) must not become the default
        self._newest: dict[str, float] = {}
        self._lock = asyncio.Lock()  # one compile-and-register at a time

    @property
    def registry(self) -> Registry:
        return self.interlock.runtime.registry

    def add_app(self, chart: Chart, text: str | None, format: str) -> None:
        """Record a machine the trusted app registered (its text, or the definition's digest for Python)."""
        self.app[(chart.name, chart.version)] = MachineVersion(
            chart.name, chart.version, format, text if text is not None else definition_text(chart),
            time.time(), "app")
        self._app_latest[chart.name] = chart.version

    # -- uploads -------------------------------------------------------------------------------------

    async def put(self, name: str, version: str, format: str, text: str, *,
                  admin: bool = True) -> tuple[MachineVersion, bool]:
        """Keep and serve an uploaded version; ``(version, created)``. DefinitionError: 422; a different
        definition under this version: 409. ``admin`` False (a ``machines:write`` caller): a new version
        whose authorize rules are not the newest version's is refused (403 ``auth.upload.rules``), as new
        instances take the newest version and its rules (docs/auth.md, "Machines as callers")."""
        check_text("machine", name)
        check_text("version", version)
        if name in self._app_latest:
            raise ApiError(409, "conflict.version", f"machine {name!r} is defined by this server's app; "
                           "upload machines under other names")
        chart = await asyncio.to_thread(compile_upload, name, version, format, text)
        row = DefinitionRow(name, version, format, text, time.time())
        async with self._lock:
            return await asyncio.to_thread(self._keep, row, chart, admin)

    def _keep(self, row: DefinitionRow, chart: Chart, admin: bool) -> tuple[MachineVersion, bool]:
        with self.interlock.runtime.read() as tx:
            kept = tx.get_definition(row.name, row.version)
            newest = tx.newest_definition(row.name)
            newest_row = tx.get_definition(row.name, newest) if newest is not None else None
        if kept is not None:
            self._same_or_conflict(kept, row, chart)
            self._register(kept)
            return _uploaded(kept), False
        if not admin and newest_row is not None:
            _same_rules(newest_row, row, chart)
        try:
            self._run(chart, row.registered_at)  # records the version's fingerprint: another process's
        except ConflictError as exc:           # different upload under it conflicts here
            raise ApiError(409, "conflict.version", str(exc)) from None
        with self.interlock.runtime.store.write() as tx:
            kept = tx.save_definition(row)
        if kept != row:  # another process kept this version in between
            self._same_or_conflict(kept, row, chart)
            return _uploaded(kept), False
        return _uploaded(kept), True

    def _same_or_conflict(self, kept: DefinitionRow, row: DefinitionRow, chart: Chart) -> None:
        """A kept version uploaded again: the same definition (the same text, or a text that compiles to
        the same chart) is no change; anything else conflicts."""
        if (kept.format, kept.text) == (row.format, row.text):
            return
        if definition_text(compile_upload(kept.name, kept.version, kept.format, kept.text, stored=True)) != \
                definition_text(chart):
            raise ApiError(409, "conflict.version", f"machine {kept.name!r} version {kept.version!r} "
                           "exists with another definition; versions are immutable: upload the change as "
                           "a new version (existing instances keep theirs)")

    # -- lookups -------------------------------------------------------------------------------------

    async def ensure(self, machine: str, version: str | None = None) -> None:
        """Make ``machine`` (at ``version``, or any version when None) runnable in this process: the app's,
        or compiled from the store. NotFoundError (404) when neither has it."""
        if version is None and self.registry.has_chart(machine):
            return
        if version is not None and self.registry.has_version(machine, version):
            return
        async with self._lock:
            await asyncio.to_thread(self._load, machine, version)

    def _load(self, machine: str, version: str | None) -> None:
        with self.interlock.runtime.read() as tx:
            rows = tx.definitions(machine) if version is None else [
                r for r in [tx.get_definition(machine, version)] if r is not None]
        if not rows:
            if version is None or not self.registry.has_chart(machine):
                raise NotFoundError(f"unknown machine {machine!r}: upload it with PUT "
                                    f"/v1/machines/{machine}/versions/<version>")
            raise NotFoundError(f"machine {machine!r} has no version {version!r}")
        for row in rows:
            self._register(row)

    def _register(self, row: DefinitionRow) -> None:
        if not self.registry.has_version(row.name, row.version):
            self._run(compile_upload(row.name, row.version, row.format, row.text, stored=True), row.registered_at)

    def _run(self, chart: Chart, uploaded_at: float) -> None:
        """Register an uploaded version; it is the machine's default only if no version uploaded after it
        is (the newest upload's rules and webhooks are the machine's, whatever order a process loads them)."""
        latest = uploaded_at >= self._newest.get(chart.name, float("-inf"))
        self.interlock.runtime.register(chart, latest=latest)
        if latest:
            self._newest[chart.name] = uploaded_at

    async def version_for_new(self, machine: str, version: str | None) -> str:
        """The version a new instance gets: the one asked for, else the newest (of the app, or uploaded)."""
        if version is not None:
            await self.ensure(machine, version)
            return version
        if machine in self._app_latest:
            return self._app_latest[machine]
        newest = await asyncio.to_thread(self._newest_stored, machine)  # the version, not every text: a
        if newest is None:                                              # webhook asks before verifying
            raise NotFoundError(f"unknown machine {machine!r}: upload it with PUT "
                                f"/v1/machines/{machine}/versions/<version>")
        await self.ensure(machine, newest)
        return newest

    async def ensure_instance_version(self, machine: str, name: str) -> None:
        """Load the version an existing instance is pinned to (it may be newer than what this process
        has seen: another process uploaded it)."""
        await self.ensure(machine)
        try:
            instance = await self.interlock.aio.get(machine, name)
        except NotFoundError:
            return  # the route's own call reports it
        await self.ensure(machine, instance.version)

    def _newest_stored(self, machine: str) -> str | None:
        with self.interlock.runtime.read() as tx:
            newest: str | None = tx.newest_definition(machine)
        return newest

    def _stored(self, machine: str | None) -> list[DefinitionRow]:
        with self.interlock.runtime.read() as tx:
            rows: list[DefinitionRow] = tx.definitions(machine)
        return rows

    async def versions(self, machine: str | None = None) -> list[MachineVersion]:
        """Every version (of one machine, or of all), by name, oldest first."""
        stored = [_uploaded(r) for r in await asyncio.to_thread(self._stored, machine)]
        app = [v for v in self.app.values() if machine is None or v.name == machine]
        return sorted(app + stored, key=lambda v: v.name)  # stable: each machine's oldest first

    async def version(self, machine: str, version: str) -> MachineVersion:
        found = self.app.get((machine, version))
        if found is not None:
            return found
        rows = [r for r in await asyncio.to_thread(self._stored, machine) if r.version == version]
        if rows:
            return _uploaded(rows[0])
        known = machine in self._app_latest or bool(await asyncio.to_thread(self._stored, machine))
        if known:
            raise NotFoundError(f"machine {machine!r} has no version {version!r}")
        raise NotFoundError(f"unknown machine {machine!r}")


def _same_rules(newest: DefinitionRow, row: DefinitionRow, chart: Chart) -> None:
    """A caller who is not admin adds versions under the rules the machine has: its newest version's
    authorize section, rule for rule as written (none if it has none), and its signed webhooks, which
    act as trusted code (no rule is asked), as written. Otherwise ``machines:write`` could drop or loosen
    the rules every new instance gets, or add a way around them for whoever can have a request signed
    with a server secret (ForbiddenError, 403 ``auth.upload.rules``)."""
    old = compile_upload(newest.name, newest.version, newest.format, newest.text, stored=True)
    if fingerprint(old)["authorize"] != fingerprint(chart)["authorize"]:
        changed = "authorize rules"
    elif _signed_hooks(newest) != _signed_hooks(row):
        changed = "signed webhooks (webhooks: with a signature, which no rule restrains)"
    else:
        return
    raise ForbiddenError(
        f"version {row.version!r} of machine {newest.name!r} has other {changed} than its newest version "
        f"{newest.version!r}; new instances and webhooks take the newest version, so only an admin may "
        "change them: upload the version with the same authorize section and signed webhooks, or ask an "
        "admin", reason="upload.rules")


def _signed_hooks(row: DefinitionRow) -> str:
    """The webhooks of a stored or uploaded YAML/JSON document verified by a signature, as canonical
    JSON (SCXML declares none)."""
    if row.format == "scxml":
        return "{}"
    doc = parse_document(row.text, row.format, f"{row.name}@{row.version}")
    hooks = doc.get("webhooks") if isinstance(doc, dict) else None
    signed = {str(name): config for name, config in hooks.items()
              if isinstance(config, dict) and isinstance(config.get("verify"), dict)
              and "signature" in config["verify"]} if isinstance(hooks, dict) else {}
    return json.dumps(signed, sort_keys=True, default=str)


def _uploaded(row: DefinitionRow) -> MachineVersion:
    return MachineVersion(row.name, row.version, row.format, row.text, row.registered_at, "upload")
