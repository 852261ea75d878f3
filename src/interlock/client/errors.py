"""The server's error answers turned back into Interlock's exception tree.

Every error body has one shape (docs/server.md)::

    {"error": {"status": 422, "code": "definition.invalid", "message": "...", "details": [...]}}

and each maps onto the same exception the embedded API raises, so ``except NotFoundError`` works whether
the instance lives in this process or behind a server::

    404                      NotFoundError
    409                      ConflictError
    422 definition.invalid   DefinitionError (``problems`` from ``details``)
    422 step.limit           StepLimitError
    422 (other)              EventRejectedError
    401                      UnauthenticatedError (``reason``: the code without ``auth.``)
    403                      ForbiddenError (``reason``)
    other 4xx (400, 413...)  RequestError       ┐
    429                      RateLimitedError   ├ HTTPError(InterlockError): ``status``, ``code``, ``details``
    5xx, anything else       ServerError        ┘
    no answer at all         UnreachableError(InterlockError)

Every error raised from an answer also carries ``status`` and ``code`` attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock.errors import (
    ConflictError,
    DefinitionError,
    EventRejectedError,
    ForbiddenError,
    InterlockError,
    NotFoundError,
    Problem,
    StepLimitError,
    UnauthenticatedError,
)

__all__ = ["HTTPError", "RateLimitedError", "RequestError", "ServerError", "UnreachableError", "error_from"]


class HTTPError(InterlockError):
    """An error answer that is not one of the domain errors: ``status``, ``code`` and ``details`` as sent."""

    def __init__(self, message: str, *, status: int, code: str, details: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details


class RequestError(HTTPError):
    """The server refused the request itself (400 ``request.malformed``, 413 ``request.too_large``, 415
    ``request.media_type``, any other 4xx without a domain error)."""


class RateLimitedError(HTTPError):
    """429: too many requests; ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one."""

    def __init__(self, message: str, *, status: int, code: str, details: tuple[Any, ...] = (),
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, code=code, details=details)
        self.retry_after = retry_after


class ServerError(HTTPError):
    """The server failed (5xx: ``storage.failed``, ``internal``) or answered something unexpected."""


class UnreachableError(InterlockError):
    """No answer: the connection failed or timed out (after the retries an idempotent call is allowed)."""


def error_from(status: int, body: Any, *, retry_after: str | None = None) -> InterlockError:
    """The exception for an error answer (``body`` is its parsed JSON, or anything else it held)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        text = str(body)[:200] if body not in (None, "") else "no error body"
        return _tagged(ServerError(f"HTTP {status}: {text}", status=status, code="http.unexpected"),
                       status, "http.unexpected")
    code = str(error.get("code") or "")
    message = str(error.get("message") or f"HTTP {status}")
    details = tuple(error.get("details") or ())
    return _tagged(_domain(status, code, message, details, retry_after), status, code)


def _domain(status: int, code: str, message: str, details: tuple[Any, ...],
            retry_after: str | None) -> InterlockError:
    match status:
        case 404:
            return NotFoundError(message)
        case 409:
            return ConflictError(message)
        case 422 if code == "definition.invalid":
            return DefinitionError([_problem(d) for d in details] or [Problem("", message)], "server")
        case 422 if code == "step.limit":
            return StepLimitError(message)
        case 422:
            return EventRejectedError(message)
        case 401:
            return UnauthenticatedError(message, reason=code.removeprefix("auth."))
        case 403:
            return ForbiddenError(message, reason=code.removeprefix("auth."))
        case 429:
            return RateLimitedError(message, status=status, code=code, details=details,
                                    retry_after=_seconds(retry_after))
    if 400 <= status < 500:
        return RequestError(message, status=status, code=code, details=details)
    return ServerError(message, status=status, code=code, details=details)


def _problem(detail: Any) -> Problem:
    if not isinstance(detail, Mapping):
        return Problem("", str(detail))
    return Problem(str(detail.get("path") or ""), str(detail.get("message") or ""), str(detail.get("hint") or ""),
                   str(detail.get("severity") or "error"))


def _tagged(exc: InterlockError, status: int, code: str) -> InterlockError:
    # the domain errors are shared with the embedded API and take no status; the answer's is attached
    if not isinstance(exc, HTTPError):
        exc.status = status  # type: ignore[attr-defined]
        exc.code = code  # type: ignore[attr-defined]
    return exc


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None

