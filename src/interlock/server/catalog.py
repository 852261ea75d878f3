"""The machines a server serves: those of its trusted app (``--app``, ``--load``) and those uploaded
through the API, which live in the store so every server process on the database serves them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from interlock.app import Interlock
from interlock.core.chart import Chart
from interlock.runtime.fingerprint import definition_text


@dataclass(frozen=True, slots=True)
class MachineVersion:
    """One version of a machine as the API shows it."""

    name: str
    version: str
    format: str  # yaml | json | scxml | python
    definition: str
    registered_at: float
    source: str  # upload | app


class Catalog:
    """Machines by name and version, loaded into the process's Interlock when a request needs them."""

    def __init__(self, interlock: Interlock) -> None:
        self.interlock = interlock
        self.app: dict[tuple[str, str], MachineVersion] = {}

    def add_app(self, chart: Chart, text: str | None, format: str) -> None:
        """Record a machine the trusted app registered (its text, or the definition's digest for Python)."""
        self.app[(chart.name, chart.version)] = MachineVersion(
            chart.name, chart.version, format, text if text is not None else definition_text(chart),
            time.time(), "app")

    async def ensure(self, machine: str, version: str | None = None) -> None:
        """Make ``machine`` (at ``version``, or every stored version) runnable in this process."""

    async def version_for_new(self, machine: str, version: str | None) -> str | None:
        """The version a new instance gets: the one asked for, else the newest."""
        await self.ensure(machine, version)
        return version
