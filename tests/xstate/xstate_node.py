"""Finding (and installing) the real XState v5 for the differential test.

XState is installed with npm into a cache directory outside the repository: ``$INTERLOCK_XSTATE_DIR``,
else ``~/.cache/interlock-xstate``. Nothing is downloaded when it is there already.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

DRIVER = Path(__file__).with_name("driver.mjs")
XSTATE_SPEC = "xstate@5"


def xstate_dir() -> Path:
    return Path(os.environ.get("INTERLOCK_XSTATE_DIR") or Path.home() / ".cache" / "interlock-xstate")


def missing_tools() -> str | None:
    """Why the real XState cannot run here, or None when node and npm are installed."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (the differential test runs the real XState v5 on Node.js)"
    return None


def ensure_xstate() -> Path:
    """The directory whose node_modules holds xstate 5, installing it there when needed."""
    root = xstate_dir()
    if not (root / "node_modules" / "xstate" / "package.json").exists():
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "package.json").exists():
            (root / "package.json").write_text('{"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", XSTATE_SPEC], cwd=root,
                       check=True, timeout=600, capture_output=True)
    return root


def xstate_version(root: Path) -> str:
    return str(json.loads((root / "node_modules" / "xstate" / "package.json").read_text())["version"])


def run_in_xstate(root: Path, cases: list[dict[str, Any]], timeout: float = 600) -> list[list[dict[str, Any]]]:
    """Every case through XState in one node process: its observations per case."""
    done = subprocess.run(["node", str(DRIVER), str(root)], input=json.dumps({"cases": cases}),
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the XState driver failed ({done.returncode}): {done.stderr[-2000:]}")
    result: list[list[dict[str, Any]]] = json.loads(done.stdout)
    return result
