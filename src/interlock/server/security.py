"""Who a request acts as, and whether it may: the one place routes ask (docs/server.md, "Authorization").

Scopes: reads need ``read``; uploading a machine version ``machines:write``; create, pause, resume and
cancel ``instances:write``; sending ``events:write``; admin reads (full context, timers, tasks,
children) and keys ``admin`` (which holds every scope).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from interlock.auth.bearer import Bearer
from interlock.auth.keys import ApiKeys
from interlock.auth.principal import DEVELOPER, Authenticator, Principal
from interlock.auth.tokens import Tokens
from interlock.errors import ForbiddenError, UnauthenticatedError
from interlock.server.config import LOOPBACK, ServerConfig
from interlock.server.limits import CALLER

if TYPE_CHECKING:
    from interlock.app import Interlock


async def principal_of(request: HTTPConnection, credentials: str | None = None) -> Principal:
    """In development mode a request without an ``Authorization`` header is :data:`DEVELOPER`; any other
    request is the app's authenticator's to verify (API keys and tokens by default: create_app).

    ``credentials``: what a live route took from elsewhere than the header, as browsers cannot set it on
    a WebSocket or an ``EventSource`` (docs/server.md, "Browsers"); a request that
    carries both is refused, as is one with two ``Authorization`` headers: which one counts would be a
    choice the rate limit (server/limits.py, the last) and this (the first) need not make alike."""
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        raise UnauthenticatedError("the Authorization header came more than once; send it once",
                                   reason="credentials.twice")
    header = headers[0] if headers else None
    if credentials is not None:
        if header is not None:
            raise UnauthenticatedError("credentials came twice (the Authorization header, and the "
                                       "subscribe message or ?access_token=); send them once",
                                       reason="credentials.twice")
        header = credentials
    state = request.app.state
    if state.config.dev and header is None:
        _check_local(request)
        return DEVELOPER
    principal: Principal = await state.authenticator.authenticate(header)
    # the rate limit's client from now on (server/limits.py): the caller, not this one credential
    request.scope.setdefault("state", {})[CALLER] = f"{principal.kind}:{principal.subject}"
    return principal


def default_authenticator(interlock: Interlock, config: ServerConfig) -> Authenticator:
    """API keys of the Interlock's store, and end users' JWTs when ``config`` sets them up (docs/auth.md)."""
    tokens = None
    if config.jwt_secret is not None or config.jwt_jwks_url is not None:
        tokens = Tokens(secret=config.jwt_secret, jwks_url=config.jwt_jwks_url, issuer=config.jwt_issuer,
                        audience=config.jwt_audience, algorithms=config.jwt_algorithms,
                        scopes_claim=config.jwt_scopes_claim)
    return Bearer(ApiKeys(interlock.runtime.store, ttl=config.key_cache_seconds), tokens)


def _check_local(conn: HTTPConnection) -> None:
    """Development mode's admin without credentials is for the developer's own programs: a request whose
    ``Host`` is not a loopback name (DNS rebinding) or that a web page of another site sent (its
    ``Origin``, as browsers set on cross-site requests and WebSocket handshakes) is refused."""
    host = _hostname(conn.headers.get("host", ""))
    origin = conn.headers.get("origin")
    if host not in LOOPBACK or (origin is not None and _hostname(urlsplit(origin).netloc) not in LOOPBACK):
        raise UnauthenticatedError(
            f"development mode serves requests without credentials to this machine's own programs only; "
            f"this one came for host {conn.headers.get('host')!r}"
            + (f" from a page of {origin!r}" if origin is not None else "")
            + "; send credentials, or call http://127.0.0.1 or http://localhost directly",
            reason="dev.not_local")


# in development mode, pages served from this machine (a front end's dev server on another port) are the
# developer's own: CORS lets them call the API and read the answers (server/app.py)
LOOPBACK_ORIGIN = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"


def check_page(conn: HTTPConnection) -> None:
    """A WebSocket opened by a web page (browsers send its ``Origin``) is served to the pages CORS lets
    call the API: the server's own (same host), ``cors_origins``, and in development mode this machine's.
    Other clients send no ``Origin`` and are not concerned."""
    origin = conn.headers.get("origin")
    if origin is None:
        return
    config: ServerConfig = conn.app.state.config
    if "*" in config.cors_origins or origin in config.cors_origins:
        return
    if urlsplit(origin).netloc.lower() == conn.headers.get("host", "").lower():
        return
    if config.dev and re.fullmatch(LOOPBACK_ORIGIN, origin):
        return
    raise ForbiddenError(f"pages of {origin[:200]!r} may not use this server's live updates: it is not "
                         "among cors_origins (docs/server.md, \"Browsers\")", reason="origin.refused")


def _hostname(netloc: str) -> str:
    """``host`` of ``host:port`` or ``[v6]:port``, lower case."""
    if netloc.startswith("["):
        return netloc[1:netloc.find("]")].lower() if "]" in netloc else ""
    return netloc.rsplit(":", 1)[0].lower() if netloc.count(":") == 1 else netloc.lower()


def require(principal: Principal, scope: str) -> Principal:
    """``principal`` if it holds ``scope`` (or admin); :class:`ForbiddenError` otherwise."""
    if not principal.allows(scope):
        raise ForbiddenError(f"this call needs the {scope!r} scope; the caller {principal.subject!r} has "
                             f"{', '.join(sorted(principal.scopes)) or 'none'}", reason="scope.missing")
    return principal


async def authorize(request: HTTPConnection, scope: str) -> Principal:
    """The caller of ``request``, if it holds ``scope``."""
    return require(await principal_of(request), scope)
