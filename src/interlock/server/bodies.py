"""Reading what a request carries: a JSON body, query parameters. Each refusal says what and how to fix.

Bodies are bounded before they are read (server/limits.py refuses a larger ``Content-Length`` or stream).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request

from interlock.server.errors import ApiError

T = TypeVar("T")

JSON_TYPES = ("application/json",)


def media_type(request: Request) -> str:
    return media_type_of(request.headers)


def media_type_of(headers: Headers) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


async def json_object(request: Request, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` unless ``required``."""
    body = await request.body()
    if not body.strip() and not required:
        return {}
    return json_object_of(body, media_type(request))


def json_object_of(body: bytes, kind: str) -> dict[str, Any]:
    """A required body of media type ``kind`` as a JSON object."""
    if kind not in JSON_TYPES:
        raise ApiError(415, "request.media_type", f"this route takes application/json, not "
                       f"{kind or 'a body without a Content-Type'}; send the header "
                       "Content-Type: application/json")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "request.malformed", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "request.malformed", f"the body must be a JSON object, not "
                       f"{type(value).__name__ if value is not None else 'null'}")
    return value


def text_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, "request.malformed", f"field {name!r} must be a non-empty string"
                       + ("" if name in body else " and is missing"),
                       details=[{"path": name, "message": "expected a non-empty string", "hint": ""}])
    if "\x00" in value:  # no name holds it (PostgreSQL text cannot): a 503 of the store otherwise
        raise ApiError(400, "request.malformed", f"field {name!r} holds the NUL character, which no name "
                       "holds", details=[{"path": name, "message": "holds NUL", "hint": "remove it"}])
    return value


def query_int(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    value = _query_number(request, name, int, "an integer")
    if value is None:
        return default
    if not low <= value <= high:
        raise ApiError(400, "request.malformed", f"query parameter {name!r} must be between {low} and "
                       f"{high}, not {value}")
    return value


def query_seconds(request: Request, name: str, default: float, *, high: float) -> float:
    """A number of seconds from 0 to ``high`` (a decimal: ``2.5``)."""
    value = _query_number(request, name, float, f"a number of seconds from 0 to {high:g}")
    if value is None:
        return default
    if not 0 <= value <= high:  # NaN too
        raise ApiError(400, "request.malformed", f"query parameter {name!r} must be a number of seconds "
                       f"from 0 to {high:g}, not {request.query_params[name][:40]!r}")
    return value


def _query_number(request: Request, name: str, kind: Callable[[str], T], what: str) -> T | None:
    """The query parameter as ``kind`` (None: absent or empty), or 400 saying it must be ``what``."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        return kind(text)
    except ValueError:
        raise ApiError(400, "request.malformed", f"query parameter {name!r} must be {what}, not "
                       f"{text[:40]!r}") from None


def page_limit(request: Request) -> int:
    config = request.app.state.config
    return query_int(request, "limit", config.page_size, low=1, high=config.max_page_size)


def query_text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def cursor(request: Request) -> str | None:
    """The page cursor, passed back as ``?cursor=`` (or ``?after=``)."""
    return query_text(request, "cursor") or query_text(request, "after")

