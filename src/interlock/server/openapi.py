"""The API described as data: the OpenAPI 3.0 document served at ``/openapi.json`` (the test suite runs
schemathesis against it: every answer must match), and a ``/docs`` page that renders it."""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

import interlock
from interlock.server.openapi_schemas import COMPONENTS, ref
from interlock.server.uploads import MEDIA_TYPES

READ_ERRORS = (400, 401, 403, 404, 429, 503)
WRITE_ERRORS = (*READ_ERRORS, 409, 413, 415, 422)
MACHINE = {"name": "machine", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "The machine's name."}
INSTANCE = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "The instance's name (its id)."}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"},
            "description": description}


def _op(summary: str, scope: str, ok: dict[int, str], *, errors: tuple[int, ...] = READ_ERRORS,
        params: tuple[dict[str, Any], ...] = (), body: dict[str, Any] | None = None) -> dict[str, Any]:
    responses: dict[str, Any] = {str(code): {"description": "Success", "content": {
        "application/json": {"schema": ref(schema)}}} for code, schema in ok.items()}
    for code in errors:
        responses[str(code)] = {"$ref": "#/components/responses/Error"}
    op: dict[str, Any] = {"summary": summary, "description": f"Needs the `{scope}` scope.",
                          "parameters": list(params), "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    return op


def _paging(max_page: int) -> tuple[dict[str, Any], ...]:
    return (_query("cursor", "The `next` of the previous page."),
            _query("limit", "Items per page.", {"type": "integer", "minimum": 1, "maximum": max_page}))


def build_openapi(max_page: int = 1000, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI document of every route (``max_page``: the largest ``limit`` accepted); ``extra``
    holds the paths of route modules that describe their own (``openapi_paths()``)."""
    paging = _paging(max_page)
    at = (MACHINE, INSTANCE)
    control = {f"/v1/machines/{{machine}}/instances/{{name}}/{action}": {"post": _op(
        f"{action.capitalize()} an instance", "instances:write", {200: "Written"}, errors=WRITE_ERRORS,
        params=at)} for action in ("pause", "resume", "cancel")}
    admin = {f"/v1/machines/{{machine}}/instances/{{name}}/{kind}": {"get": _op(
        f"The instance's {kind} (admin)", "admin", {200: schema}, params=at)}
        for kind, schema in (("context", "Context"), ("timers", "Timers"), ("tasks", "Tasks"),
                             ("children", "Children"))}
    definition = {kind: {"schema": {"type": "string"}} for kind in MEDIA_TYPES}
    paths: dict[str, Any] = {
        "/v1/health": {"get": {**_op("Health", "none", {200: "Health"}, errors=(429, 503)), "security": []}},
        "/v1/machines": {"get": _op("List machines", "read", {200: "MachinePage"}, params=paging)},
        "/v1/machines/{machine}": {"get": _op("A machine and its versions", "read", {200: "Machine"},
                                              params=(MACHINE,))},
        "/v1/machines/{machine}/versions/{version}": {
            "get": _op("A machine version with its definition and diagram", "read", {200: "Version"},
                       params=(MACHINE, VERSION)),
            "put": _op("Upload a machine version (201 created, 200 the same again, 409 another "
                       "definition, 422 every problem, 403 auth.upload.rules: other authorize rules or "
                       "signed webhooks than the newest version's, by a caller who is not admin)",
                       "machines:write", {200: "Version", 201: "Version"},
                       errors=WRITE_ERRORS, params=(MACHINE, VERSION), body=definition)},
        "/v1/machines/{machine}/instances": {
            "post": _op("Create an instance (409 if the name is taken, but for a retry with the "
                        "Idempotency-Key that created it: 201 with the instance as it is now; 403 "
                        "auth.create.version: a version of an uploaded machine whose authorize rules are not "
                        "the newest version's, by a caller who is not admin)", "instances:write",
                        {201: "Written"}, errors=WRITE_ERRORS, params=(MACHINE, {
                            "name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string"},
                            "description": "A retried create with the same key creates once."}),
                        body={"application/json": {"schema": ref("NewInstance")}}),
            "get": _op("List instances", "read", {200: "InstancePage"}, params=(
                MACHINE, _query("state", "Only instances in this state (a full state id)."),
                _query("tag", "Only instances with this tag."),
                _query("status", "Only instances with this status.",
                       {"type": "string", "enum": ["active", "done", "cancelled"]}), *paging))},
        "/v1/machines/{machine}/instances/{name}": {"get": _op(
            "An instance (with wait=ended: once it has ended, or after timeout seconds)", "read",
            {200: "Instance"}, params=(
                *at, _query("wait", "ended: answer once the instance has ended (done or cancelled), or "
                            "after `timeout` seconds with the instance as it is then.",
                            {"type": "string", "enum": ["ended"]}),
                _query("timeout", "Seconds wait=ended waits at most (default and most: the server's "
                       "send timeout).", {"type": "number", "minimum": 0})))},
        "/v1/machines/{machine}/instances/{name}/events": {"post": _op(
            "Send an event (waits for the instance to settle unless wait=false: 202)", "events:write",
            {200: "SendResult", 202: "Accepted"}, errors=WRITE_ERRORS, params=(
                *at, _query("wait", "false: answer 202 once queued.", {"type": "boolean"}),
                {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "A retried send with the same key applies once."}),
            body={"application/json": {"schema": ref("Event")}})},
        "/v1/machines/{machine}/instances/{name}/history": {"get": _op(
            "The instance's steps, oldest first", "read", {200: "HistoryPage"}, params=(
                *at, _query("cursor", "The `next` of the previous page (a step number).",
                            {"type": "integer", "minimum": -1}),
                _query("limit", "Items per page.", {"type": "integer", "minimum": 1, "maximum": max_page})))},
        **control, **admin, **_keys(paging), **_live(), **(extra or {}),
    }
    return {"openapi": "3.0.3",
            "info": {"title": "Interlock", "version": interlock.__version__,
                     "description": "Durable statechart instances over HTTP (docs/server.md)."},
            "paths": paths, "components": COMPONENTS,
            "security": [{"bearer": []}]}


def _keys(paging: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    key_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
              "description": "The key's public id."}
    return {
        "/v1/keys": {
            "get": _op("API keys, oldest first, revoked ones too (never their secrets)", "admin",
                       {200: "ApiKeyPage"}, params=paging),
            "post": _op("Create an API key; its secret is in this answer only (`key`)", "admin",
                        {201: "NewApiKey"}, errors=WRITE_ERRORS,
                        body={"application/json": {"schema": ref("KeyRequest")}})},
        "/v1/keys/{id}": {"delete": _op("Revoke an API key; again: unchanged", "admin", {200: "ApiKey"},
                                        params=(key_id,))}}


SSE = """Server-sent events (`text/event-stream`), one instance's changes as they commit; each event's `id:` is
its position in the change feed. `event: instance` (data: Instance): the instance as it is now, first,
when the stream does not resume. `event: change` (data: LiveChange): a committed step (none while the machine's read rule
refuses the caller the instance: docs/auth.md). `event: dropped`
(data: LiveDropped): the last event of a stream that fell behind, or whose credentials no longer verify
(a revoked key, an expired token: its `reason` starts with the `auth.*` code); reconnect with its `after`. A comment
`: keep-alive` goes out every 15 s when nothing changes. The stream stays open until the client
leaves."""

WEBSOCKET = """A WebSocket (RFC 6455): open it with this GET and the handshake headers (`Upgrade: websocket`,
`Connection: Upgrade`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`; credentials in `Authorization`,
or, from a browser, which cannot set that header, in the Subscribe message's `authorization`; a page's
handshake must come from an origin the server allows: its own, or one of `cors_origins`).
Then, as JSON text or binary messages (`x-websocket` names their schemas): the client sends one Subscribe
message within 10 s; the server answers Subscribed, then sends a LiveChange for each committed step of
the machine (or of the named instances), in position order. Resume after a reconnect with `after` = the
last position received: nothing is missed or repeated (a machine's read rule leaves out the changes of
instances the caller may not read: docs/auth.md). A refused subscription gets an Error message, then
close 1008, as does a subscriber whose credentials no longer verify (a revoked key, an expired token); a subscriber too slow for its changes (or a full or closing server) is closed with 1013 and a
reason naming the position to resume after. Any further client message closes with 1008. Needs the
`read` scope."""


def _live() -> dict[str, Any]:
    """The two live routes (server/live.py): not request/answer pairs, so described as far as OpenAPI
    3.0 goes (a stream's media type, a WebSocket's upgrade) with their messages by schema name."""
    errors = {str(code): {"$ref": "#/components/responses/Error"} for code in READ_ERRORS}
    stream = {
        "summary": "An instance's changes, live, as server-sent events (resumable)",
        "description": f"Needs the `read` scope. {SSE}",
        "parameters": [
            MACHINE, INSTANCE,
            _query("after", "Resume after this position (the `id:` of the last event received).",
                   {"type": "integer", "minimum": 0}),
            {"name": "Last-Event-ID", "in": "header", "required": False,
             "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
             "description": "As `after` (EventSource sends it when it reconnects); it wins over `after`."},
            _query("access_token", "An API key or token, for a browser's EventSource, which cannot set "
                   "`Authorization` (RFC 6750, 2.3); not with the header. Kept out of the access log; "
                   "prefer short-lived tokens.", {"type": "string", "minLength": 1, "maxLength": 8192})],
        "responses": {"200": {"description": "The event stream (open until the client leaves)",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}, **errors},
        "x-events": {"instance": ref("Instance"), "change": ref("LiveChange"), "dropped": ref("LiveDropped")}}
    subscribe = {
        "summary": "WebSocket: every change of a machine (or of some instances), live and resumable",
        "description": WEBSOCKET,
        "parameters": [{"name": "Upgrade", "in": "header", "required": True,
                        "schema": {"type": "string", "enum": ["websocket"]},
                        "description": "The WebSocket handshake; a plain GET is not served (404)."}],
        "responses": {"101": {"description": "Switching Protocols: the WebSocket is open (messages: "
                                             "`x-websocket`)"}},
        "x-websocket": {
            "client": {"subscribe": ref("Subscribe")},
            "server": {"subscribed": ref("Subscribed"), "change": ref("LiveChange"), "error": ref("Error")},
            "close": {"1008": "a refused subscription, or credentials that no longer verify (after an Error "
                              "message), or a second client message",
                      "1013": "dropped: too slow, too many subscribers (of the process, or of the caller: "
                              "live_max_per_caller) or the server closing; the reason names the position "
                              "to resume after"}}}
    return {"/v1/machines/{machine}/instances/{name}/stream": {"get": stream},
            "/v1/subscribe": {"get": subscribe}}


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


async def docs(request: Request) -> HTMLResponse:
    """A plain page listing every route from the OpenAPI document (no script, nothing fetched)."""
    rows = []
    for path, operations in request.app.state.openapi["paths"].items():
        for method, op in operations.items():
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op['summary'])}</td><td>{html.escape(op['description'])}</td></tr>")
    return HTMLResponse(DOCS.format(version=interlock.__version__, rows="\n".join(rows)))


DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Interlock API</title>
<style>body{{font-family:sans-serif;margin:2em}}td{{padding:.2em 1em;border-bottom:1px solid #ddd}}</style>
</head><body><h1>Interlock API {version}</h1>
<p>The full description, with request and response schemas: <a href="/openapi.json">/openapi.json</a>
(OpenAPI 3.0; load it into any OpenAPI viewer). Errors share one shape:
<code>{{"error": {{"status", "code", "message", "details"}}}}</code>. Send credentials as
<code>Authorization: Bearer &lt;key or token&gt;</code>.</p>
<table><tr><th>Method</th><th>Path</th><th>What</th><th>Scope</th></tr>
{rows}
</table></body></html>"""


def routes() -> list[BaseRoute]:
    return [Route("/openapi.json", openapi, methods=["GET"], name="openapi", include_in_schema=False),
            Route("/docs", docs, methods=["GET"], name="docs", include_in_schema=False)]
