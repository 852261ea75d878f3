"""Is this server up, can it read its store, and how many live subscribers does this process serve?"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

import interlock


async def health(request: Request) -> JSONResponse:
    store = request.app.state.interlock.runtime.store
    schema = await asyncio.to_thread(store.schema_version)  # StorageError: 503
    return JSONResponse({"status": "ok", "version": interlock.__version__, "schema": schema,
                         "live_subscribers": request.app.state.feed.subscribers})


def routes() -> list[BaseRoute]:
    return [Route("/v1/health", health, methods=["GET"], name="health")]
