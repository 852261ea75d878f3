"""The Restate peer: ``restate-server`` (from the npm registry's ``@restatedev/restate-server``, installed
into ``bench/.cache/restate`` on first use: only ``make bench`` or this module does it, never the tests),
single node with its default configuration, and the handler of bench/server_restate_service.py (a
Python virtual object keyed by instance, ``restate-sdk``) served by hypercorn, registered through the
admin API. The load generator POSTs ``/Counter/{key}/inc`` to Restate's ingress.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.server_interlock import free_port, request_for, stop
from bench.server_load import Tally

VERSION = "1.7.12"
CACHE = Path(__file__).parent / ".cache" / "restate"
BINARY = CACHE / "node_modules" / "@restatedev" / "restate-server-linux-x64" / "bin" / "restate-server"


def install() -> Path:
    """The restate-server binary, installed with npm into the git-ignored cache on first use."""
    if not BINARY.exists():
        if shutil.which("npm") is None:
            raise RuntimeError("the Restate peer needs npm (Node.js) to install @restatedev/restate-server")
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                        f"@restatedev/restate-server@{VERSION}"], check=True, capture_output=True)
    if not BINARY.exists():
        raise RuntimeError(f"npm installed @restatedev/restate-server but {BINARY} is missing (not linux-x64?)")
    return BINARY


@contextmanager
def _process(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                   cwd=Path(__file__).parents[1])
    try:
        yield process
    finally:
        stop(process, grace=30)


def _wait(url: str, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')[-1500:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer at {url} within 60 s")


@contextmanager
def side(folder: Path, size: dict) -> Iterator[tuple[str, dict[str, str], Any, Any]]:
    binary = install()
    ingress, admin, fabric, handler = free_port(), free_port(), free_port(), free_port()
    base = folder / f"restate-{ingress}"
    env = os.environ | {"RESTATE_INGRESS__BIND_ADDRESS": f"127.0.0.1:{ingress}",
                        "RESTATE_ADMIN__BIND_ADDRESS": f"127.0.0.1:{admin}",
                        "RESTATE_BIND_ADDRESS": f"127.0.0.1:{fabric}",
                        "RESTATE_ADVERTISED_ADDRESS": f"http://127.0.0.1:{fabric}",
                        "RESTATE_LOG_LEVEL": "warn"}
    with ExitStack() as stack:
        server_log, handler_log = folder / f"restate-{ingress}.log", folder / f"restate-handler-{handler}.log"
        server = stack.enter_context(_process([str(binary), "--no-logo", "--listen-mode", "tcp",
                                               "--base-dir", str(base)], server_log, env))
        hyper = stack.enter_context(_process([str(Path(sys.executable).parent / "hypercorn"),
                                              "bench.server_restate_service:app", "--bind", f"127.0.0.1:{handler}",
                                              "--log-level", "warning"], handler_log))
        _wait(f"http://127.0.0.1:{admin}/health", "restate-server", server, server_log)
        _wait(f"http://127.0.0.1:{handler}/discover", "the Restate handler (hypercorn)", hyper, handler_log)
        registered = httpx.post(f"http://127.0.0.1:{admin}/deployments", json={"uri": f"http://127.0.0.1:{handler}"},
                                timeout=60)
        if registered.status_code >= 300:
            raise RuntimeError(f"registering the handler with Restate answered {registered.status_code}: "
                               f"{registered.text[:500]}")
        url = f"http://127.0.0.1:{ingress}"
        _wait_ingress(url)

        def recorded() -> tuple[dict[str, Tally], list[str]]:
            return asyncio.run(_recorded(url, size["instances"]))

        request = request_for(size["instances"], "/Counter/{key}/inc")
        yield url, {}, request, recorded  # no credentials: the peer runs none


def _wait_ingress(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the deployment is registered; the ingress learns of it shortly
        try:
            if httpx.post(f"{url}/Counter/warmup/get", json=None, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("Restate's ingress did not route to the Counter object within 60 s")


async def _recorded(url: str, count: int) -> tuple[dict[str, Tally], list[str]]:
    """Every counter's increments and the sum it added (all start at zero on a fresh server)."""
    tallies, problems = {}, []
    async with aiohttp.ClientSession(url) as session:
        for key in (f"c{i}" for i in range(count)):
            async with session.post(f"/Counter/{key}/get", skip_auto_headers=("Content-Type",)) as r:
                state = await r.json(content_type=None)
            if isinstance(state, dict):
                tallies[key] = Tally(state["n"], state["count"])
            else:
                problems.append(f"{key}: reading it answered {state!r}")
    return tallies, problems
