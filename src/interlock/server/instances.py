"""Instances of a machine: create, list, read, pause, resume, cancel (docs/server.md, "Routes")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.auth.policy import caller_of
from interlock.server.bodies import (
    cursor,
    json_object,
    page_limit,
    query_seconds,
    query_text,
    text_field,
)
from interlock.server.errors import ApiError
from interlock.server.security import authorize
from interlock.server.views import instance_view, instances_page, written_view


async def create(request: Request) -> JSONResponse:
    principal = await authorize(request, "instances:write")
    machine = request.path_params["machine"]
    body = await json_object(request)
    name = text_field(body, "name")
    if name is not None and "/" in name:
        raise ApiError(400, "request.malformed", f"instance name {name!r} holds '/', which no URL of this "
                       "API can address (a path decodes %2F before it is routed); use another separator, "
                       "such as ':' or '.'", details=[{"path": "name", "message": "holds '/'",
                                                       "hint": "use ':' or '.' instead of '/'"}])
    if name in (".", ".."):
        raise ApiError(400, "request.malformed", f"instance name {name!r} is a dot segment, which clients and "
                       "proxies resolve away in a URL (.../instances/.. is .../door), so no route could address "
                       "it; choose another name", details=[{"path": "name", "message": "a dot segment",
                                                             "hint": "add a letter or a digit"}])
    version = text_field(body, "version", required=False)
    unknown = sorted(set(body) - {"name", "input", "version"})
    if unknown:
        raise ApiError(400, "request.malformed", f"unknown field(s) {', '.join(unknown)}; an instance is "
                       "created from 'name', 'input' (an object) and 'version' (optional)")
    given = body.get("input")
    if given is not None and not isinstance(given, dict):
        raise ApiError(400, "request.malformed", "'input' must be an object (the initial context values)")
    state = request.app.state
    # the newest version loaded first: a caller its rules restrain may not leave them by naming an older
    # version without any (the runtime's create decides, against the newest this process runs)
    newest = await state.catalog.version_for_new(machine, None)
    version = newest if version is None else await state.catalog.version_for_new(machine, version)
    aio = state.interlock.aio
    instance = await aio.create(machine, name, input=given, version=version, timeout=state.config.send_timeout,
                                caller=principal, idempotency_key=request.headers.get("idempotency-key"))
    if not state.interlock.runtime.registry.has_version(machine, instance.version):
        # a retry (Idempotency-Key) answered with an instance another process created, at a version this
        # one has not loaded: load it, and view the instance through it
        await state.catalog.ensure(machine, instance.version)
        instance = await aio.get(machine, name, caller=principal)
    return JSONResponse(written_view(state.interlock, instance, principal), status_code=201)


async def listing(request: Request) -> JSONResponse:
    principal = await authorize(request, "read")
    machine = request.path_params["machine"]
    state = request.app.state
    await state.catalog.ensure(machine)
    options = {"state": query_text(request, "state"), "tag": query_text(request, "tag"),
               "status": query_text(request, "status"), "after": cursor(request) or "",
               "limit": page_limit(request)}
    page = await state.interlock.aio.list(machine, **options)
    registry = state.interlock.runtime.registry
    unknown = {i.version for i in page.items if not registry.has_version(machine, i.version)}
    if unknown:  # versions uploaded through another process: load them, then read again
        for version in sorted(unknown):
            await state.catalog.ensure(machine, version)
        page = await state.interlock.aio.list(machine, **options)
    if caller_of(principal) is not None and any(c.policy for c in registry.charts(machine)):
        # a caller the machine's read rule restrains: a page of the instances it may read
        page = await state.interlock.aio.list(machine, **options, caller=principal)
    return JSONResponse(instances_page(state.interlock, page, admin=principal.admin))


async def read(request: Request) -> JSONResponse:
    """The instance; with ``?wait=ended``, once it has ended or ``?timeout=`` seconds have passed (a long
    poll: the answer is the instance as it is then, its ``status`` says which)."""
    principal = await authorize(request, "read")
    machine, name = request.path_params["machine"], request.path_params["name"]
    state = request.app.state
    wait = request.query_params.get("wait")
    if wait not in (None, "", "ended"):
        raise ApiError(400, "request.malformed", f"?wait= takes 'ended' (answer once the instance has "
                       f"ended, or after ?timeout= seconds), not {wait[:20]!r}")
    most = state.config.send_timeout
    timeout = query_seconds(request, "timeout", most, high=most)
    await state.catalog.ensure_instance_version(machine, name)
    aio = state.interlock.aio
    if wait == "ended":
        try:
            instance = await aio.wait(machine, name, timeout=timeout, caller=principal)
        except TimeoutError:
            instance = await aio.get(machine, name, caller=principal)
    else:
        instance = await aio.get(machine, name, caller=principal)
    return JSONResponse(instance_view(state.interlock, instance, admin=principal.admin))


def _control(action: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def control(request: Request) -> JSONResponse:
        principal = await authorize(request, "instances:write")
        machine, name = request.path_params["machine"], request.path_params["name"]
        state = request.app.state
        await state.catalog.ensure_instance_version(machine, name)
        instance = await getattr(state.interlock.aio, action)(machine, name, caller=principal)
        return JSONResponse(written_view(state.interlock, instance, principal))

    control.__name__ = action
    return control


BASE = "/v1/machines/{machine}/instances"


def routes() -> list[BaseRoute]:
    return [
        Route(BASE, create, methods=["POST"], name="create_instance"),
        Route(BASE, listing, methods=["GET"], name="list_instances"),
        Route(BASE + "/{name}", read, methods=["GET"], name="get_instance"),
        *(Route(f"{BASE}/{{name}}/{action}", _control(action), methods=["POST"], name=f"{action}_instance")
          for action in ("pause", "resume", "cancel")),
    ]
