"""Who a request acts as, and whether it may: the one place routes ask (docs/server.md, "Authorization").

Scopes: reads need ``read``; uploading a machine version ``machines:write``; create, pause, resume and
cancel ``instances:write``; sending ``events:write``; admin reads (full context, timers, tasks,
children) and keys ``admin`` (which holds every scope).
"""

from __future__ import annotations

from starlette.requests import Request

from interlock.auth.principal import DEVELOPER, Principal
from interlock.errors import ForbiddenError, UnauthenticatedError


def principal_of(request: Request) -> Principal:
    """In development mode a request without an ``Authorization`` header is :data:`DEVELOPER`; any other
    request is the authenticator's to verify (none configured, outside development mode: 401)."""
    header = request.headers.get("authorization")
    state = request.app.state
    if state.config.dev and header is None:
        return DEVELOPER
    if state.authenticator is None:
        raise UnauthenticatedError(
            "this server has no way to verify credentials: run it with an authenticator (API keys or "
            "tokens), or in development mode (--dev, loopback only) without an Authorization header",
            reason="credentials.missing")
    principal: Principal = state.authenticator.authenticate(header)
    return principal


def require(principal: Principal, scope: str) -> Principal:
    """``principal`` if it holds ``scope`` (or admin); :class:`ForbiddenError` otherwise."""
    if not principal.allows(scope):
        raise ForbiddenError(f"this call needs the {scope!r} scope; the caller {principal.subject!r} has "
                             f"{', '.join(sorted(principal.scopes)) or 'none'}", reason="scope.missing")
    return principal


def authorize(request: Request, scope: str) -> Principal:
    """The caller of ``request``, if it holds ``scope``."""
    return require(principal_of(request), scope)
