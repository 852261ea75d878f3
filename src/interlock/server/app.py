"""The ASGI app: routes from the modules in :data:`ROUTE_MODULES`, one error format, limits, and a
lifespan that starts the Interlock's worker and, on shutdown, lets queued writes finish and closes it
(leases released, nothing acknowledged lost).

    app = create_app(Interlock("sqlite:///app.db"), ServerConfig(dev=True))
    uvicorn.run(app)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.app import Interlock
from interlock.auth.principal import Authenticator
from interlock.server import (
    admin,
    basichttp,
    events,
    health,
    history,
    instances,
    keys,
    live,
    machines,
    openapi,
    webhooks,
)
from interlock.server.catalog import Catalog
from interlock.server.config import ServerConfig
from interlock.server.errors import EXCEPTION_HANDLERS, ApiError, api_error_of, error_response
from interlock.server.feed import Feed
from interlock.server.limits import BodyLimit, NoNul, RateLimit
from interlock.server.security import LOOPBACK_ORIGIN, default_authenticator

log = logging.getLogger("interlock.server")

# each module exposes routes() -> list[BaseRoute] (and may describe them: openapi_paths() -> {path: item});
# a new concept adds its module here
ROUTE_MODULES: tuple[Any, ...] = (health, machines, instances, events, history, admin, keys, live,
                                  basichttp, webhooks, openapi)
HOT_ROUTES = frozenset({"send_event"})  # tried first (sends are most of a busy server's requests)
# what a browser page of an allowed origin may send and read (ServerConfig.cors_origins)
CORS_METHODS = ["GET", "POST", "PUT", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"]
CORS_EXPOSED = ["Retry-After"]
CORS_MAX_AGE = 600  # seconds a browser may reuse a preflight's answer


class Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight in the API's error format (``cors.refused``, naming what
    was refused: the origin, the method or a header) rather than plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        refused = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        return error_response(ApiError(
            400, "cors.refused", f"this server does not let pages of {request_headers.get('origin', '')[:200]!r} "
            f"make this request (refused: {refused}); allowed origins are the cors_origins setting, allowed "
            f"methods {', '.join(CORS_METHODS)}, headers {', '.join(CORS_HEADERS)}"))


class FailuresInsideCors:
    """An unexpected failure answered inside CORS: Starlette answers one (500 ``internal``) in its
    outermost layer, which the CORS headers never reach, so a page could not read the answer (the
    browser reports a CORS error instead). The same answer here, then the failure goes on to be logged
    as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if not started:
                await error_response(api_error_of(exc))(scope, receive, send)
            raise


def create_app(interlock: Interlock, config: ServerConfig, *,
               authenticator: Authenticator | None = None) -> Starlette:
    """The API over ``interlock``, which the app owns from now on: its lifespan closes it.

    Credentials are verified by ``authenticator``, by default API keys from the Interlock's store and,
    when ``config`` sets them up, end users' JWTs (docs/auth.md)."""
    routes = [route for module in ROUTE_MODULES for route in module.routes()]
    # Starlette tries routes in order, a regular expression each: the busiest goes first (no other
    # route's path matches a send's, so the order changes nothing else)
    routes.sort(key=lambda route: getattr(route, "name", None) not in HOT_ROUTES)
    middleware = [Middleware(RateLimit, rate=config.rate, burst=config.burst),
                  Middleware(BodyLimit, limit=config.max_body_bytes), Middleware(NoNul),
                  Middleware(events.SendFastPath)]  # innermost: sends meet the limits (and CORS) first
    if config.cors_origins or config.dev:  # outermost: refusals (429, 413) carry the headers a page
        # needs to read them
        middleware[:0] = [Middleware(Cors, allow_origins=list(config.cors_origins),
                                     allow_origin_regex=LOOPBACK_ORIGIN if config.dev else None,
                                     allow_methods=CORS_METHODS, allow_headers=CORS_HEADERS,
                                     expose_headers=CORS_EXPOSED, max_age=CORS_MAX_AGE),
                          Middleware(FailuresInsideCors)]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=EXCEPTION_HANDLERS,
                    lifespan=_lifespan)
    app.state.interlock = interlock
    app.state.config = config
    app.state.authenticator = authenticator if authenticator is not None else default_authenticator(
        interlock, config)
    app.state.catalog = Catalog(interlock)
    described = [m.openapi_paths() for m in ROUTE_MODULES if hasattr(m, "openapi_paths")]
    app.state.openapi = openapi.build_openapi(config.max_page_size,
                                              {k: v for paths in described for k, v in paths.items()})
    app.state.feed = Feed(interlock, queue_size=config.live_queue_size,
                          max_subscribers=config.live_max_subscribers, max_per_owner=config.live_max_per_caller)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    interlock: Interlock = app.state.interlock
    config: ServerConfig = app.state.config
    interlock.receive_http_events(f"{config.url()}/v1/basichttp/")
    interlock.start()
    try:
        yield
    finally:
        await app.state.feed.close()  # live subscribers are told the server is closing
        await asyncio.to_thread(interlock.close)
        log.info("interlock closed: leases released")

