"""The core is pure by construction: it imports nothing that reaches the world."""

from __future__ import annotations

import ast
from pathlib import Path

import interlock.core

FORBIDDEN = {"time", "datetime", "random", "asyncio", "threading", "socket", "os", "sqlite3", "subprocess",
             "psycopg", "httpx", "uuid", "secrets", "interlock.runtime", "interlock.storage",
             "interlock.server", "interlock.cli", "interlock.frontends"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_impure() -> None:
    core = Path(interlock.core.__file__).parent
    offenders = {}
    for path in sorted(core.glob("*.py")):
        bad = {n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}
