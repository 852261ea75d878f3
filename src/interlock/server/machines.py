"""Machines and their versions: list, read, upload (PUT, body chosen by Content-Type), with the
definition as uploaded and its diagram (Mermaid)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.cli.render_mermaid import render_mermaid
from interlock.server.bodies import media_type, page_limit, query_text
from interlock.server.catalog import Catalog, MachineVersion
from interlock.server.errors import ApiError
from interlock.server.security import authorize
from interlock.server.uploads import MEDIA_TYPES
from interlock.server.views import page_view


async def list_machines(request: Request) -> JSONResponse:
    await authorize(request, "read")
    catalog: Catalog = request.app.state.catalog
    after, limit = query_text(request, "cursor") or query_text(request, "after") or "", page_limit(request)
    grouped: dict[str, list[MachineVersion]] = {}
    for version in await catalog.versions():
        if version.name > after:
            grouped.setdefault(version.name, []).append(version)
    names = sorted(grouped)
    items = [_machine(grouped[n]) for n in names[:limit]]
    return JSONResponse(page_view(items, names[limit - 1] if len(names) > limit else None))


async def get_machine(request: Request) -> JSONResponse:
    await authorize(request, "read")
    machine = request.path_params["machine"]
    versions = await request.app.state.catalog.versions(machine)
    if not versions:
        raise ApiError(404, "not_found.machine", f"unknown machine {machine!r}: upload it with PUT "
                       f"/v1/machines/{machine}/versions/<version>")
    return JSONResponse(_machine(versions))


async def put_version(request: Request) -> JSONResponse:
    caller = await authorize(request, "machines:write")
    machine, version = request.path_params["machine"], request.path_params["version"]
    kind = media_type(request)
    format = MEDIA_TYPES.get(kind)
    if format is None:
        raise ApiError(415, "request.media_type", f"a machine definition is YAML, JSON or SCXML, chosen by "
                       f"Content-Type ({', '.join(MEDIA_TYPES)}), not {kind or 'a body without one'}")
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "request.malformed", f"the definition is not UTF-8 text (byte {exc.start})") from None
    catalog: Catalog = request.app.state.catalog
    kept, created = await catalog.put(machine, version, format, text, admin=caller.admin)
    return JSONResponse(await _version(request, kept), status_code=201 if created else 200)


async def get_version(request: Request) -> JSONResponse:
    await authorize(request, "read")
    machine, version = request.path_params["machine"], request.path_params["version"]
    found = await request.app.state.catalog.version(machine, version)
    return JSONResponse(await _version(request, found))


def _machine(versions: list[MachineVersion]) -> dict[str, Any]:
    newest = max(versions, key=lambda v: v.registered_at)
    return {"name": versions[0].name, "versions": [v.version for v in versions], "latest": newest.version}


async def _version(request: Request, found: MachineVersion) -> dict[str, Any]:
    catalog: Catalog = request.app.state.catalog
    await catalog.ensure(found.name, found.version)
    chart = catalog.interlock.runtime.registry.chart(found.name, found.version)
    return {"name": found.name, "version": found.version, "format": found.format,
            "definition": found.definition, "diagram": {"mermaid": render_mermaid(chart)},
            "registered_at": found.registered_at, "source": found.source}


def routes() -> list[BaseRoute]:
    return [
        Route("/v1/machines", list_machines, methods=["GET"], name="list_machines"),
        Route("/v1/machines/{machine}", get_machine, methods=["GET"], name="get_machine"),
        Route("/v1/machines/{machine}/versions/{version}", put_version, methods=["PUT"], name="put_version"),
        Route("/v1/machines/{machine}/versions/{version}", get_version, methods=["GET"], name="get_version"),
    ]
