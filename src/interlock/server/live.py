"""Live updates: every committed change pushed as it happens (docs/server.md, "Live updates").

- ``WS /v1/subscribe``: the client's first message is ``{"subscribe": {"machine": M, "instances":
  [ids]?}, "after": position?}``; the server answers ``{"subscribed": {"machine", "instances", "after"}}``
  then sends each change of that machine (or of those instances) in position order:
  ``{"position", "machine", "id", "step", "outcome", "at", "instance": Instance}``. Resume after a
  reconnect with ``"after"`` = the last position received: nothing is missed or repeated. Without
  ``after`` it starts from now.
- ``GET /v1/machines/{machine}/instances/{name}/stream``: the same for one instance as server-sent
  events (``id:`` the position; ``Last-Event-ID`` or ``?after=`` resumes). Without either, the first
  event (``event: instance``) is the instance as it is now, its ``id`` the position it is current at.

Both read like ``GET`` of an instance (the ``read`` scope; the context is its public part unless the
caller is admin). A subscriber too slow for its changes is dropped (WebSocket close 1013, or a last
``event: dropped``) with the position to resume from. Changes come from the process's one follower of
the change feed (server/feed.py), so those committed by any process on the database arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from interlock.auth.policy import caller_of
from interlock.auth.principal import Principal
from interlock.auth.tokens import LEEWAY
from interlock.errors import ForbiddenError, InterlockError, NotFoundError, UnauthenticatedError
from interlock.server.errors import ApiError, api_error_of, error_body
from interlock.server.feed import Dropped, Feed, Subscription, Update
from interlock.server.security import check_page, principal_of, require
from interlock.server.views import instance_view
from interlock.storage.store import Change

log = logging.getLogger("interlock.server.live")

FIRST_MESSAGE_TIMEOUT = 10.0  # seconds a WebSocket client has to send its subscribe message
MAX_MESSAGE = 64 * 1024  # bytes of a client's subscribe message
MAX_INSTANCES = 1000  # instance ids one subscription may name
MAX_CREDENTIALS = 8192  # characters of credentials in a subscribe message or ?access_token= (a JWT)
KEEPALIVE = 15.0  # seconds between SSE keep-alive comments when nothing changes
RECHECK_SECONDS = 1.0  # the least time between two verifications of a subscriber's key
CLOSE_POLICY, CLOSE_TRY_LATER = 1008, 1013  # WebSocket close codes (RFC 6455)


async def authorize_read(conn: HTTPConnection, machine: str, credentials: str | None = None) -> Reader:
    """The caller, if it may read ``machine``'s instances: the ``read`` scope, as ``GET`` needs. The
    machine's read rule then decides per change (:func:`visible`). ``credentials``: an ``Authorization``
    value a browser could not send as a header (the subscribe message's, or ``?access_token=``)."""
    principal = require(await principal_of(conn, credentials), "read")
    return Reader(conn, credentials or conn.headers.get("authorization"), principal)


class Reader:
    """A live subscriber's caller, verified again while it stays subscribed: a key revoked or a token
    expired after the subscription began ends it before the next change is sent (it was served changes
    for as long as the connection lasted). A key is looked up again every ``key_cache_seconds`` (the
    authenticator's cache answers in between, as for requests; at most once a second, so that without a
    cache 1,000 subscribers do not make 1,000 lookups a change); a token once its ``exp`` has passed."""

    def __init__(self, conn: HTTPConnection, credentials: str | None, principal: Principal) -> None:
        self.credentials = credentials  # None: development mode's developer
        self.principal = principal
        self._every: float = max(conn.app.state.config.key_cache_seconds, RECHECK_SECONDS)
        self._due = time.monotonic() + self._every

    def __repr__(self) -> str:
        return f"<Reader {self.principal!r}>"

    @property
    def owner(self) -> str | None:
        """Whose subscribers this one counts among (``live_max_per_caller``); admins are not counted."""
        return None if self.principal.admin else f"{self.principal.kind}:{self.principal.subject}"

    async def check(self, conn: HTTPConnection) -> None:
        """:class:`UnauthenticatedError` (or ForbiddenError: a scope lost) if the credentials no longer
        verify; otherwise nothing, and no work until they are due. A store that cannot answer a key's
        lookup ends nothing: the credentials are asked again when next due."""
        if self.credentials is None:
            return
        expires = self.principal.claims.get("exp") if self.principal.kind == "token" else None
        expired = isinstance(expires, int | float) and time.time() > expires + LEEWAY
        if not expired and time.monotonic() < self._due:
            return
        authenticator = conn.app.state.authenticator
        try:
            self.principal = require(await authenticator.authenticate(self.credentials), "read")
        except (UnauthenticatedError, ForbiddenError):
            raise
        except InterlockError as exc:  # the store could not answer (a key's lookup): not a refusal
            log.warning("could not verify a live subscriber's credentials again (%s); asking later", exc)
        self._due = time.monotonic() + self._every


async def visible(conn: HTTPConnection, update: Update, principal: Principal) -> bool:
    """May ``principal`` see this change? The read rule of the instance's machine version decides, on the
    instance as read for the change (it may be at a later step). A change the feed read no instance for
    is decided on the instance read now, and a version uploaded through another process is loaded first;
    an instance that is gone shows only to callers no rule restrains.

    The answer is kept on the update for each caller (``Update.readable``): a caller's subscriptions all
    get the same one, so its rule runs once per change, not once per subscription (one caller holding
    1,000 subscriptions to a machine whose read rule spends a whole work budget made each change 1,000
    budgets, on the event loop)."""
    who = caller_of(principal)
    if who is None:
        return True
    key = orjson.dumps(who, option=orjson.OPT_SORT_KEYS)
    known = update.readable.get(key)
    if known is None:
        known = update.readable[key] = await _decide(conn, update, principal)
    return known


async def _decide(conn: HTTPConnection, update: Update, principal: Principal) -> bool:
    state = conn.app.state
    instance = update.instance
    try:
        if instance is None:
            instance = await state.interlock.aio.get(update.change.machine, update.change.id)
        if not state.interlock.runtime.registry.has_version(instance.machine, instance.version):
            await state.catalog.ensure(instance.machine, instance.version)
    except NotFoundError:
        return False
    refusal = state.interlock.read_refusal(instance, principal)
    return refusal is None


def change_view(conn: HTTPConnection, update: Update, *, admin: bool) -> dict[str, Any]:
    c = update.change
    instance = None if update.instance is None else instance_view(
        conn.app.state.interlock, update.instance, admin=admin)
    return {"position": c.position, "machine": c.machine, "id": c.id, "step": c.step,
            "outcome": c.outcome, "at": c.at, "instance": instance}


def encoded_change(conn: HTTPConnection, update: Update, *, admin: bool) -> bytes:
    """:func:`change_view` as JSON, encoded once per update and view: every subscriber of a change
    gets the same bytes (1,000 subscribers, one encoding)."""
    encoded = update.encoded.get(admin)
    if encoded is None:
        encoded = update.encoded[admin] = orjson.dumps(change_view(conn, update, admin=admin))
    return encoded


def feed_of(conn: HTTPConnection) -> Feed:
    feed: Feed = conn.app.state.feed
    return feed


# -- WebSocket -------------------------------------------------------------------------------------

async def subscribe(ws: WebSocket) -> None:
    await ws.accept()
    try:
        request = await _first_message(ws)
        check_page(ws)  # answered, as every refusal, after the subscribe message
        machine, instances, after = _subscription(request)
        reader = await authorize_read(ws, machine, request.get("authorization"))
        await ws.app.state.catalog.ensure(machine)  # uploaded versions: this process can read them
        sub = await feed_of(ws).subscribe(_wanted(machine, instances), after=after, owner=reader.owner)
    except Dropped as exc:  # the process serves as many subscribers as it may
        await _close(ws, CLOSE_TRY_LATER, exc.reason.split(":", 1)[0])
        return
    except (ApiError, InterlockError, ValueError, WebSocketDisconnect) as exc:
        await _refuse(ws, exc)
        return
    try:
        await ws.send_bytes(orjson.dumps({"subscribed": {
            "machine": machine, "instances": sorted(instances) if instances else None,
            "after": sub.position}}))
        await _pump(ws, sub, reader)
    finally:
        sub.close()


async def _first_message(ws: WebSocket) -> Any:
    try:
        message = await asyncio.wait_for(ws.receive(), FIRST_MESSAGE_TIMEOUT)
    except TimeoutError:
        raise ApiError(400, "request.malformed", f"send the subscribe message within "
                       f"{FIRST_MESSAGE_TIMEOUT:g} seconds of connecting") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    data = message.get("text") or message.get("bytes") or b""
    if len(data) > MAX_MESSAGE:
        raise ApiError(413, "request.too_large", f"the subscribe message is over {MAX_MESSAGE} bytes")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "request.malformed", f"the subscribe message is not JSON: {exc}") from None


def _subscription(message: Any) -> tuple[str, frozenset[str] | None, int | None]:
    """``(machine, instance ids or None for all, after)`` of a subscribe message, checked."""
    example = '{"subscribe": {"machine": "order", "instances": ["order-1"]}, "after": 0}'
    if not isinstance(message, dict) or not isinstance(message.get("subscribe"), dict):
        raise ApiError(400, "request.malformed", f"the first message is a subscription: {example}")
    unknown = sorted(set(message) - {"subscribe", "after", "authorization"}) + sorted(
        set(message["subscribe"]) - {"machine", "instances"})
    if unknown:
        raise ApiError(400, "request.malformed", f"unknown field(s) {unknown} in the subscribe message; "
                       f"it looks like {example}")
    machine = message["subscribe"].get("machine")
    if not isinstance(machine, str) or not machine:
        raise ApiError(400, "request.malformed", f"subscribe.machine must be a machine's name: {example}")
    ids = message["subscribe"].get("instances")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)
                            or len(ids) > MAX_INSTANCES):
        raise ApiError(400, "request.malformed", f"subscribe.instances must be a list of at most "
                       f"{MAX_INSTANCES} instance ids (or left out for every instance)")
    after = message.get("after")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise ApiError(400, "request.malformed", f"after must be a position (an integer >= 0), not "
                       f"{after!r}")
    credentials = message.get("authorization")
    if credentials is not None and (not isinstance(credentials, str) or not credentials
                                    or len(credentials) > MAX_CREDENTIALS):
        raise ApiError(400, "request.malformed", f"authorization is what the Authorization header would "
                       f"hold (\"Bearer KEY\"), at most {MAX_CREDENTIALS} characters")
    return machine, None if ids is None else frozenset(ids), after


def _wanted(machine: str, instances: frozenset[str] | None) -> Callable[[Change], bool]:
    if instances is None:
        return lambda c: c.machine == machine
    return lambda c: c.machine == machine and c.id in instances


async def _pump(ws: WebSocket, sub: Subscription, reader: Reader) -> None:
    """Send changes until the client leaves or is dropped; a client's later messages are refused.

    The listener ends the subscription when the client leaves or writes (it drops ``sub``, which wakes
    a waiting ``next()``), so waiting for the next change needs no task of its own per change."""
    listener = asyncio.ensure_future(_listen(ws))
    listener.add_done_callback(lambda _: sub.drop(_CLIENT_DONE))
    try:
        while True:
            try:
                update = await sub.next()
            except Dropped as exc:
                if not listener.done():
                    await _close(ws, CLOSE_TRY_LATER, _short(exc.reason, sub.position))
                    return
            if listener.done():  # the client left or wrote: nothing more is sent
                reason = listener.result()
                if reason is not None:
                    await _close(ws, CLOSE_POLICY, reason)
                return
            try:
                await reader.check(ws)
            except (UnauthenticatedError, ForbiddenError) as exc:  # refused now: the change is not sent
                await _refuse(ws, exc)
                return
            principal = reader.principal
            if await visible(ws, update, principal):
                await ws.send_bytes(encoded_change(ws, update, admin=principal.admin))
    except WebSocketDisconnect:
        return
    finally:
        listener.cancel()


_CLIENT_DONE = "client.done: the client left or sent a second message"


async def _listen(ws: WebSocket) -> str | None:
    """None when the client disconnects; a reason to close when it sends anything more."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        return None
    return "one subscription per connection: open another connection for another one"


def _short(reason: str, position: int) -> str:
    """A close reason fits 123 bytes: the reason's code and where to resume."""
    return f"{reason.split(':', 1)[0]}; resume with after={position}"


async def _refuse(ws: WebSocket, exc: BaseException) -> None:
    if isinstance(exc, WebSocketDisconnect):
        return
    error = api_error_of(exc)
    with contextlib.suppress(Exception):  # the client may be gone already
        await ws.send_bytes(orjson.dumps(error_body(error)))
    await _close(ws, CLOSE_POLICY, error.code)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code, reason[:123])


# -- server-sent events ----------------------------------------------------------------------------

async def stream(request: Request) -> StreamingResponse:
    machine, name = request.path_params["machine"], request.path_params["name"]
    reader = await authorize_read(request, machine, _query_credentials(request))
    interlock = request.app.state.interlock
    await request.app.state.catalog.ensure_instance_version(machine, name)
    # 404 for an unknown instance (403 if its machine's read rule refuses), before the stream starts
    await interlock.aio.get(machine, name, caller=reader.principal)
    after = _resume_position(request)
    try:
        sub = await feed_of(request).subscribe(lambda c: c.machine == machine and c.id == name, after=after,
                                               owner=reader.owner)
    except Dropped as exc:
        code, _, message = exc.reason.partition(": ")
        raise ApiError(429 if code == "subscribers.caller_full" else 503, code, message) from None
    return StreamingResponse(_events(request, sub, reader, snapshot=after is None),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _query_credentials(request: Request) -> str | None:
    """``?access_token=`` (RFC 6750, 2.3) as a bearer credential: a browser's ``EventSource`` cannot set
    the header. Kept out of the access log (interlock serve redacts it); prefer short-lived tokens."""
    tokens = request.query_params.getlist("access_token")
    if not tokens:
        return None
    if len(tokens) > 1:  # which one would be used is no choice for a server to make
        raise UnauthenticatedError("access_token came more than once; send it once",
                                   reason="credentials.twice")
    token = tokens[0]
    if not token or len(token) > MAX_CREDENTIALS:
        raise ApiError(400, "request.malformed", f"access_token must be a key or token of at most "
                       f"{MAX_CREDENTIALS} characters")
    return f"Bearer {token}"


def _resume_position(request: Request) -> int | None:
    text = request.headers.get("last-event-id") or request.query_params.get("after")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 19:  # '²' is a digit to isdigit, not to int
        raise ApiError(400, "request.malformed", f"Last-Event-ID (or ?after=) is a position, an integer "
                       f">= 0, not {text[:40]!r}")
    return int(text)


async def _events(request: Request, sub: Subscription, reader: Reader, *,
                  snapshot: bool) -> AsyncIterator[bytes]:
    try:
        if snapshot:
            machine, name = request.path_params["machine"], request.path_params["name"]
            instance = await request.app.state.interlock.aio.get(machine, name, caller=reader.principal)
            view = instance_view(request.app.state.interlock, instance, admin=reader.principal.admin)
            yield _sse("instance", sub.position, view)
        while True:
            try:
                update = await asyncio.wait_for(sub.next(), KEEPALIVE)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            except Dropped as exc:
                yield _sse("dropped", sub.position, {"reason": exc.reason, "after": sub.position})
                return
            try:
                await reader.check(request)
            except (UnauthenticatedError, ForbiddenError) as exc:  # refused now: the change is not sent
                error = api_error_of(exc)
                after = update.change.position - 1
                yield _sse("dropped", after, {"reason": f"{error.code}: {error.message}", "after": after})
                return
            principal = reader.principal
            if await visible(request, update, principal):
                yield _sse("change", update.change.position, change_view(request, update,
                                                                         admin=principal.admin))
    finally:
        sub.close()


def _sse(event: str, position: int, data: Any) -> bytes:
    return b"event: %s\nid: %d\ndata: %s\n\n" % (event.encode(), position, orjson.dumps(data))


def routes() -> list[BaseRoute]:
    return [WebSocketRoute("/v1/subscribe", subscribe, name="subscribe"),
            Route("/v1/machines/{machine}/instances/{name}/stream", stream, methods=["GET"],
                  name="instance_stream")]
