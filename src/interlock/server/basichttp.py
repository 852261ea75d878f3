"""The SCXML Basic HTTP Event I/O Processor, receiving side (SCXML C.2):
``POST /v1/basichttp/{machine}/{name}`` is an event for that instance.

- the event's name: the ``_scxmleventname`` parameter (in a form or JSON object body, or the query
  string); without one, ``HTTP.POST``
- its data: the other parameters of a form (``application/x-www-form-urlencoded``) or JSON object body,
  as a mapping (None when there are none); any other body is its text
- ``_event.raw``: the request as it arrived (request line, headers but credentials and the idempotency
  key, body);
  ``origintype`` the processor

It needs ``events:write`` like any send, honours ``Idempotency-Key`` (the sending runtime passes its
effect's key, so a retried POST applies once) and answers as the events route does (200 SendResult).
The location charts see in ``_ioprocessors['basichttp']`` is set at startup (server/app.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.core.events import Event
from interlock.core.execute import BASICHTTP_PROCESSOR, HTTP_POST
from interlock.runtime.basichttp import EVENT_NAME_PARAM
from interlock.server.bodies import media_type
from interlock.server.errors import ApiError
from interlock.server.security import authorize
from interlock.server.views import send_view

PATH = "/v1/basichttp/{machine}/{name:path}"
MAX_FIELDS = 1000  # form parameters of one message
# never kept in raw: credentials, and the idempotency key, which the history shows only to the caller that
# gave it (raw is shown to every reader of the instance)
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "idempotency-key"})


async def receive(request: Request) -> JSONResponse:
    principal = await authorize(request, "events:write")
    machine, name = request.path_params["machine"], request.path_params["name"]
    body = await request.body()
    event = Event(*event_of(request, body), "external", origintype=BASICHTTP_PROCESSOR,
                  raw=raw_of(request, body))
    state = request.app.state
    await state.catalog.ensure(machine)
    result = await state.interlock.aio.send(machine, name, event,
                                            idempotency_key=request.headers.get("idempotency-key"),
                                            timeout=state.config.send_timeout, caller=principal)
    return JSONResponse(send_view(state.interlock, result, principal))


def event_of(request: Request, body: bytes) -> tuple[str, Any]:
    """``(name, data)`` of a message (see the module's docstring)."""
    name = request.query_params.get(EVENT_NAME_PARAM)
    params = _params(request, body)
    if params is None:
        data: Any = _text(body) or None
    elif not isinstance(params, dict):
        data = params  # a JSON body that is not an object: the data as it is
    else:
        given = params.pop(EVENT_NAME_PARAM, None)
        if given is not None:
            if not isinstance(given, str):
                raise ApiError(400, "request.malformed", f"{EVENT_NAME_PARAM} must be text, not "
                               f"{type(given).__name__}")
            name = given
        data = params or None
    return name or HTTP_POST, data


def _params(request: Request, body: bytes) -> Any:
    """The parameters of a form or JSON body (a JSON value that is not an object as it is); None for
    any other body."""
    kind = media_type(request)
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(_text(body), keep_blank_values=True, strict_parsing=False,
                              max_num_fields=MAX_FIELDS)
        except ValueError as exc:
            raise ApiError(400, "request.malformed", f"the form body has more than {MAX_FIELDS} "
                           f"fields: {exc}") from None
        return dict(pairs)
    if kind == "application/json" and body.strip():
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "request.malformed", f"the body is not valid JSON: {exc}") from None
        return value
    return None


def _text(body: bytes) -> str:
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "request.malformed", "the body is not UTF-8 text; a Basic HTTP event "
                       "carries a form, JSON or text") from None


def raw_of(request: Request, body: bytes) -> str:
    """The message as text: ``POST /path?query HTTP/1.1``, its headers, a blank line, its body."""
    query = "&".join(part for part in request.url.query.split("&")
                     if unquote_plus(part.split("=", 1)[0]) != "access_token")  # credentials, as headers
    target = request.url.path + (f"?{query}" if query else "")
    version = request.scope.get("http_version", "1.1")
    headers = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k not in SECRET_HEADERS)
    return f"{request.method} {target} HTTP/{version}\r\n{headers}\r\n{_text(body)}"


def routes() -> list[BaseRoute]:
    return [Route(PATH, receive, methods=["POST"], name="basichttp_event")]


def openapi_paths() -> dict[str, Any]:
    """The route in /openapi.json."""
    text = {"type": "string"}
    path = {"name": "name", "in": "path", "required": True, "schema": text, "description": "The instance."}
    machine = {"name": "machine", "in": "path", "required": True, "schema": text, "description": "The machine."}
    event_name = {"name": EVENT_NAME_PARAM, "in": "query", "required": False, "schema": text,
                  "description": "The event's name (also a form or JSON field); default HTTP.POST."}
    errors = {str(code): {"$ref": "#/components/responses/Error"}
              for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)}
    return {"/v1/basichttp/{machine}/{name}": {"post": {
        "summary": "An event through the SCXML Basic HTTP Event I/O Processor (SCXML C.2)",
        "description": "Needs the `events:write` scope.",
        "parameters": [machine, path, event_name,
                       {"name": "Idempotency-Key", "in": "header", "required": False, "schema": text,
                        "description": "A retried POST with the same key applies once."}],
        "requestBody": {"required": False, "content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object",
                                                             "additionalProperties": text}},
            "application/json": {"schema": {}}, "text/plain": {"schema": text}}},
        "responses": {"200": {"description": "Success", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/SendResult"}}}}, **errors}}}}
