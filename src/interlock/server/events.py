"""Sending an event to an instance: the new state once it settled (200 SendResult), or only that it
is committed (``?wait=false``: 202). ``Idempotency-Key`` makes a retried send apply once."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.app import AsyncInterlock
from interlock.auth.principal import Principal
from interlock.errors import NotFoundError
from interlock.runtime.model import SendResult
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
    if wait in ("false", "0"):
        # answered once the event is committed (applied, or queued behind others): an acknowledged event
        # survives a crash; the answer carries no state, so no view of the instance is built
        await _send(request, principal, machine, name, event, key, timeout=None)
        return JSONResponse({"accepted": True}, status_code=202)
    result = await _send(request, principal, machine, name, event, key, timeout=state.config.send_timeout)
    return JSONResponse(send_view(state.interlock, result, principal))


async def _send(request: Request, caller: Principal, machine: str, name: str, event: dict[str, Any],
                key: str | None, *, timeout: float | None) -> SendResult:
    """The machine's send rule decides in the event's transaction (403 ``auth.rule.*``)."""
    state = request.app.state
    aio: AsyncInterlock = state.interlock.aio
    try:  # the instance's version is nearly always loaded: no read of the instance before the send
        return await aio.send(machine, name, event, idempotency_key=key, timeout=timeout, caller=caller)
    except NotFoundError:  # a version uploaded through another process (or no such instance): load, retry
        await state.catalog.ensure_instance_version(machine, name)
        return await aio.send(machine, name, event, idempotency_key=key, timeout=timeout, caller=caller)


def routes() -> list[BaseRoute]:
    return [Route("/v1/machines/{machine}/instances/{name}/events", send, methods=["POST"], name="send_event")]
