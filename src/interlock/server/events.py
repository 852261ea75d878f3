"""Sending an event to an instance: wait for it to settle (200 SendResult), or only queue it
(``?wait=false``: 202). ``Idempotency-Key`` makes a retried send apply once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.errors import NotFoundError
from interlock.server.bodies import json_object
from interlock.server.errors import ApiError
from interlock.server.security import authorize
from interlock.server.views import send_view

log = logging.getLogger("interlock.server")


async def send(request: Request) -> JSONResponse:
    principal = authorize(request, "events:write")
    machine, name = request.path_params["machine"], request.path_params["name"]
    event = await json_object(request)
    key = request.headers.get("idempotency-key")
    wait = request.query_params.get("wait", "true").lower()
    if wait not in ("true", "false", "1", "0"):
        raise ApiError(400, "request.malformed", f"?wait= must be true or false, not {wait[:20]!r}")
    state = request.app.state
    aio = state.interlock.aio
    if wait in ("false", "0"):
        await state.catalog.ensure_instance_version(machine, name)
        # checked and queued to the writer now; the write commits after the answer (graceful shutdown
        # waits for it: server/app.py)
        task = asyncio.ensure_future(aio.send(machine, name, event, idempotency_key=key))
        await asyncio.sleep(0)  # the task checks the event and queues it, or fails: then answer that
        failure = task.exception() if task.done() else None
        if failure is not None:
            raise failure
        state.background.add(task)
        task.add_done_callback(lambda t: _finished(t, state.background, machine, name))
        return JSONResponse({"accepted": True}, status_code=202)
    try:  # the instance's version is nearly always loaded: no read of the instance before the send
        result = await aio.send(machine, name, event, idempotency_key=key, timeout=state.config.send_timeout)
    except NotFoundError:  # a version uploaded through another process (or no such instance): load, retry
        await state.catalog.ensure_instance_version(machine, name)
        result = await aio.send(machine, name, event, idempotency_key=key, timeout=state.config.send_timeout)
    return JSONResponse(send_view(state.interlock, result, admin=principal.admin))


def _finished(task: asyncio.Future[Any], pending: set[Any], machine: str, name: str) -> None:
    pending.discard(task)
    if not task.cancelled() and task.exception() is not None:  # nobody waits for it: it goes to the log
        log.warning("an event sent with ?wait=false to %s/%s failed: %s", machine, name, task.exception())


def routes() -> list[BaseRoute]:
    return [Route("/v1/machines/{machine}/instances/{name}/events", send, methods=["POST"], name="send_event")]
