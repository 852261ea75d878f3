"""Limits every request meets before a route runs (docs/limits.md, "Server"): the body size, and a rate
per client. Both are plain ASGI middleware, so routes other modules add are covered too."""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlock.server.errors import ApiError, error_body, error_response

MAX_CLIENTS = 10_000  # token buckets kept; the least recently seen client is forgotten first
# where authentication leaves, in the request's ``scope["state"]``, who the caller is (server/security.py):
# every credential of one caller (an end user's successive tokens, say) then draws on one bucket
CALLER = "interlock.caller"


class NoNul:
    """Refuses a URL whose path or query holds the NUL character (``%00``) with 400 ``request.malformed``:
    no machine, version, instance, key or cursor holds it (PostgreSQL text cannot), so the store's refusal
    would be a 503 ``storage.failed``, a server's failure to the client (which retries it), on one store
    and not on the other."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (
                "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")):
            if scope["type"] == "http":
                await error_response(ApiError(400, "request.malformed", "the URL holds the NUL character "
                                              "(%00), which no name, id or cursor of this API holds"))(
                    scope, receive, send)
            else:  # a handshake refused: 403, as the ASGI spec has a socket closed before it is accepted
                await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses a body over ``limit`` bytes with 413 ``request.too_large``: at once when its
    ``Content-Length`` says so, else as soon as the streamed bytes pass the limit."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ApiError(413, "request.too_large", self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return (f"the request body is larger than this server's limit of {self.limit} bytes "
                "(max_body_bytes); send less, or store large payloads elsewhere and send a reference")

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(ApiError(413, "request.too_large", self._message(),
                                           headers={"Connection": "close"}))
        await response(scope, receive, send)


class RateLimit:
    """A token bucket per client: ``burst`` requests at once, then ``rate`` per second; over it, 429
    ``rate.limited`` with ``Retry-After`` (whole seconds).

    A client is the caller its credentials (the ``Authorization`` header) proved to be, once a response
    other than 401 accepted them: an API key, or an end user whatever token they present (the ``sub``
    of every JWT they hold shares one bucket). Before that, and after a 401 (revoked, expired), a client
    is its IP address: made-up credentials cannot buy a bucket of their own."""

    def __init__(self, app: ASGIApp, *, rate: float, burst: int) -> None:
        self.app = app
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, at)
        # credentials a response accepted -> the caller they proved (whose bucket they draw on)
        self._accepted: OrderedDict[str, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.rate > 0:
            await self._handshake(scope, receive, send)
            return
        if scope["type"] != "http" or self.rate <= 0:
            await self.app(scope, receive, send)
            return
        credentials = _credentials_of(scope)
        client = (self._accepted.get(credentials) if credentials is not None else None) or _address_of(scope)
        wait = self.take(client, time.monotonic())
        if wait > 0:
            await error_response(self._limited(wait))(scope, receive, send)
            return
        if credentials is None:
            await self.app(scope, receive, send)
            return

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                caller = scope.get("state", {}).get(CALLER)
                self.accepted(credentials, message["status"] != 401 and caller is not None, caller)
            await send(message)

        await self.app(scope, receive, observed)

    async def _handshake(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket handshake takes a token like a request (by address: a browser's credentials come
        in the subscribe message, after the handshake). Over the rate it is accepted, told why in the
        API's error format, and closed with 1013 (try again later)."""
        wait = self.take(_address_of(scope), time.monotonic())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        error = self._limited(wait)
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "bytes": orjson.dumps(error_body(error))})
        await send({"type": "websocket.close", "code": 1013,
                    "reason": f"rate.limited; retry after {error.headers['Retry-After']} s"})

    def _limited(self, wait: float) -> ApiError:
        retry = max(1, math.ceil(wait))
        return ApiError(429, "rate.limited", f"too many requests from this client: at most {self.rate:g} per "
                        f"second (bursts of {self.burst}); retry after {retry} s",
                        headers={"Retry-After": str(retry)})

    def accepted(self, credentials: str, yes: bool, caller: str | None = None) -> None:
        """Remember (or forget) that a response accepted ``credentials`` as ``caller``."""
        if not yes or caller is None:
            self._accepted.pop(credentials, None)
            return
        self._accepted[credentials] = "caller:" + caller
        self._accepted.move_to_end(credentials)
        if len(self._accepted) > MAX_CLIENTS:
            self._accepted.popitem(last=False)

    def take(self, client: str, now: float) -> float:
        """Take a token for ``client``; 0 if there was one, else the seconds until there is."""
        tokens, at = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            tokens -= 1
            wait = 0.0
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


def _header(scope: Scope, name: bytes) -> bytes | None:
    """The last value of header ``name`` (lower case), as ``dict(scope["headers"])`` would give, without
    building the dict."""
    found = None
    for key, value in scope["headers"]:
        if key == name:
            found = value
    return found


def _credentials_of(scope: Scope) -> str | None:
    authorization = _header(scope, b"authorization")
    return "auth:" + hashlib.sha256(authorization).hexdigest()[:32] if authorization else None


def _address_of(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip:{client[0]}" if client else "ip:unknown"
