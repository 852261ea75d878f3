"""Sending an event to an instance: the new state once it settled (200 SendResult), or only that it
is committed (``?wait=false``: 202). ``Idempotency-Key`` makes a retried send apply once.

Sends are most of a busy server's requests, so besides the Starlette route a direct ASGI path
(:class:`SendFastPath`, innermost of the app's middleware: inside the rate and body limits and CORS)
answers them without the router, the exception middleware's wrappers and the request and response
objects: the same checks in the same order (:func:`answer`), the same errors through the same handler,
the same answer (its JSON encoded by orjson). docs/benchmarks.md, "Server", has what it saves.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from interlock.app import AsyncInterlock
from interlock.auth.principal import Principal
from interlock.errors import NotFoundError
from interlock.runtime.model import SendResult
from interlock.server.bodies import json_object_of, media_type_of
from interlock.server.errors import EXCEPTION_HANDLERS, ApiError, handle_error
from interlock.server.security import authorize
from interlock.server.views import send_view

# what Starlette's exception middleware answers (the rest, Exception itself, its server error middleware)
HANDLED = tuple(kind for kind in EXCEPTION_HANDLERS if kind is not Exception)


async def send(request: Request) -> Response:
    machine, name = request.path_params["machine"], request.path_params["name"]
    status, body = await answer(request, machine, name, request.query_params.get("wait"), request.body)
    return Response(body, status_code=status, media_type="application/json")


async def answer(conn: HTTPConnection, machine: str, name: str, wait_param: str | None,
                 read_body: Any) -> tuple[int, bytes]:
    """The status and JSON body answering a send (``read_body()``: the request's body)."""
    principal = await authorize(conn, "events:write")
    event = json_object_of(await read_body(), media_type_of(conn.headers))
    key = conn.headers.get("idempotency-key")
    wait = (wait_param if wait_param is not None else "true").lower()
    if wait not in ("true", "false", "1", "0"):
        raise ApiError(400, "request.malformed", f"?wait= must be true or false, not {wait[:20]!r}")
    state = conn.app.state
    if wait in ("false", "0"):
        # answered once the event is committed (applied, or queued behind others): an acknowledged event
        # survives a crash; the answer carries no state, so no view of the instance is built
        await _send(conn, principal, machine, name, event, key, timeout=None)
        return 202, b'{"accepted":true}'
    result = await _send(conn, principal, machine, name, event, key, timeout=state.config.send_timeout)
    return 200, orjson.dumps(send_view(state.interlock, result, principal))


async def _send(conn: HTTPConnection, caller: Principal, machine: str, name: str, event: dict[str, Any],
                key: str | None, *, timeout: float | None) -> SendResult:
    """The machine's send rule decides in the event's transaction (403 ``auth.rule.*``)."""
    state = conn.app.state
    aio: AsyncInterlock = state.interlock.aio
    try:  # the instance's version is nearly always loaded: no read of the instance before the send
        return await aio.send(machine, name, event, idempotency_key=key, timeout=timeout, caller=caller)
    except NotFoundError:  # a version uploaded through another process (or no such instance): load, retry
        await state.catalog.ensure_instance_version(machine, name)
        return await aio.send(machine, name, event, idempotency_key=key, timeout=timeout, caller=caller)


class SendFastPath:
    """ASGI middleware: a POST to the send route's path (matched by the route's own pattern, at the root
    path) is answered here; any other request goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = ROUTE.path_regex.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)

        async def read_body() -> bytes:  # as Starlette's Request.body, without its async generator
            chunks = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return b"".join(chunks)

        query = scope["query_string"]
        wait = QueryParams(query).get("wait") if query else None
        try:
            status, body = await answer(conn, match["machine"], match["name"], wait, read_body)
        except HANDLED as exc:
            await (await handle_error(Request(scope, receive), exc))(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


ROUTE = Route("/v1/machines/{machine}/instances/{name}/events", send, methods=["POST"], name="send_event")


def routes() -> list[BaseRoute]:
    return [ROUTE]

