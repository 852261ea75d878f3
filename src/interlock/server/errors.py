"""One error format for every response that is not a success (docs/server.md, "Errors")::

    {"error": {"status": 422, "code": "definition.invalid", "message": "...",
               "details": [{"path": "states.a.on.GO", "message": "...", "hint": "..."}]}}

``code`` is a stable dotted string clients may branch on; ``message`` is for people. Interlock's errors map
to statuses here, in one place::

    ApiError                the server's own refusals (a bad request, a limit), with their code
    DefinitionError   422   definition.invalid (details: every problem, with its path and hint)
    NotFoundError     404   not_found.machine | not_found.version | not_found.instance
    ConflictError     409   conflict.instance (a route raises conflict.version itself)
    EventRejectedError 422  event.rejected
    StepLimitError    422   step.limit
    InstanceBusyError 429   instance.busy (with Retry-After: 1)
    UnauthenticatedError 401 auth.<reason> (with WWW-Authenticate: Bearer)
    ForbiddenError    403   auth.<reason>
    StorageError      503   storage.failed
    TimeoutError      503   storage.failed (a write that did not settle within send_timeout)
    ValueError, TypeError 400 request.malformed (the runtime's argument checks)
    anything else     500   internal (logged; the message says nothing of it)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from interlock.errors import (
    ConflictError,
    DefinitionError,
    EventRejectedError,
    ForbiddenError,
    InstanceBusyError,
    InterlockError,
    NotFoundError,
    StepLimitError,
    StorageError,
    UnauthenticatedError,
)

log = logging.getLogger("interlock.server")


class ApiError(Exception):
    """A refusal with its HTTP status and stable code; ``details`` are ``{"path","message","hint"}``."""

    def __init__(self, status: int, code: str, message: str, *, details: Sequence[dict[str, str]] = (),
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"<ApiError {self.status} {self.code}: {self.message}>"


def error_body(error: ApiError) -> dict[str, Any]:
    """The one error format: ``{"error": {"status", "code", "message", "details"}}`` (HTTP answers and
    WebSocket messages alike)."""
    return {"error": {"status": error.status, "code": error.code, "message": error.message,
                      "details": error.details}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error), status_code=error.status, headers=error.headers)


def api_error_of(exc: BaseException) -> ApiError:
    """The HTTP form of an exception raised while handling a request."""
    match exc:
        case ApiError():
            return exc
        case DefinitionError():
            details = [{"path": p.path, "message": p.message, "hint": p.hint} for p in exc.problems
                       if p.severity == "error"]
            return ApiError(422, "definition.invalid", str(exc), details=details)
        case NotFoundError():
            return ApiError(404, _not_found_code(str(exc)), str(exc))
        case EventRejectedError():
            return ApiError(422, "event.rejected", str(exc))
        case StepLimitError():
            return ApiError(422, "step.limit", str(exc))
        case InstanceBusyError():
            return ApiError(429, "instance.busy", str(exc), headers={"Retry-After": "1"})
        case UnauthenticatedError():
            return ApiError(401, f"auth.{exc.reason}", str(exc), headers={"WWW-Authenticate": "Bearer"})
        case ForbiddenError():
            return ApiError(403, f"auth.{exc.reason}", str(exc))
        case ConflictError():
            return ApiError(409, "conflict.instance", str(exc))
        case StorageError():
            return ApiError(503, "storage.failed", str(exc))
        case TimeoutError():
            return ApiError(503, "storage.failed", "the write did not settle within the server's "
                            "send_timeout; it may still be applied: retry with the same Idempotency-Key")
        case InterlockError():
            return ApiError(500, "internal", "the server failed to handle the request")
        case ValueError() | TypeError():
            return ApiError(400, "request.malformed", str(exc))
        case HTTPException():
            return _http_error(exc)
    return ApiError(500, "internal", "the server failed to handle the request; it is logged")


def _not_found_code(message: str) -> str:
    # the runtime's NotFoundError does not say what was missing but in its message (runtime/registry.py)
    if "has no version" in message:
        return "not_found.version"
    if message.startswith("no API key"):
        return "not_found.key"
    if message.startswith("unknown machine") or "no machine" in message:
        return "not_found.machine"
    return "not_found.instance"


def _http_error(exc: HTTPException) -> ApiError:
    if exc.status_code == 404:
        return ApiError(404, "not_found.route", "no such route; see /docs for the routes of this API")
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return ApiError(405, "request.method_not_allowed",
                        f"this route does not take that method; it takes {allowed or 'other methods'}",
                        headers={"Allow": allowed} if allowed else None)
    return ApiError(exc.status_code, "request.malformed", str(exc.detail))


async def handle_error(request: Request, exc: Exception) -> Response:
    error = api_error_of(exc)
    if error.status >= 500 and error.code == "internal":
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(error)


EXCEPTION_HANDLERS: dict[Any, Any] = {Exception: handle_error, HTTPException: handle_error,
                                      ApiError: handle_error, InterlockError: handle_error,
                                      ValueError: handle_error, TypeError: handle_error,
                                      TimeoutError: handle_error}
