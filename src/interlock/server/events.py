"""Sending an event to an instance: the new state once it settled (200 SendResult), or only that it
is committed (``?wait=false``: 202). ``Idempotency-Key`` makes a retried send apply once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.server.bodies import json_object
from interlock.server.errors import ApiError
from interlock.server.security import authorize
from interlock.server.views import send_view


async def send(request: Request) -> JSONResponse:
    principal = await authorize(request, "events:write")
    machine, name = request.path_params["machine"], request.path_params["name"]
    event = await json_object(request)
    key = request.headers.get("idempotency-key")
    wait = request.query_params.get("wait", "true").lower()
    if wait not in ("true", "false", "1", "0"):
        raise ApiError(400, "request.malformed", f"?wait= must be true or false, not {wait[:20]!r}")
    state = request.app.state
    await state.catalog.ensure_instance_version(machine, name)
    aio = state.interlock.aio
    if wait in ("false", "0"):
        # answered once the event is committed (applied, or queued behind others): an acknowledged event
        # survives a crash; the answer carries no state, so no view of the instance is built
        await aio.send(machine, name, event, idempotency_key=key)
        return JSONResponse({"accepted": True}, status_code=202)
    result = await aio.send(machine, name, event, idempotency_key=key, timeout=state.config.send_timeout)
    return JSONResponse(send_view(state.interlock, result, admin=principal.admin))


def routes() -> list[BaseRoute]:
    return [Route("/v1/machines/{machine}/instances/{name}/events", send, methods=["POST"], name="send_event")]
