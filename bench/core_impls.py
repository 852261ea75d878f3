"""Which implementations the benchmark knows, and how to load one without failing on a missing peer."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from bench.core_machines import Instance

OURS = "interlock"  # built with Python callables
DOCUMENTS = "interlock-documents"  # built from YAML documents (the safe expression language)

# implementation name -> module exposing ``build(machine_name) -> Instance``
MODULES: dict[str, str] = {
    OURS: "bench.core_interlock",
    DOCUMENTS: "bench.core_documents",
    "transitions": "bench.peers.transitions_peer",
    "python-statemachine": "bench.peers.statemachine_peer",
    "sismic": "bench.peers.sismic_peer",
}

INSTALL_HINT = "install the peers with: .venv/bin/pip install -e '.[bench]' (or run `make bench`)"


@dataclass(frozen=True)
class Loaded:
    name: str
    build: Callable[[str], Instance] | None
    problem: str = ""  # why it could not be loaded


def load(name: str) -> Loaded:
    """Import one implementation; a missing library becomes a ``problem`` rather than an exception."""
    try:
        module = importlib.import_module(MODULES[name])
    except ImportError as exc:
        return Loaded(name, None, f"{name} unavailable ({exc}); {INSTALL_HINT}")
    return Loaded(name, module.build)
