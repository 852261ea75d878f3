"""Is this server up, and can it read its store?"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock import __version__


async def health(request: Request) -> JSONResponse:
    interlock = request.app.state.interlock
    schema = await asyncio.to_thread(interlock.runtime.store.schema_version)  # StorageError: 503
    return JSONResponse({"status": "ok", "version": __version__, "schema": schema})


def routes() -> list[BaseRoute]:
    return [Route("/v1/health", health, methods=["GET"], name="health")]
