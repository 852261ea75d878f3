"""Machines the operator trusts, served with ``source: "app"``: a Python module's ``setup(app)``
(``--app``, the convention of ``interlock worker``) and YAML/JSON files (``--load``)."""

from __future__ import annotations

from pathlib import Path

from interlock.cli.worker import _load_setup as load_setup
from interlock.frontends.loader import load_machine
from interlock.server.catalog import Catalog
from interlock.server.config import ServerConfig

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def load_trusted(catalog: Catalog, config: ServerConfig) -> None:
    """Register the app module's machines and services, then the machine files, as ``app`` machines."""
    interlock = catalog.interlock
    if config.app:
        before = set(interlock.runtime.registry.versions())
        load_setup(config.app)(interlock)
        for name, version in interlock.runtime.registry.versions():
            if (name, version) not in before and "#" not in name:
                catalog.add_app(interlock.runtime.registry.chart(name, version), None, "python")
    for path in _machine_files(config.load):
        text = path.read_text(encoding="utf-8")
        chart = load_machine(path, defer_services=True)
        interlock.register(chart)
        catalog.add_app(chart, text, SUFFIXES[path.suffix.lower()])


def _machine_files(paths: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES))
        elif path.suffix.lower() in SUFFIXES:
            found.append(path)
        else:
            raise OSError(f"--load {given!r}: not a folder nor a .yaml, .yml or .json file")
    return found
