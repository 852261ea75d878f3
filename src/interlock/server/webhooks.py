"""Webhook ingress: ``POST /v1/hooks/{machine}/{hook}`` turns another system's request into an event.

The machine's newest version declares its hooks (a ``webhooks:`` section, see
:mod:`interlock.frontends.webhooks`). For a request the route:

1. finds the hook (404 ``not_found.machine`` / ``not_found.webhook``);
2. verifies the caller before reading anything else: a signature over the raw body with the server's
   secret, or an API key with events:write (401 ``auth.signature.*`` / ``auth.<reason>``, 403);
3. reads the body (JSON, a form, or text) and evaluates the hook's ``instance``, ``event``, ``data`` and
   ``idempotency_key`` over it (422 ``webhook.unmapped`` when one fails or gives the wrong type);
4. sends the event (creating the instance first if the hook says ``create: true``) and waits for it to
   settle, as ``POST .../events`` does;
5. answers with the hook's ``response`` (status and body over the outcome and the instance's public view),
   or by default 200 ``{"outcome", "step", "duplicate", "state"}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from interlock.auth.principal import Principal
from interlock.core.datamodel import Budget
from interlock.errors import ConflictError
from interlock.frontends.webhooks import Evaluate, Values, Webhook
from interlock.server.errors import ApiError
from interlock.server.security import authorize, require
from interlock.server.views import instance_view
from interlock.server.webhook_signatures import SecretMissing, check

PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})  # never shown to expressions
MAX_FORM_FIELDS = 1000


def routes() -> list[BaseRoute]:
    return [Route("/v1/hooks/{machine}/{hook}", receive, methods=["POST"], name="webhook")]


def openapi_paths() -> dict[str, Any]:
    """The route in /openapi.json: its answer is whatever the hook's ``response`` maps (docs/webhooks.md)."""
    names = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": text}
             for name, text in (("machine", "The machine's name."), ("hook", "The hook's name (webhooks:)."))]
    errors = {str(code): {"$ref": "#/components/responses/Error"}
              for code in (400, 401, 403, 404, 409, 413, 422, 429, 500, 503)}
    answer = {"description": "The hook's response mapping of the outcome (default: outcome, step, duplicate, "
              "state)", "content": {"application/json": {"schema": {}}}}
    return {"/v1/hooks/{machine}/{hook}": {"post": {
        "summary": "A webhook: a request from another system turned into an event (docs/webhooks.md)",
        "description": "Verified as the hook declares: an HMAC-SHA256 signature (X-Hub-Signature-256 or "
                       "Stripe-Signature) with a server secret, or an API key with `events:write`.",
        "parameters": names, "security": [],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {}},
                                                        "application/x-www-form-urlencoded": {"schema": {}}}},
        "responses": {"200": answer, **errors}}}}


async def receive(request: Request) -> Response:
    machine, name = request.path_params["machine"], request.path_params["hook"]
    # the machine's newest version (uploaded perhaps through another process) declares the hooks, and
    # new instances get it: an older version without rules is no way around the newest one's
    version = await request.app.state.catalog.version_for_new(machine, None)
    hook = _hook(request, machine, version, name)
    body = await request.body()
    caller = await _verify(request, hook, body)
    work = Budget()  # the hook's expressions share one budget per request (frontends/webhooks.py, Values)
    values = Values(_request_values(request, body, machine, name), work)
    instance_id = _text(hook, "instance", hook.instance, values)
    event = {"name": _text(hook, "event", hook.event, values), "data": _data(hook, values)}
    key = _text(hook, "idempotency_key", hook.idempotency_key, values) if hook.idempotency_key else None
    aio = request.app.state.interlock.aio
    if hook.create:
        with contextlib.suppress(ConflictError):  # it exists: the usual case after the first request
            await aio.create(machine, instance_id, version=version, caller=caller)
    result = await aio.send(machine, instance_id, event, idempotency_key=key,
                            timeout=request.app.state.config.send_timeout, caller=caller)
    # the public view (an admin key's too); for a key's caller only if the machine's read rule lets it
    # read the instance
    interlock = request.app.state.interlock
    readable = caller is None or interlock.read_refusal(result.instance, caller) is None
    view = instance_view(interlock, result.instance, admin=False) if readable else None
    return _response(hook, Values({"outcome": result.outcome, "step": result.step, "duplicate": result.duplicate,
                                   "instance": view}, work))


def _hook(request: Request, machine: str, version: str, name: str) -> Webhook:
    chart = request.app.state.interlock.runtime.registry.chart(machine, version)
    hook = chart.webhooks.get(name)
    if hook is None:  # not which hooks it declares: this is answered before any credentials are looked at
        raise ApiError(404, "not_found.webhook", f"machine {machine!r} declares no webhook {name!r}; add it "
                       "under webhooks: in the machine's document")
    return hook  # type: ignore[no-any-return]


async def _verify(request: Request, hook: Webhook, body: bytes) -> Principal | None:
    """The caller a key-verified hook acts as (the machine's rules decide for it): it holds events:write,
    and instances:write too when the hook creates (``create: true``), as the routes that send and create
    need. None for a signed request, which comes from the system that holds the server's secret (trusted
    like the app)."""
    if hook.verify.style == "key":
        caller = await authorize(request, "events:write")
        return require(caller, "instances:write") if hook.create else caller
    try:
        check(hook.verify, request.headers, body, now=time.time())
    except SecretMissing as exc:
        # the server's configuration is missing, not the caller's fault: say so, and do not accept
        raise ApiError(503, "webhook.unconfigured", str(exc)) from None
    return None


def _request_values(request: Request, body: bytes, machine: str, hook: str) -> dict[str, Any]:
    headers = {k: v for k, v in request.headers.items() if k not in PRIVATE_HEADERS}
    # body_digest: what a signature covers, for an idempotency key a replay cannot change (a header such
    # as X-GitHub-Delivery is not signed: a captured request replayed with a new one verified again)
    return {"body": _body(request, body), "body_digest": hashlib.sha256(body).hexdigest(), "headers": headers,
            "query": dict(request.query_params), "machine": machine, "hook": hook}


def _body(request: Request, body: bytes) -> Any:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "request.malformed", f"the body is not valid JSON: {exc}") from None
    text = body.decode("utf-8", errors="replace")
    if kind == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
        return dict(pairs)
    return text


def _evaluate(hook: Webhook, what: str, fn: Evaluate, values: Mapping[str, Any]) -> Any:
    try:
        return fn(values)
    except Exception as exc:  # an expression's failure (or a Python mapping's): the request does not fit
        detail = str(exc) if type(exc).__module__.startswith("interlock") else type(exc).__name__
        raise ApiError(422, "webhook.unmapped", f"webhooks.{hook.name}.{what} failed on this request: {detail}",
                       details=[{"path": f"webhooks.{hook.name}.{what}", "message": detail,
                                 "hint": "check the request against the hook's expressions"}]) from None


def _text(hook: Webhook, what: str, fn: Evaluate | None, values: Mapping[str, Any]) -> str:
    value = _evaluate(hook, what, fn, values) if fn is not None else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ApiError(422, "webhook.unmapped", f"webhooks.{hook.name}.{what} must give a non-empty string for "
                       f"this request, not {_shown(value)}")
    return value


def _data(hook: Webhook, values: Mapping[str, Any]) -> Any:
    if hook.data is None:
        return values["body"] if isinstance(values["body"], dict) else None
    data = _evaluate(hook, "data", hook.data, values)
    if data is not None and not isinstance(data, dict):
        raise ApiError(422, "webhook.unmapped", f"webhooks.{hook.name}.data must give a mapping, not {_shown(data)}")
    return data


def _response(hook: Webhook, values: dict[str, Any]) -> Response:
    status = 200 if hook.status is None else _evaluate(hook, "response.status", hook.status, values)
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ApiError(500, "webhook.response", f"webhooks.{hook.name}.response.status must give an HTTP status "
                       f"from 200 to 599, not {_shown(status)}")
    if hook.body is None:
        body = {"outcome": values["outcome"], "step": values["step"], "duplicate": values["duplicate"],
                "state": None if values["instance"] is None else values["instance"]["state"]}
    else:
        body = _evaluate(hook, "response.body", hook.body, values)
    return JSONResponse(body, status_code=status)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."
