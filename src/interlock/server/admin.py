"""Admin reads of an instance: its whole context (private keys too), pending timers, tasks and child
instances. Each needs the ``admin`` scope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.app import Interlock
from interlock.errors import NotFoundError
from interlock.server.security import authorize
from interlock.storage.store import ReadTx


async def context(request: Request) -> JSONResponse:
    await authorize(request, "admin")
    machine, name = request.path_params["machine"], request.path_params["name"]
    await request.app.state.catalog.ensure(machine)
    instance = await request.app.state.interlock.aio.get(machine, name)
    return JSONResponse({"context": instance.context})


def _reader(kind: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def read(request: Request) -> JSONResponse:
        await authorize(request, "admin")
        machine, name = request.path_params["machine"], request.path_params["name"]
        await request.app.state.catalog.ensure(machine)
        items = await asyncio.to_thread(_read, request.app.state.interlock, kind, machine, name)
        return JSONResponse({"items": items, "next": None})

    read.__name__ = f"instance_{kind}"
    return read


def _read(interlock: Interlock, kind: str, machine: str, name: str) -> list[dict[str, Any]]:
    with interlock.runtime.read() as tx:
        if tx.get_instance(machine, name) is None:
            raise NotFoundError(f"no instance {name!r} of machine {machine!r}")
        return READERS[kind](tx, machine, name)


def _timers(tx: ReadTx, machine: str, name: str) -> list[dict[str, Any]]:
    return [{"sendid": t.sendid, "event": t.event, "target": t.target, "due_at": t.due_at}
            for t in tx.timers_of(machine, name)]


def _tasks(tx: ReadTx, machine: str, name: str) -> list[dict[str, Any]]:
    return [{"key": t.key, "invokeid": t.invokeid, "service": t.service, "input": t.input,
             "status": t.status, "attempt": t.attempt, "available_at": t.available_at,
             "lease_until": t.lease_until, "last_error": t.last_error} for t in tx.tasks_of(machine, name)]


def _children(tx: ReadTx, machine: str, name: str) -> list[dict[str, Any]]:
    return [{"machine": c.machine, "id": c.id, "version": c.version, "status": c.status,
             "invokeid": c.parent_invokeid} for c in tx.children(machine, name)]


READERS = {"timers": _timers, "tasks": _tasks, "children": _children}
BASE = "/v1/machines/{machine}/instances/{name}"


def routes() -> list[BaseRoute]:
    return [Route(BASE + "/context", context, methods=["GET"], name="instance_context"),
            *(Route(f"{BASE}/{kind}", _reader(kind), methods=["GET"], name=f"instance_{kind}")
              for kind in READERS)]
