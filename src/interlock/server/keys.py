"""API keys over HTTP (admin only): ``GET /v1/keys``, ``POST /v1/keys``, ``DELETE /v1/keys/{id}``
(docs/auth.md). The key itself is in the answer to its creation only; the store keeps its digest."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from interlock.auth.keys import check_label, check_scopes, create_key, list_keys, revoke_key
from interlock.auth.principal import SCOPES
from interlock.server.bodies import cursor, json_object, page_limit
from interlock.server.errors import ApiError
from interlock.server.security import authorize
from interlock.server.views import page_view
from interlock.storage.store import KeyRow


def key_view(row: KeyRow) -> dict[str, Any]:
    return {"id": row.id, "label": row.label, "scopes": list(row.scopes), "created_at": row.created_at,
            "last_used_at": row.last_used_at, "revoked": row.revoked, "revoked_at": row.revoked_at}


async def listing(request: Request) -> JSONResponse:
    """A page of keys, oldest first: ``?cursor=`` the ``next`` of the previous page, ``?limit=``."""
    await authorize(request, "admin")
    after, limit = cursor(request) or "", page_limit(request)
    try:
        page = await asyncio.to_thread(list_keys, request.app.state.interlock.runtime.store, after=after,
                                       limit=limit)
    except ValueError as exc:
        raise ApiError(400, "request.malformed", str(exc), details=[{
            "path": "cursor", "message": "no API key has this id",
            "hint": "pass the 'next' of the previous page, or no cursor for the first"}]) from None
    return JSONResponse(page_view([key_view(r) for r in page.items], page.next))


async def create(request: Request) -> JSONResponse:
    await authorize(request, "admin")
    body = await json_object(request)
    unknown = sorted(set(body) - {"label", "scopes"})
    scopes, label = body.get("scopes"), body.get("label", "")
    if unknown or not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes) \
            or not isinstance(label, str):
        raise ApiError(400, "request.malformed", "a key is created from 'scopes' (a list of admin, "
                       "machines:write, instances:write, events:write, read) and 'label' (text, optional)"
                       + (f"; unknown field(s) {', '.join(unknown)}" if unknown else ""))
    hint = f"scopes are among {', '.join(SCOPES)}; a label is printable text"
    try:
        check_scopes(scopes)
    except ValueError as exc:
        raise ApiError(400, "request.malformed", str(exc), details=[{"path": "scopes", "message": str(exc),
                                                                     "hint": hint}]) from None
    try:
        check_label(label)
    except ValueError as exc:
        raise ApiError(400, "request.malformed", str(exc), details=[{"path": "label", "message": str(exc),
                                                                     "hint": hint}]) from None
    text, row = await asyncio.to_thread(create_key, request.app.state.interlock.runtime.store, scopes,
                                        label=label)
    return JSONResponse({**key_view(row), "key": text}, status_code=201)


async def revoke(request: Request) -> JSONResponse:
    await authorize(request, "admin")
    key_id = request.path_params["id"]
    row = await asyncio.to_thread(revoke_key, request.app.state.interlock.runtime.store, key_id)
    keys = getattr(request.app.state.authenticator, "keys", None)
    if keys is not None:  # this process refuses it at once; others within their cache time
        keys.forget(key_id)
    return JSONResponse(key_view(row))


def routes() -> list[BaseRoute]:
    return [Route("/v1/keys", listing, methods=["GET"], name="list_keys"),
            Route("/v1/keys", create, methods=["POST"], name="create_key"),
            Route("/v1/keys/{id}", revoke, methods=["DELETE"], name="revoke_key")]
