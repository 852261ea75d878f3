"""An instance's history, a page of steps at a time, oldest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.server.bodies import page_limit, query_int
from interlock.server.security import authorize
from interlock.server.views import history_view, page_view


async def history(request: Request) -> JSONResponse:
    principal = await authorize(request, "read")
    machine, name = request.path_params["machine"], request.path_params["name"]
    after = query_int(request, "cursor", -1, low=-1, high=2**62) if "cursor" in request.query_params \
        else query_int(request, "after", -1, low=-1, high=2**62)
    state = request.app.state
    # the instance's own version: its read rule decides for a restrained caller (it may be newer than
    # what this process has seen: uploaded through another process)
    await state.catalog.ensure_instance_version(machine, name)
    page = await state.interlock.aio.history(machine, name, after=after, limit=page_limit(request),
                                             caller=principal)
    views = [history_view(e, admin=principal.admin, subject=principal.subject) for e in page.items]
    return JSONResponse(page_view(views, page.next))


def routes() -> list[BaseRoute]:
    return [Route("/v1/machines/{machine}/instances/{name}/history", history, methods=["GET"],
                  name="instance_history")]
