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
from bench.server_load import answered_per_key
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

        def check(outcomes: list[Any]) -> list[str]:
            return asyncio.run(_check(url, answered_per_key(outcomes)))

        request = request_for(size["instances"], "/counter/{key}/inc")
        yield url, {}, request, check  # no credentials: the peer runs none


async def _check(url: str, answered: dict[str, int]) -> list[str]:
    problems = []
    async with aiohttp.ClientSession(url) as session:
        for key, sent in answered.items():
            async with session.get(f"/counter/{key}") as r:
                state = await r.json(content_type=None)
            if not isinstance(state, dict) or state.get("n") != sent:
                problems.append(f"{key}: {sent} answered, state {state}")
    return problems
