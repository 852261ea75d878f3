"""The DBOS peer: a FastAPI endpoint running a 3-step DBOS workflow (bench/server_dbos_app.py) on SQLite,
served by uvicorn (one process, FastAPI's thread pool), driven like Interlock."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.server_interlock import free_port, request_for
from bench.server_load import Tally
from bench.server_restate import _process, _wait


@contextmanager
def side(folder: Path, size: dict) -> Iterator[tuple[str, dict[str, str], Any, Any]]:
    port = free_port()
    home = folder / f"dbos-{port}"
    home.mkdir()
    log = folder / f"dbos-{port}.log"
    env = os.environ | {"INTERLOCK_BENCH_DBOS_DIR": str(home)}
    with _process([sys.executable, "-m", "uvicorn", "bench.server_dbos_app:app", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning", "--no-access-log"], log, env) as process:
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/counter/warmup", "the DBOS endpoint (uvicorn)", process, log)

        def recorded() -> tuple[dict[str, Tally], list[str]]:
            return asyncio.run(_recorded(url, size["instances"]))

        request = request_for(size["instances"], "/counter/{key}/inc")
        yield url, {}, request, recorded  # no credentials: the peer runs none


async def _recorded(url: str, count: int) -> tuple[dict[str, Tally], list[str]]:
    """Every counter's increments and the sum it added (all start at zero on a fresh server)."""
    tallies, problems = {}, []
    async with aiohttp.ClientSession(url) as session:
        for key in (f"c{i}" for i in range(count)):
            async with session.get(f"/counter/{key}") as r:
                state = await r.json(content_type=None)
            if isinstance(state, dict):
                tallies[key] = Tally(state["n"], state["count"])
            else:
                problems.append(f"{key}: reading it answered {state!r}")
    return tallies, problems
